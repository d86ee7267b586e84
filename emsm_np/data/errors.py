"""The errors of the data package, each saying which file and what to do.

``DataFileError``       a file is there but is not what it should be (wrong
                        checksum, bad IDX magic number, truncated, corrupted).
``DataNotFoundError``   files are missing and could not be downloaded; the
                        message names the files, the folder to put them in and
                        the URLs to get them from.
``DownloadError``       one download failed (every URL tried); raised by
                        :func:`emsm_np.data.download.download_file`.
"""


class DataFileError(ValueError):
    """A data file is present but malformed, truncated or fails its checksum.

    Never read such a file silently: the message names the file and, where a
    checksum was expected, the expected value.
    """


class DataNotFoundError(FileNotFoundError):
    """Data files are missing and were not (or could not be) downloaded."""


class DownloadError(OSError):
    """A file could not be downloaded from any of the URLs given."""
