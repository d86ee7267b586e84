"""The MNIST sample shipped inside the package (``emsm_np/data/sample/``).

A stratified subset of real MNIST: 1,000 training images per class (10,000)
and 200 test images per class (2,000), in the IDX format of the official
files, gzip-compressed. It is made by ``scripts/make_mnist_sample.py`` from
the standard files (see ``sample/README.md`` for the attribution, licence and
how it was drawn). Each file's decompressed content is checked against the
sha256 below when loaded, so a damaged install is an error, not bad data.
"""
from pathlib import Path

from .checksums import Checksum
from .errors import DataNotFoundError
from .idx import read_idx_images, read_idx_labels

SAMPLE_DIR = Path(__file__).resolve().parent / "sample"

# sha256 of the decompressed IDX content, as printed by scripts/make_mnist_sample.py.
SAMPLE_SHA256 = {
    "train-images-idx3-ubyte.gz": "033783d7b90cff9a5b43d299ca93c6c4b1b53fd8133fd4df82b28310fb15d6b3",
    "train-labels-idx1-ubyte.gz": "fc48a456479a32c3a77f58ac09d70c51f94585a8fd896ff3bf6a4e64c72e2b0d",
    "t10k-images-idx3-ubyte.gz": "dfa6ee27ad20654fbd4fcc46416930ed3a52ed978bd960253682cbffcd20ea14",
    "t10k-labels-idx1-ubyte.gz": "fb67c848c6dcd138b20ed33a88c6e5a932b3c102063fa39b49dd400f0d5af045",
}


def load_sample():
    """The embedded sample as uint8 arrays.

    Returns
    -------
    x_train (10000, 28, 28) uint8, y_train (10000,) uint8,
    x_test (2000, 28, 28) uint8, y_test (2000,) uint8
    """
    arrays = []
    for name, sha256 in SAMPLE_SHA256.items():
        path = SAMPLE_DIR / name
        if not path.is_file():
            raise DataNotFoundError(
                f"the embedded MNIST sample file {path} is missing; the emsm_np install "
                "is incomplete (reinstall it, or run scripts/make_mnist_sample.py)"
            )
        reader = read_idx_images if "images" in name else read_idx_labels
        arrays.append(reader(path, Checksum("sha256", sha256, "content")))
    x_train, y_train, x_test, y_test = arrays
    return x_train, y_train, x_test, y_test
