"""The paper's MNIST and CIFAR sets (and Fashion-MNIST, not in the paper), read from their
official files, and batching.

Stands beside the network code and knows nothing of layers (docs/contributing.md).

Entry point::

    from emsm_np.data import load_dataset, batches
    ds = load_dataset("mnist-sample")          # embedded; or "mnist", "cifar10+", ...
    for epoch in range(epochs):
        for xb, yb in batches(ds.x_train, ds.y_train, 128, seed=0, epoch=epoch,
                              augment=ds.augment):
            ...

Modules
-------
datasets   load_dataset, Dataset, the paper's preprocessing, split_validation
sample     the MNIST sample shipped in the package
idx        IDX reader (MNIST, Fashion-MNIST)
cifar      CIFAR-10/100 "python version" reader
download   data directory resolution, downloads with checksum and progress bar
sources    official URLs and checksums
checksums  Checksum and its verification
augment    pad-crop-flip augmentation, vectorised over the batch
batches    seeded, resumable shuffling and batching (CPU or GPU)
errors     DataFileError, DataNotFoundError, DownloadError
"""
from .augment import crop_and_flip, random_crop_flip
from .batches import batch_rng, batches, epoch_order, num_batches
from .checksums import Checksum
from .cifar import read_cifar_archive
from .datasets import DATASET_NAMES, Dataset, load_dataset, pixel_mean, scale_images, split_validation
from .download import default_cache_dir, download_file, fetch_files, resolve_data_dir
from .errors import DataFileError, DataNotFoundError, DownloadError
from .idx import parse_idx, read_idx, read_idx_images, read_idx_labels
from .sample import load_sample
from .sources import SOURCES

__all__ = [
    "DATASET_NAMES",
    "SOURCES",
    "Checksum",
    "DataFileError",
    "DataNotFoundError",
    "Dataset",
    "DownloadError",
    "batch_rng",
    "batches",
    "crop_and_flip",
    "default_cache_dir",
    "download_file",
    "epoch_order",
    "fetch_files",
    "load_dataset",
    "load_sample",
    "num_batches",
    "parse_idx",
    "pixel_mean",
    "random_crop_flip",
    "read_cifar_archive",
    "read_idx",
    "read_idx_images",
    "read_idx_labels",
    "resolve_data_dir",
    "scale_images",
    "split_validation",
]
