"""Finding data files on disk, and downloading the missing ones.

Where files live (first that applies):

1. the ``data_dir`` argument;
2. the environment variable ``EMSM_DATA``;
3. a per-user cache, ``$XDG_CACHE_HOME/emsm_np`` (``~/.cache/emsm_np`` when
   ``XDG_CACHE_HOME`` is unset), created on first use.

Each data set has its own folder below it (``mnist/``, ``fashion-mnist/``,
``cifar10/``, ``cifar100/``); ``data_dir`` and ``EMSM_DATA`` must exist.

A download goes to a temporary name beside the final file (``.NAME.*.part``)
and is renamed only once its checksum matches, so an interrupted or corrupted
download never leaves a file under the final name.
"""
import http.client
import os
import tempfile
import urllib.request
from pathlib import Path

from tqdm.auto import tqdm

from .checksums import compute, describe
from .errors import DataFileError, DataNotFoundError, DownloadError
from .sources import file_urls

ENV_VAR = "EMSM_DATA"
_CHUNK = 1 << 16


def default_cache_dir():
    """``$XDG_CACHE_HOME/emsm_np``, or ``~/.cache/emsm_np`` (not created here)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "emsm_np"


def resolve_data_dir(data_dir=None):
    """The root data directory: ``data_dir``, else ``$EMSM_DATA``, else the user cache.

    A given ``data_dir`` (or ``EMSM_DATA``) that is not an existing directory is
    a ValueError naming it; the default cache directory is created if needed.
    """
    if data_dir is not None:
        if not isinstance(data_dir, (str, os.PathLike)):
            raise TypeError(f"data_dir must be a path (str or os.PathLike), got {type(data_dir).__name__}")
        path = Path(data_dir).expanduser()
        if not path.is_dir():
            raise ValueError(f"data_dir {str(path)!r} does not exist or is not a directory")
        return path
    env = os.environ.get(ENV_VAR)
    if env:
        path = Path(env).expanduser()
        if not path.is_dir():
            raise ValueError(
                f"the environment variable {ENV_VAR}={env!r} names a directory that does not exist"
            )
        return path
    path = default_cache_dir()
    path.mkdir(parents=True, exist_ok=True)
    return path


def _copy_url(url, out, desc, progress, timeout):
    """Stream ``url`` into the open binary file ``out``, with a tqdm progress bar."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        written = 0
        with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=desc,
                  disable=not progress, leave=False) as bar:
            for chunk in iter(lambda: response.read(_CHUNK), b""):
                out.write(chunk)
                written += len(chunk)
                bar.update(len(chunk))
    if total is not None and written != total:
        raise DownloadError(f"connection closed after {written} of {total} bytes")


def download_file(urls, dest, checksum=None, progress=True, timeout=60):
    """Download to ``dest`` from the first of ``urls`` that gives a file matching ``checksum``.

    Parameters
    ----------
    urls : sequence of str, tried in order (``http(s)://``, ``file://``, ...)
    dest : path of the final file; its folder is created if needed
    checksum : :class:`~emsm_np.data.checksums.Checksum` or None
    progress : show a tqdm progress bar
    timeout : seconds to wait for a connection or a read

    Returns
    -------
    Path
        ``dest``

    Raises
    ------
    DownloadError
        listing each URL and why it failed; then neither ``dest`` nor a
        temporary file is left.
    """
    if isinstance(urls, (str, bytes)):  # a lone string would be tried letter by letter
        raise TypeError(f"urls must be a non-empty list of URL strings, got {urls!r}")
    urls = list(urls)
    if not urls or not all(isinstance(u, str) for u in urls):
        raise TypeError(f"urls must be a non-empty list of URL strings, got {urls!r}")
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    failures = []
    for url in urls:
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
        try:
            with os.fdopen(fd, "wb") as out:
                _copy_url(url, out, dest.name, progress, timeout)
            if checksum is not None:
                got = compute(tmp, checksum)
                if got != checksum.hexdigest:
                    raise DataFileError(f"checksum mismatch, expected {describe(checksum)}, got {got}")
            os.replace(tmp, dest)
            return dest
        except (OSError, ValueError, http.client.HTTPException) as exc:
            # OSError covers URLError/HTTPError and timeouts; ValueError a bad
            # URL or a failed checksum (DataFileError).
            failures.append(f"{url}: {exc}")
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
    raise DownloadError(f"could not download {dest.name}:\n  " + "\n  ".join(failures))


def missing_files_message(source, folder, missing, detail):
    """The text of :class:`DataNotFoundError`: files, folder to put them in, URLs, why."""
    lines = [
        f"{source.name}: missing data file(s): {', '.join(missing)}",
        f"Put them in the directory {folder}",
        f"(or pass data_dir=DIR, or set {ENV_VAR}=DIR, where DIR/{source.subdir}/ holds them).",
        "Download them from:",
    ]
    for name in missing:
        lines.append("  " + "  or  ".join(file_urls(source, name)))
    lines.append(detail)
    return "\n".join(lines)


def fetch_files(source, data_dir=None, download=True, progress=True):
    """Paths of every file of ``source``, downloading the missing ones if allowed.

    Parameters
    ----------
    source : :class:`~emsm_np.data.sources.Source`
    data_dir : root data directory, see :func:`resolve_data_dir`
    download : try to download missing files; if False, or if a download
        fails, raise :class:`DataNotFoundError` saying where to get them

    Returns a dict file name -> Path. Files already there are returned as they
    are; their checksums are verified by the readers.
    """
    folder = resolve_data_dir(data_dir) / source.subdir
    paths = {name: folder / name for name, _ in source.files}
    missing = [name for name, path in paths.items() if not path.is_file()]
    if missing and not download:
        raise DataNotFoundError(missing_files_message(
            source, folder, missing, "(Not downloaded: download=False.)"
        ))
    failures = []
    for name, checksum in source.files:
        if name in missing:
            try:
                download_file(file_urls(source, name), paths[name], checksum, progress)
            except DownloadError as exc:
                failures.append(str(exc))
    if failures:
        still = [name for name in missing if not paths[name].is_file()]
        detail = "Downloading failed (offline?):\n" + "\n".join(failures)
        raise DataNotFoundError(missing_files_message(source, folder, still, detail))
    return paths
