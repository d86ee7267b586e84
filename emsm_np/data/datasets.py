"""One entry point, :func:`load_dataset`, for the paper's MNIST and CIFAR sets (not its
ImageNet32), plus Fashion-MNIST (not in the paper).

Preprocessing follows the paper's (Fashion-MNIST: MNIST's):

MNIST, Fashion-MNIST (and the embedded sample)
    pixels scaled to [0, 1]: ``x / 255`` as float32, shape (N, 1, 28, 28).
CIFAR-10, CIFAR-100
    pixels scaled to [0, 1], then the per-pixel mean of the *training* set
    (a (3, 32, 32) image) subtracted from both the training and the test
    images; float32, shape (N, 3, 32, 32). Scaling before the subtraction
    only multiplies the inputs by 1/255 compared with subtracting on 0..255.
CIFAR-10+, CIFAR-100+
    the same arrays, with ``Dataset.augment`` set to the standard training
    augmentation (:func:`~emsm_np.data.augment.random_crop_flip`: zero-pad 4,
    random 32x32 crop, random horizontal flip), for :func:`~emsm_np.data.batches.batches`
    to apply to each training batch. The test set is never augmented.

Labels are int64 arrays (N,).
"""
from collections import namedtuple

import numpy as np

from .._checks import check_int
from .augment import random_crop_flip
from .cifar import read_cifar_archive
from .download import fetch_files
from .errors import DataFileError
from .idx import read_idx_images, read_idx_labels
from .sample import load_sample
from .sources import SOURCES

Dataset = namedtuple(
    "Dataset", ["name", "x_train", "y_train", "x_test", "y_test", "num_classes", "augment"]
)
Dataset.__doc__ = """A preprocessed data set: float32 inputs (N, C, H, W), int64 labels (N,),
the number of classes, and ``augment`` (None, or ``augment(xb, rng)`` for training batches)."""

DATASET_NAMES = ("mnist-sample", "mnist", "fashion-mnist", "cifar10", "cifar10+", "cifar100", "cifar100+")

# (classes, channels, image height = width) of each data set, known without loading it
# (``emsm info`` sizes a network for a data set that may not be downloaded).
DATASET_SHAPES = {
    "mnist-sample": (10, 1, 28), "mnist": (10, 1, 28), "fashion-mnist": (10, 1, 28),
    "cifar10": (10, 3, 32), "cifar10+": (10, 3, 32), "cifar100": (100, 3, 32), "cifar100+": (100, 3, 32),
}


def scale_images(x):
    """uint8 (N, H, W) or (N, C, H, W) -> float32 (N, C, H, W) in [0, 1] (C = 1 if absent)."""
    if x.ndim == 3:
        x = x[:, None]
    out = x.astype(np.float32)  # a new array, so dividing in place leaves x alone
    out /= np.float32(255)
    return out


def pixel_mean(x_train):
    """Per-pixel mean (C, H, W) of the training images (N, C, H, W), accumulated in float64."""
    return x_train.mean(axis=0, dtype=np.float64).astype(x_train.dtype)


def split_validation(x, y, n):
    """Hold out the last ``n`` training images as a validation split.

    The split is fixed (the same images whatever the seed: no shuffling), so
    that runs with different seeds are scored on the same images; it is taken
    before any batching, so none of the held-out images is ever trained on.
    The paper picks its margin m by "the one that performs best" (Sec. 4.4)
    without saying on which images; choosing on the test set would overstate
    the result, hence this split of the *training* set.

    Parameters
    ----------
    x : (N, ...) training inputs
    y : (N,) training labels
    n : int, 0 <= n < N, images to hold out

    Returns
    -------
    ``((x_fit, y_fit), (x_val, y_val))``: the first ``N - n`` images and the last
    ``n`` (views, not copies; ``x_val`` is empty when ``n`` is 0).
    """
    n = check_int("validation", n, minimum=0)
    if len(x) != len(y):
        raise ValueError(f"x and y must have the same length, got {len(x)} images and {len(y)} labels")
    if n >= len(x):
        raise ValueError(f"validation must be smaller than the training set ({len(x)} images), got {n}")
    cut = len(x) - n
    return (x[:cut], y[:cut]), (x[cut:], y[cut:])


def _check_pairs(name, x, y, num_classes, where):
    if x.shape[0] != y.shape[0]:
        raise DataFileError(f"{where}: {x.shape[0]} {name} images but {y.shape[0]} labels")
    if y.size and int(y.max()) >= num_classes:
        raise DataFileError(f"{where}: {name} labels must lie in [0, {num_classes}), got max {int(y.max())}")


def _load_idx_set(name, data_dir, download, progress):
    source = SOURCES[name]
    paths = fetch_files(source, data_dir, download, progress)
    checks = dict(source.files)

    def read(fname):
        reader = read_idx_images if "images" in fname else read_idx_labels
        return reader(paths[fname], checks[fname])

    x_train, y_train = read("train-images-idx3-ubyte.gz"), read("train-labels-idx1-ubyte.gz")
    x_test, y_test = read("t10k-images-idx3-ubyte.gz"), read("t10k-labels-idx1-ubyte.gz")
    return x_train, y_train, x_test, y_test, str(paths["train-images-idx3-ubyte.gz"].parent)


def load_dataset(name="mnist-sample", data_dir=None, download=True, progress=True):
    """Load, check and preprocess a data set.

    Parameters
    ----------
    name : one of ``DATASET_NAMES``; "mnist-sample" (the default) is embedded
        in the package and needs neither files nor network
    data_dir : data directory (``--data-dir`` on the command line; see
        :func:`~emsm_np.data.download.resolve_data_dir`). The files are read
        from its ``mnist/``, ``fashion-mnist/``, ``cifar10/`` or ``cifar100/``
        folder, or from the directory itself, whichever holds all of them;
        missing files are downloaded into the data set's folder (into the
        directory itself when it is named after the data set). Ignored for
        "mnist-sample".
    download : download missing files from the official locations
    progress : show download progress bars

    Returns
    -------
    Dataset
    """
    if name not in DATASET_NAMES:
        raise ValueError(f"name must be one of {', '.join(map(repr, DATASET_NAMES))}; got {name!r}")
    if name in ("mnist-sample", "mnist", "fashion-mnist"):
        if name == "mnist-sample":
            x_train, y_train, x_test, y_test = load_sample()
            where = "embedded MNIST sample"
        else:
            x_train, y_train, x_test, y_test, where = _load_idx_set(name, data_dir, download, progress)
        _check_pairs("training", x_train, y_train, 10, where)
        _check_pairs("test", x_test, y_test, 10, where)
        return Dataset(name, scale_images(x_train), y_train.astype(np.int64),
                       scale_images(x_test), y_test.astype(np.int64), 10, None)

    kind = name.rstrip("+")
    source = SOURCES[kind]
    (fname, checksum), = source.files
    path = fetch_files(source, data_dir, download, progress)[fname]
    x_train, y_train, x_test, y_test = read_cifar_archive(path, kind, checksum)
    x_train, x_test = scale_images(x_train), scale_images(x_test)
    mean = pixel_mean(x_train)
    # Fresh arrays of our own: subtracting in place saves a 600 MB copy.
    x_train -= mean
    x_test -= mean
    num_classes = 10 if kind == "cifar10" else 100
    augment = random_crop_flip if name.endswith("+") else None
    return Dataset(name, x_train, y_train, x_test, y_test, num_classes, augment)
