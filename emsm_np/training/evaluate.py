"""Test accuracy of the averaged classifier and of each weak classifier."""
import numpy as np

from .._checks import check_int
from ..backend import asnumpy, device_of, to_device


def model_device(net):
    """``"cpu"`` or ``"gpu"``: where the parameters of ``net`` live (read from their types)."""
    devices = {device_of(p) for p in net.params.values()}
    if len(devices) > 1:
        raise ValueError(
            "the model's parameters are split between the cpu and the gpu; move the whole "
            "model with net.to('cpu') or net.to('gpu')"
        )
    return devices.pop() if devices else "cpu"


def evaluate(net, x, y, batch_size=1000, device=None):
    """Accuracies on ``(x, y)``, in eval mode, on the device where ``net`` lives.

    Parameters
    ----------
    net : Network (features, then the EM-Softmax head)
    x : (N, C, H, W) images, NumPy (or arrays on the model's device); each batch
        is moved to the model's device and converted to its dtype
    y : (N,) integer labels (NumPy or CuPy)
    batch_size : int >= 1, images per forward pass
    device : None (the model's device), or "cpu" / "gpu", which must then be
        the model's device (a ValueError otherwise: move the model with
        ``net.to(device)`` first)

    Returns
    -------
    dict: ``"accuracy"`` of the averaged classifier (test-time rule of the
    paper), ``"weak_accuracy"`` list of each weak classifier's accuracy, and
    ``"agreement"``: the fraction of samples on which all weak classifiers agree
    (1 - a simple measure of their diversity).
    """
    batch_size = check_int("batch_size", batch_size, minimum=1)
    if device not in (None, "cpu", "gpu"):
        raise ValueError(f"device must be None (the model's device), 'cpu' or 'gpu', got {device!r}")
    where = model_device(net)
    if device is not None and device != where:
        raise ValueError(
            f"device={device!r} but the model's parameters are on the {where}; move the model "
            f"with net.to({device!r}) first, or leave device=None to evaluate where it is"
        )
    if len(x) != len(y):
        raise ValueError(f"x and y must have the same length, got {len(x)} images and {len(y)} labels")
    n = len(x)
    if n == 0:
        raise ValueError("x and y are empty: there is nothing to evaluate")
    y = asnumpy(y)  # compared on the host with the (host) predictions
    correct = 0
    V = net.head.ensemble
    weak_correct = np.zeros(V, dtype=np.int64)
    agree = 0
    dtype = net.head.params["weight"].dtype  # float32 images into a float64 model are converted
    for start in range(0, n, batch_size):
        xb = to_device(x[start:start + batch_size].astype(dtype, copy=False), where)
        yb = y[start:start + batch_size]
        feats = net.embed(xb)
        pred = asnumpy(net.head.logits(feats).argmax(axis=1))
        weak_pred = asnumpy(net.head.weak_logits(feats).argmax(axis=2))  # (V, n)
        correct += int((pred == yb).sum())
        weak_correct += (weak_pred == yb[None]).sum(axis=1)
        agree += int((weak_pred == weak_pred[:1]).all(axis=0).sum())
    return {
        "accuracy": correct / n,
        "weak_accuracy": (weak_correct / n).tolist(),
        "agreement": agree / n,
    }
