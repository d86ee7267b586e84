"""Reader for the IDX format of MNIST and Fashion-MNIST.

An IDX file is a 4-byte magic number, one big-endian uint32 per dimension,
then the values in C order, big-endian::

    magic = 0x00 0x00 <type code> <number of dimensions>
    images: 0x00000803  (type 0x08 = unsigned byte, 3 dims: N, rows, cols)
    labels: 0x00000801  (unsigned byte, 1 dim: N)

Everything the header promises is checked (the two zero bytes, the type
code, the expected magic number, the number of dimensions, and that the data
length equals the product of the dimensions), so a truncated or foreign file is
a :class:`DataFileError` naming it, never a silently misread array.
"""
import struct

import numpy as np

from .checksums import gunzip_bytes, verify_bytes
from .errors import DataFileError

IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801

# IDX type code -> big-endian NumPy dtype (the format's full table).
IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def parse_idx(content, path="<bytes>", expected_magic=None):
    """Decode the (decompressed) bytes of one IDX file.

    Parameters
    ----------
    content : bytes, the whole IDX file (not gzip-compressed)
    path : name used in error messages
    expected_magic : int or None, e.g. ``IMAGES_MAGIC``; checked when given

    Returns
    -------
    array of shape given by the header, native byte order (uint8 for MNIST)
    """
    if len(content) < 4:
        raise DataFileError(f"{path}: too short for an IDX file ({len(content)} bytes, need a 4-byte header)")
    (magic,) = struct.unpack(">I", content[:4])
    zeros, type_code, ndim = magic >> 16, (magic >> 8) & 0xFF, magic & 0xFF
    if zeros != 0 or type_code not in IDX_DTYPES:
        raise DataFileError(f"{path}: not an IDX file (magic number 0x{magic:08x})")
    if expected_magic is not None and magic != expected_magic:
        raise DataFileError(
            f"{path}: wrong IDX magic number 0x{magic:08x}, expected 0x{expected_magic:08x}"
        )
    if ndim == 0:
        raise DataFileError(f"{path}: IDX header declares 0 dimensions")
    header = 4 + 4 * ndim
    if len(content) < header:
        raise DataFileError(f"{path}: truncated IDX header ({len(content)} bytes, need {header})")
    shape = struct.unpack(f">{ndim}I", content[4:header])
    dtype = IDX_DTYPES[type_code]
    expected_len = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(content) != expected_len:
        what = "truncated" if len(content) < expected_len else "has trailing bytes"
        raise DataFileError(
            f"{path}: IDX file {what}: header shape {shape} needs {expected_len} bytes, "
            f"got {len(content)}"
        )
    data = np.frombuffer(content, dtype=dtype, offset=header).reshape(shape)
    # A native-order copy: writable, and independent of the bytes object.
    return data.astype(dtype.newbyteorder("="))


def read_idx(path, checksum=None, expected_magic=None):
    """Read an IDX file, gzip-compressed (``.gz``) or not.

    ``checksum`` (a :class:`~emsm_np.data.checksums.Checksum`), when given, is
    verified before the content is decoded.
    """
    with open(path, "rb") as f:
        raw = f.read()
    content = gunzip_bytes(raw, path, checksum)
    if checksum is not None:
        verify_bytes(path, raw, content, checksum)
    return parse_idx(content, path, expected_magic)


def read_idx_images(path, checksum=None):
    """Images of an IDX file with magic 0x00000803: uint8 array (N, rows, cols)."""
    return read_idx(path, checksum, IMAGES_MAGIC)


def read_idx_labels(path, checksum=None):
    """Labels of an IDX file with magic 0x00000801: uint8 array (N,)."""
    return read_idx(path, checksum, LABELS_MAGIC)
