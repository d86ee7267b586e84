"""Finding data files on disk, and downloading the missing ones.

The data directory (first that applies):

1. the ``data_dir`` argument (``--data-dir`` on the command line);
2. the environment variable ``EMSM_DATA``;
3. a per-user cache, ``$XDG_CACHE_HOME/emsm_np`` (``~/.cache/emsm_np`` when
   ``XDG_CACHE_HOME`` is unset).

``data_dir`` and ``EMSM_DATA`` must name existing directories; the cache is
created only when a download writes into it.

A data set's files are read from (first that holds *every* file):

1. ``DIR/<subdir>/``, its own folder (``mnist/``, ``fashion-mnist/``,
   ``cifar10/``, ``cifar100/``), e.g. ``DIR/mnist/train-images-idx3-ubyte.gz``;
2. ``DIR`` itself, e.g. ``DIR/train-images-idx3-ubyte.gz``.

When neither holds every file, the one that holds more of them is where the
missing ones are named (and downloaded); when neither holds any, missing files
are downloaded into ``DIR/<subdir>/``, or into ``DIR`` when ``DIR`` is already
named ``<subdir>`` (never ``mnist/mnist``). ``emsm`` never downloads into a
``--data-dir`` (:func:`emsm_np.training.loop.load_run_data`): only into
``EMSM_DATA`` or the cache.

A download goes to a temporary name beside the final file (``.NAME.*.part``)
and is renamed only once its checksum matches, so an interrupted or corrupted
download never leaves a file under the final name; folders it created are
removed again when it fails and they are empty, so a failed load leaves the
data directory (and the cache) as it found them.
"""
import http.client
import os
import tempfile
import urllib.error
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


# How the data directory is named to the user, for messages that make sense
# both to a Python caller and on the command line.
DATA_DIR_ARG = "data_dir (--data-dir on the command line)"
_PASS_DIR = "pass --data-dir DIR on the command line (data_dir=DIR in Python)"


def resolve_data_dir(data_dir=None):
    """The root data directory: ``data_dir``, else ``$EMSM_DATA``, else the user cache.

    A given ``data_dir`` (or ``EMSM_DATA``) that is not an existing directory is
    a ValueError naming it. Nothing is created: the default cache directory is
    made by the first download that writes into it.
    """
    if data_dir is not None:
        if not isinstance(data_dir, (str, os.PathLike)):
            raise TypeError(f"data_dir must be a path (str or os.PathLike), got {type(data_dir).__name__}")
        path = Path(data_dir).expanduser()
        if not path.is_dir():
            what = "is a file, not a directory" if path.exists() else "does not exist"
            raise ValueError(
                f"{DATA_DIR_ARG} {str(path)!r} {what}; give an existing directory "
                "that holds the data set's files, directly or in its own folder (e.g. DIR/mnist/)"
            )
        return path
    env = os.environ.get(ENV_VAR)
    if env:
        path = Path(env).expanduser()
        if not path.is_dir():
            what = "a file, not a directory" if path.exists() else "a directory that does not exist"
            raise ValueError(
                f"the environment variable {ENV_VAR}={env!r} names {what}; set it to an existing "
                f"directory or unset it, or {_PASS_DIR}, which takes precedence over {ENV_VAR}"
            )
        return path
    return default_cache_dir()


def _root_origin(data_dir):
    """Which data directory the files were looked for in, and where it came from, in words."""
    if data_dir is not None:
        return f"the data directory given as {DATA_DIR_ARG}"
    if os.environ.get(ENV_VAR):
        return f"the data directory from the environment variable {ENV_VAR}"
    return f"the default cache: neither {DATA_DIR_ARG} nor {ENV_VAR} was given"


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


def _make_folder(folder):
    """Create ``folder`` and its missing parents; return the ones created, deepest first."""
    created = []
    missing = Path(folder)
    while not missing.exists() and missing != missing.parent:
        created.append(missing)
        missing = missing.parent
    Path(folder).mkdir(parents=True, exist_ok=True)
    return created


def _remove_empty(created):
    """Remove the folders ``created`` (deepest first) while they are empty."""
    for folder in created:
        try:
            folder.rmdir()
        except OSError:  # not empty (or already gone): keep it and everything above
            return


def download_file(urls, dest, checksum=None, progress=True, timeout=60):
    """Download to ``dest`` from the first of ``urls`` that gives a file matching ``checksum``.

    Parameters
    ----------
    urls : sequence of str, tried in order (``http(s)://``, ``file://``, ...)
    dest : path of the final file; its folder is created if needed, and
        removed again (with the parents created for it) if the download
        fails and it is empty
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
        listing each URL and why it failed; then neither ``dest``, nor a
        temporary file, nor a folder created for them is left.
    """
    if isinstance(urls, (str, bytes)):  # a lone string would be tried letter by letter
        raise TypeError(f"urls must be a non-empty list of URL strings, got {urls!r}")
    urls = list(urls)
    if not urls or not all(isinstance(u, str) for u in urls):
        raise TypeError(f"urls must be a non-empty list of URL strings, got {urls!r}")
    dest = Path(dest)
    created = _make_folder(dest.parent)
    try:
        return _download_first(urls, dest, checksum, progress, timeout)
    except BaseException:
        # Also on Ctrl-C: a failed download leaves no empty folder behind.
        _remove_empty(created)
        raise


