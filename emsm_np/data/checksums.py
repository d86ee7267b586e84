"""Checksums of data files, and their verification.

A :class:`Checksum` says what is hashed as well as the expected digest:

``of="file"``
    the bytes of the file as stored (CIFAR's tar.gz);
``of="content"``
    the bytes after gzip decompression. Used for the IDX files of MNIST and
    Fashion-MNIST: mirrors and Linux distributions re-compress them, so the .gz
    bytes (and their md5) differ between copies while the IDX content is the same.
"""
import gzip
import hashlib
import zlib
from collections import namedtuple

from .errors import DataFileError

Checksum = namedtuple("Checksum", ["algorithm", "hexdigest", "of"])
Checksum.__doc__ = """Expected digest of a file: algorithm ("md5", "sha256"), hex digest, and
what is hashed: "file" (bytes as stored) or "content" (bytes after gunzip)."""

_CHUNK = 1 << 20
GZIP_MAGIC = b"\x1f\x8b"


def describe(checksum):
    """Human-readable form, e.g. ``sha256 of the decompressed content ba89...``."""
    what = "decompressed content" if checksum.of == "content" else "file"
    return f"{checksum.algorithm} of the {what} {checksum.hexdigest}"


def gunzip_bytes(data, path, checksum=None):
    """Decompress gzip ``data`` (bytes not starting with the gzip magic are returned as-is).

    A truncated or corrupted stream is a :class:`DataFileError` naming ``path``
    (and the expected ``checksum``, when one is given).
    """
    if not data.startswith(GZIP_MAGIC):
        return data  # an uncompressed IDX file under the .gz name is accepted
    try:
        return gzip.decompress(data)
    except (EOFError, OSError, zlib.error) as exc:
        # EOFError: the stream ends early (truncated); BadGzipFile (an OSError)
        # or zlib.error: corrupted bytes.
        expected = f"; expected {describe(checksum)}" if checksum is not None else ""
        raise DataFileError(
            f"{path}: corrupted or truncated gzip file ({exc}){expected}"
        ) from exc


def file_digest(path, algorithm):
    """Hex digest of the bytes of the file at ``path``, read in 1 MiB chunks."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def _mismatch(path, checksum, got):
    return DataFileError(
        f"{path}: checksum mismatch, expected {describe(checksum)}, got {got}; "
        "the file is truncated, corrupted or not the expected file: delete it "
        "and download it again"
    )


def verify_bytes(path, raw, content, checksum):
    """Check ``checksum`` against the file's ``raw`` bytes or its decompressed ``content``.

    Raises :class:`DataFileError` naming ``path``, the expected and the actual digest.
    """
    data = content if checksum.of == "content" else raw
    got = hashlib.new(checksum.algorithm, data).hexdigest()
    if got != checksum.hexdigest:
        raise _mismatch(path, checksum, got)


def compute(path, checksum):
    """Digest of the file at ``path`` as ``checksum`` defines it (file bytes, or content)."""
    if checksum.of == "content":
        with open(path, "rb") as f:
            content = gunzip_bytes(f.read(), path, checksum)
        return hashlib.new(checksum.algorithm, content).hexdigest()
    return file_digest(path, checksum.algorithm)


def verify_file(path, checksum):
    """Check the file at ``path`` against ``checksum``; :class:`DataFileError` if it differs."""
    got = compute(path, checksum)
    if got != checksum.hexdigest:
        raise _mismatch(path, checksum, got)
