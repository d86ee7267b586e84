"""Where each data set's files come from, and the checksums they must match.

MNIST
    Checked by the sha256 of the *decompressed* IDX content, computed from the
    official files (the values below). Mirrors re-compress the files, so a copy's .gz bytes (and md5) may
    differ from the official ones while its content is identical; the content
    checksum accepts every faithful copy and nothing else. Mirrors, in order:
    the S3 copy that torchvision uses, then Yann LeCun's page.
Fashion-MNIST
    Checked the same way, by the sha256 of the *decompressed* IDX content.
    Linux distributions (Debian's ``dataset-fashion-mnist``) re-compress the
    files, so their .gz bytes differ from the official ones and fail the md5s
    published in zalandoresearch/fashion-mnist's README; the content checksum
    accepts them, and any other faithful copy. The values, given as those of
    the decompressed official files, were checked against the files of
    Debian's ``dataset-fashion-mnist`` 0.0~git20200523.55506a9-1 (whose .gz
    md5s differ from the published ones). One mirror: Zalando's S3 website.
CIFAR-10 / CIFAR-100
    Checked by the md5 of the official "python version" tar.gz archives, as
    published on Alex Krizhevsky's page.
"""
from collections import namedtuple

from .checksums import Checksum

Source = namedtuple("Source", ["name", "subdir", "files", "mirrors"])
Source.__doc__ = """A downloadable data set: its own folder (``subdir``) in the data directory, its files
as ``(file name, Checksum)`` pairs, and base URLs tried in order (file URL = base + name)."""


def _content_sha256(hexdigest):
    return Checksum("sha256", hexdigest, "content")


def _file_md5(hexdigest):
    return Checksum("md5", hexdigest, "file")


MNIST_FILES = (
    ("train-images-idx3-ubyte.gz", _content_sha256("ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db")),
    ("train-labels-idx1-ubyte.gz", _content_sha256("65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5")),
    ("t10k-images-idx3-ubyte.gz", _content_sha256("0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7")),
    ("t10k-labels-idx1-ubyte.gz", _content_sha256("ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2")),
)

FASHION_MNIST_FILES = (
    ("train-images-idx3-ubyte.gz", _content_sha256("c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888")),
    ("train-labels-idx1-ubyte.gz", _content_sha256("bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9")),
    ("t10k-images-idx3-ubyte.gz", _content_sha256("5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b")),
    ("t10k-labels-idx1-ubyte.gz", _content_sha256("0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34")),
)

SOURCES = {
    "mnist": Source(
        "mnist",
        "mnist",
        MNIST_FILES,
        (
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "http://yann.lecun.com/exdb/mnist/",
        ),
    ),
    "fashion-mnist": Source(
        "fashion-mnist",
        "fashion-mnist",
        FASHION_MNIST_FILES,
        ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
    ),
    "cifar10": Source(
        "cifar10",
        "cifar10",
        (("cifar-10-python.tar.gz", _file_md5("c58f30108f718f92721af3b95e74349a")),),
        ("https://www.cs.toronto.edu/~kriz/",),
    ),
    "cifar100": Source(
        "cifar100",
        "cifar100",
        (("cifar-100-python.tar.gz", _file_md5("eb9058c3a382ffc7106e4002c42a8d85")),),
        ("https://www.cs.toronto.edu/~kriz/",),
    ),
}


def file_urls(source, filename):
    """Every URL ``filename`` of ``source`` can be downloaded from, in the order tried."""
    return [base + filename for base in source.mirrors]
