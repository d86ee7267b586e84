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
    """Data files are missing and were not (or could not be) downloaded.

    ``str(error)`` says everything (the files, the folders looked in, every URL,
    why nothing was downloaded); ``error.summary`` is one line of it (which
    files are missing from which folder, where to get them), the one that
    ``emsm`` prints.
    """

    def __init__(self, message, summary=None):
        super().__init__(message)
        self.summary = summary or message.splitlines()[0]


class DownloadError(OSError):
    """A file could not be downloaded from any of the URLs given; ``reasons`` lists why,
    one short phrase per URL tried (``"Name or service not known"``, ``"HTTP 404 Not Found"``)."""

    def __init__(self, message, reasons=()):
        super().__init__(message)
        self.reasons = list(reasons)
