"""Test accuracy of the averaged classifier and of each weak classifier."""
import numpy as np

from ..backend import asnumpy, to_device


def evaluate(net, x, y, batch_size=1000, device="cpu"):
    """Accuracies on ``(x, y)`` (NumPy arrays), in eval mode.

    Returns
    -------
    dict: ``"accuracy"`` of the averaged classifier (test-time rule of the
    paper), ``"weak_accuracy"`` list of each weak classifier's accuracy, and
    ``"agreement"``: the fraction of samples on which all weak classifiers agree
    (1 - a simple measure of their diversity).
    """
    correct = 0
    V = net.head.ensemble
    weak_correct = np.zeros(V, dtype=np.int64)
    agree = 0
    for start in range(0, len(x), batch_size):
        xb = to_device(x[start:start + batch_size], device)
        yb = y[start:start + batch_size]
        feats = net.embed(xb)
        pred = asnumpy(net.head.logits(feats).argmax(axis=1))
        weak_pred = asnumpy(net.head.weak_logits(feats).argmax(axis=2))  # (V, n)
        correct += int((pred == yb).sum())
        weak_correct += (weak_pred == yb[None]).sum(axis=1)
        agree += int((weak_pred == weak_pred[:1]).all(axis=0).sum())
    n = len(x)
    return {
        "accuracy": correct / n,
        "weak_accuracy": (weak_correct / n).tolist(),
        "agreement": agree / n,
    }