def _download_first(urls, dest, checksum, progress, timeout):
    """The loop of :func:`download_file`, into the existing folder of ``dest``."""
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
            failures.append((url, exc))
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
    raise DownloadError(f"could not download {dest.name}:\n  " + "\n  ".join(f"{u}: {e}" for u, e in failures),
                        reasons=[_reason(e) for _, e in failures])


def _reason(exc):
    """Why a download failed, in a few words: "Name or service not known", "HTTP 404 Not Found"."""
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    reason = getattr(exc, "reason", exc)  # a URLError wraps the socket's error
    return getattr(reason, "strerror", None) or str(reason)


def find_folder(source, root):
    """The folder that holds, or is to hold, the files of ``source`` under ``root``.

    ``root/<subdir>`` if it holds every file; else ``root`` if it holds every
    file; else the one of the two that holds the most of them (the missing
    ones are then named, and downloaded, there); else, when neither holds any,
    where they are downloaded to: ``root/<subdir>``, or ``root`` itself when it
    is already named ``<subdir>`` (never ``mnist/mnist``).
    """
    nested = root / source.subdir
    for folder in (nested, root):
        if _count_present(source, folder) == len(source.files):
            return folder
    target = root if root.name == source.subdir else nested
    return max((target, nested, root), key=lambda folder: _count_present(source, folder))  # ties: target


def _count_present(source, folder):
    """How many of the files of ``source`` are in ``folder``."""
    return sum((folder / name).is_file() for name, _ in source.files)


def missing_files_line(source, root, folder, missing, why=""):
    """One line of :class:`DataNotFoundError`'s text (its ``summary``), for the command line:
    which files are missing from which folder, where to put them, where to get them, and
    ``why`` they were not downloaded (appended after a semicolon when given)."""
    them = "them" if len(missing) > 1 else "it"
    held = len(source.files) - len(missing)
    if held:
        where = (f"missing from {folder}, which holds the other {held} of the {len(source.files)} "
                 f"files; put {them} there")
    elif root.name == source.subdir:
        where = f"missing from {root}; put {them} there"
    else:
        where = f"missing from {root} and {root / source.subdir}; put {them} in either"
    line = f"{source.name}: {', '.join(missing)} {where}"
    if source.mirrors:
        line += f" (from {source.mirrors[0]})"
    return f"{line}; {why}" if why else line


def missing_files_message(source, root, folder, missing, detail, origin):
    """The text of :class:`DataNotFoundError`.

    It names the missing files, the folders looked in (``root/<subdir>`` and
    ``root``, the data directory, described by ``origin``), where to put
    the files, the URLs to get them from, and ``detail`` (why they were not
    downloaded). ``folder`` is the one of the two that the files are missing from.
    """
    nested = root / source.subdir
    names = [name for name, _ in source.files]
    lines = [
        f"{source.name}: missing data file(s): {', '.join(missing)}",
        f"Looked in {nested} and {root} ({origin}).",
    ]
    for other in (nested, root):
        present = [name for name in names if (other / name).is_file()]
        if other != folder and present:
            lines.append(f"{other} holds only {len(present)} of the {len(names)} files "
                         f"({', '.join(present)}): all must be in one folder.")
    if root.name == source.subdir:
        put = f"Put the files in {root}"  # not in {root}/{subdir}: no mnist/mnist
    else:
        put = f"Put the files in {nested}{os.sep} or directly in {root}"
    lines += [
        f"{put}, or use another data directory DIR that holds them (in DIR/{source.subdir}/ "
        f"or in DIR itself): {_PASS_DIR}, or set {ENV_VAR}=DIR.",
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
    data_dir : root data directory, see :func:`resolve_data_dir`; the files are
        read from ``data_dir/<subdir>/`` or ``data_dir`` itself, whichever holds
        all of them (see :func:`find_folder`)
    download : try to download missing files; if False, or if a download
        fails, raise :class:`DataNotFoundError` saying where to get them and
        where to put them

    Returns a dict file name -> Path. Files already there are returned as they
    are; their checksums are verified by the readers. Nothing is created when
    the files cannot all be found or downloaded, except the downloaded files
    that passed their checksum.
    """
    root = resolve_data_dir(data_dir)
    folder = find_folder(source, root)
    paths = {name: folder / name for name, _ in source.files}
    missing = [name for name, path in paths.items() if not path.is_file()]
    if not missing:
        return paths
    origin = _root_origin(data_dir)
    if not download:
        raise DataNotFoundError(
            missing_files_message(source, root, folder, missing, "(Not downloaded: download=False.)", origin),
            missing_files_line(source, root, folder, missing),
        )
    failures = []
    for name, checksum in source.files:
        if name in missing:
            try:
                download_file(file_urls(source, name), paths[name], checksum, progress)
            except DownloadError as exc:
                failures.append(exc)
    if failures:
        still = [name for name in missing if not paths[name].is_file()]
        detail = "Downloading failed (offline?):\n" + "\n".join(map(str, failures))
        why = f"downloading failed (offline?): {failures[0].reasons[-1] if failures[0].reasons else failures[0]}"
        raise DataNotFoundError(missing_files_message(source, root, folder, still, detail, origin),
                                missing_files_line(source, root, folder, still, why))
    return paths
