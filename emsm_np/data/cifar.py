"""Reader for CIFAR-10 / CIFAR-100, "python version", straight from the tar.gz.

The official archives hold pickled dicts (written by Python 2), one per batch:

========== ============================== ===================== ===========
data set   folder in the archive          train / test members  label key
========== ============================== ===================== ===========
CIFAR-10   ``cifar-10-batches-py/``       ``data_batch_1..5`` / ``b"labels"``
                                          ``test_batch``
CIFAR-100  ``cifar-100-python/``          ``train`` / ``test``  ``b"fine_labels"``
========== ============================== ===================== ===========

``b"data"`` is a (N, 3072) uint8 array: each row the 1024 red values, then
the 1024 green, then the 1024 blue, each plane in row-major order, so a plain
reshape gives (N, 3, 32, 32) in channel-first (N, C, H, W) layout.

The pickles are read with an unpickler that only builds NumPy arrays (the
three globals an ndarray pickle names), so a foreign archive cannot run code.
"""
import io
import pickle
import tarfile
import zlib
from collections import namedtuple

import numpy as np

from .checksums import verify_file
from .errors import DataFileError

CifarLayout = namedtuple("CifarLayout", ["folder", "train", "test", "label_key", "num_classes"])

CIFAR_LAYOUTS = {
    "cifar10": CifarLayout(
        "cifar-10-batches-py",
        tuple(f"data_batch_{i}" for i in range(1, 6)),
        ("test_batch",),
        b"labels",
        10,
    ),
    "cifar100": CifarLayout("cifar-100-python", ("train",), ("test",), b"fine_labels", 100),
}

# The function NumPy's ndarray pickles name for rebuilding an array, taken from
# NumPy itself: it lives in numpy.core (NumPy 1, as in the official files)
# or numpy._core (NumPy 2, as in pickles written today).
_RECONSTRUCT = np.empty(0).__reduce__()[0]
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class _ArrayOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"global {module}.{name} is not allowed in a CIFAR batch"
            ) from None


def decode_batch(batch, label_key, num_classes, where):
    """Images (N, 3, 32, 32) uint8 and labels (N,) int64 of one unpickled batch dict."""
    if not isinstance(batch, dict) or b"data" not in batch or label_key not in batch:
        keys = sorted(batch) if isinstance(batch, dict) else type(batch).__name__
        raise DataFileError(f"{where}: expected a dict with b'data' and {label_key!r}, got {keys}")
    data = np.asarray(batch[b"data"])
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise DataFileError(
            f"{where}: b'data' must be a (N, 3072) uint8 array, got {data.shape} {data.dtype}"
        )
    labels = np.asarray(batch[label_key], dtype=np.int64)
    if labels.shape != (data.shape[0],):
        raise DataFileError(
            f"{where}: {len(labels)} labels for {data.shape[0]} images"
        )
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise DataFileError(
            f"{where}: labels must lie in [0, {num_classes}), got [{labels.min()}, {labels.max()}]"
        )
    # R, G, B planes of 32x32 each, row-major: exactly C-order (3, 32, 32).
    return data.reshape(-1, 3, 32, 32), labels


def _read_members(fobj, path, layout):
    """Unpickle and decode every batch of ``layout`` from the open archive."""
    parts = {}
    with tarfile.open(fileobj=fobj, mode="r:gz") as tar:
        for member in layout.train + layout.test:
            where = f"{path}: {layout.folder}/{member}"
            try:
                f = tar.extractfile(f"{layout.folder}/{member}")
            except KeyError:
                raise DataFileError(f"{where} is missing from the archive") from None
            raw = f.read()  # a truncated archive fails here, reported by the caller
            try:
                batch = _ArrayOnlyUnpickler(io.BytesIO(raw), encoding="bytes").load()
            except Exception as exc:  # garbage bytes can fail in many ways
                raise DataFileError(f"{where}: not a readable CIFAR batch ({exc})") from exc
            parts[member] = decode_batch(batch, layout.label_key, layout.num_classes, where)
    return parts


def read_cifar_archive(path, kind, checksum=None):
    """Read the official CIFAR "python version" tar.gz.

    Parameters
    ----------
    path : the ``cifar-10-python.tar.gz`` or ``cifar-100-python.tar.gz`` file
    kind : "cifar10" or "cifar100"
    checksum : :class:`~emsm_np.data.checksums.Checksum` of the archive, verified
        before anything is unpickled; ``None`` skips the check

    Returns
    -------
    x_train (50000, 3, 32, 32) uint8, y_train (50000,) int64,
    x_test (10000, 3, 32, 32) uint8, y_test (10000,) int64
    """
    if kind not in CIFAR_LAYOUTS:
        raise ValueError(f"kind must be one of {', '.join(map(repr, CIFAR_LAYOUTS))}; got {kind!r}")
    layout = CIFAR_LAYOUTS[kind]
    if checksum is not None:
        verify_file(path, checksum)
    with open(path, "rb") as fobj:  # a missing file stays a FileNotFoundError
        try:
            parts = _read_members(fobj, path, layout)
        except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
            # A truncated or corrupted archive (reached only without a checksum).
            raise DataFileError(f"{path}: corrupted or truncated tar.gz archive ({exc})") from exc

    def join(members):
        return (
            np.concatenate([parts[m][0] for m in members]),
            np.concatenate([parts[m][1] for m in members]),
        )

    x_train, y_train = join(layout.train)
    x_test, y_test = join(layout.test)
    return x_train, y_train, x_test, y_test
