"""Data directory resolution and downloads, against a loopback HTTP server and file:// URLs.

No test here reaches beyond 127.0.0.1: every URL is a local server, a file
or a closed loopback port.
"""
import functools
import re
import gzip
import hashlib
import http.server
import socket
import threading
from pathlib import Path

import numpy as np
import pytest

from emsm_np.data import (
    Checksum,
    DataNotFoundError,
    DownloadError,
    default_cache_dir,
    download_file,
    fetch_files,
    load_dataset,
    resolve_data_dir,
)
from emsm_np.data import download as download_module
from emsm_np.data import sources


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path):
    """(root folder served, base URL http://127.0.0.1:PORT/)."""
    root = tmp_path / "served"
    root.mkdir()
    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(root))
    )
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()
    thread.join()


@pytest.fixture
def closed_port_url():
    """A loopback URL nothing listens on: connections are refused (the offline case)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def md5(data):
    return Checksum("md5", hashlib.md5(data).hexdigest(), "file")


def leftovers(folder):
    return sorted(p.name for p in Path(folder).iterdir()) if Path(folder).exists() else []


# --- where files live ------------------------------------------------------

def test_data_dir_argument_wins_over_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("EMSM_DATA", str(tmp_path))
    (tmp_path / "mine").mkdir()
    assert resolve_data_dir(tmp_path / "mine") == tmp_path / "mine"
    assert resolve_data_dir() == tmp_path


def test_missing_data_dir_is_a_value_error_naming_it_and_the_switch(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(ValueError, match=re.escape(
            f"data_dir (--data-dir on the command line) '{missing}' does not exist; give an existing "
            "directory that holds the data set's files, directly or in its own folder (e.g. DIR/mnist/)")):
        resolve_data_dir(missing)
    with pytest.raises(ValueError, match=r"data_dir \(--data-dir on the command line\) .*nope' does not exist"):
        load_dataset("mnist", data_dir=missing)
    a_file = tmp_path / "train-images-idx3-ubyte.gz"
    a_file.write_bytes(b"")
    with pytest.raises(ValueError, match=re.escape(f"'{a_file}' is a file, not a directory")):
        load_dataset("mnist", data_dir=a_file)
    assert leftovers(tmp_path) == ["train-images-idx3-ubyte.gz"]


def test_missing_emsm_data_directory_is_a_value_error_naming_it(tmp_path, monkeypatch):
    monkeypatch.setenv("EMSM_DATA", str(tmp_path / "gone"))
    with pytest.raises(ValueError, match=r"EMSM_DATA='.*gone' names a directory that does not exist; "
                                         r"set it to an existing directory or unset it, or pass --data-dir DIR "
                                         r"on the command line \(data_dir=DIR in Python\), which takes precedence"):
        resolve_data_dir()
    assert not (tmp_path / "gone").exists()


def test_default_is_the_xdg_cache_not_created_by_resolving_it(tmp_path, monkeypatch):
    monkeypatch.delenv("EMSM_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert resolve_data_dir() == tmp_path / "xdg" / "emsm_np"
    assert not (tmp_path / "xdg").exists()  # made by the first download that writes into it
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "emsm_np"


# --- one file --------------------------------------------------------------

def test_download_over_loopback_http_with_progress_bar(server, tmp_path):
    root, base = server
    data = bytes(range(256)) * 1000
    (root / "f.bin").write_bytes(data)
    dest = tmp_path / "out" / "f.bin"
    assert download_file([base + "f.bin"], dest, md5(data), progress=True) == dest
    assert dest.read_bytes() == data
    assert leftovers(dest.parent) == ["f.bin"]  # no temporary file left


def test_download_from_file_url(tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(b"hello")
    dest = tmp_path / "d" / "x.bin"
    download_file([src.as_uri()], dest, md5(b"hello"), progress=False)
    assert dest.read_bytes() == b"hello"


def test_checksum_mismatch_leaves_neither_final_nor_temporary_file(server, tmp_path):
    root, base = server
    (root / "f.bin").write_bytes(b"not what was promised")
    dest = tmp_path / "out" / "f.bin"
    expected = md5(b"the real thing")
    with pytest.raises(DownloadError) as info:
        download_file([base + "f.bin"], dest, expected, progress=False)
    msg = str(info.value)
    assert f"could not download f.bin:\n  {base}f.bin: checksum mismatch, expected md5 of the file " \
           f"{expected.hexdigest}, got {hashlib.md5(b'not what was promised').hexdigest()}" in msg
    assert not dest.exists() and not dest.parent.exists()  # the folder made for it is gone too


def test_content_checksum_is_checked_on_the_decompressed_download(server, tmp_path):
    root, base = server
    content = b"idx content"
    (root / "a.gz").write_bytes(gzip.compress(content, mtime=0))
    check = Checksum("sha256", hashlib.sha256(content).hexdigest(), "content")
    download_file([base + "a.gz"], tmp_path / "a.gz", check, progress=False)
    assert gzip.decompress((tmp_path / "a.gz").read_bytes()) == content


def test_next_mirror_is_tried_after_a_404(server, tmp_path):
    root, base = server
    (root / "mirror2").mkdir()
    (root / "mirror2" / "f.bin").write_bytes(b"data")
    dest = tmp_path / "f.bin"
    download_file([base + "mirror1/f.bin", base + "mirror2/f.bin"], dest, md5(b"data"), progress=False)
    assert dest.read_bytes() == b"data"


def test_every_failure_is_listed_and_nothing_is_left(server, closed_port_url, tmp_path):
    _, base = server
    dest = tmp_path / "out" / "f.bin"
    with pytest.raises(DownloadError) as info:
        download_file([base + "missing.bin", closed_port_url + "f.bin"], dest, None, progress=False)
    msg = str(info.value)
    assert f"{base}missing.bin: HTTP Error 404" in msg
    assert f"{closed_port_url}f.bin: <urlopen error" in msg
    assert not dest.parent.exists()  # neither a file nor the folder out/ made for it


def test_urls_must_be_a_list_not_a_single_string(tmp_path):
    with pytest.raises(TypeError, match="urls must be a non-empty list of URL strings, got 'http"):
        download_file("http://127.0.0.1/x", tmp_path / "x")


# --- whole data sets ---------------------------------------------------------

def _tiny_source(monkeypatch, name, mirrors):
    """Point data set ``name`` at ``mirrors``, with files b"<name>-<file>" and their md5."""
    source = sources.SOURCES[name]
    contents = {fname: f"{name}-{fname}".encode() for fname, _ in source.files}
    files = tuple((fname, md5(contents[fname])) for fname in contents)
    monkeypatch.setitem(sources.SOURCES, name, source._replace(files=files, mirrors=tuple(mirrors)))
    return sources.SOURCES[name], contents


def test_offline_error_names_missing_files_directory_and_urls(tmp_path, closed_port_url):
    source = sources.SOURCES["mnist"]
    offline = source._replace(mirrors=(closed_port_url,))
    with pytest.raises(DataNotFoundError) as info:
        fetch_files(offline, tmp_path, download=True, progress=False)
    msg = str(info.value)
    names = [fname for fname, _ in source.files]
    assert msg.startswith(f"mnist: missing data file(s): {', '.join(names)}\n")
    assert (f"Looked in {tmp_path / 'mnist'} and {tmp_path} (the data directory given as data_dir "
            "(--data-dir on the command line)).\n") in msg
    assert (f"Put the files in {tmp_path / 'mnist'}/ or directly in {tmp_path}, or use another data "
            "directory DIR that holds them (in DIR/mnist/ or in DIR itself): pass --data-dir DIR on the "
            "command line (data_dir=DIR in Python), or set EMSM_DATA=DIR.\n") in msg
    for fname in names:
        assert f"  {closed_port_url}{fname}\n" in msg
    assert "Downloading failed (offline?)" in msg and "Connection refused" in msg
    assert leftovers(tmp_path) == []  # not even an empty mnist/


def test_official_urls_are_named_when_download_is_off(tmp_path):
    with pytest.raises(DataNotFoundError) as info:
        load_dataset("cifar100", data_dir=tmp_path, download=False)
    msg = str(info.value)
    assert "cifar100: missing data file(s): cifar-100-python.tar.gz" in msg
    assert f"Put the files in {tmp_path / 'cifar100'}/ or directly in {tmp_path}," in msg
    assert "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz" in msg
    assert "(Not downloaded: download=False.)" in msg
    assert not (tmp_path / "cifar100").exists()


def test_mnist_error_lists_both_mirrors(tmp_path):
    with pytest.raises(DataNotFoundError) as info:
        load_dataset("mnist", data_dir=tmp_path, download=False)
    assert ("https://ossci-datasets.s3.amazonaws.com/mnist/t10k-labels-idx1-ubyte.gz  or  "
            "http://yann.lecun.com/exdb/mnist/t10k-labels-idx1-ubyte.gz") in str(info.value)


def test_fetch_downloads_only_the_missing_files(server, tmp_path, monkeypatch):
    root, base = server
    source, contents = _tiny_source(monkeypatch, "fashion-mnist", [base])
    for fname, data in contents.items():
        (root / fname).write_bytes(data)
    folder = tmp_path / "fashion-mnist"
    folder.mkdir()
    (folder / "train-images-idx3-ubyte.gz").write_bytes(b"already here")  # not replaced
    paths = fetch_files(source, tmp_path, progress=False)
    assert sorted(paths) == sorted(contents)
    assert (folder / "train-images-idx3-ubyte.gz").read_bytes() == b"already here"
    assert (folder / "t10k-labels-idx1-ubyte.gz").read_bytes() == contents["t10k-labels-idx1-ubyte.gz"]


def test_load_mnist_downloads_into_data_dir_then_loads(server, tmp_path, monkeypatch):
    import struct

    root, base = server
    rng = np.random.default_rng(0)
    contents = {}
    for split, n in (("train", 6), ("t10k", 4)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = np.arange(n, dtype=np.uint8)
        contents[f"{split}-images-idx3-ubyte.gz"] = struct.pack(">IIII", 0x803, n, 28, 28) + images.tobytes()
        contents[f"{split}-labels-idx1-ubyte.gz"] = struct.pack(">II", 0x801, n) + labels.tobytes()
    for fname, content in contents.items():
        (root / fname).write_bytes(gzip.compress(content))
    files = tuple((f, Checksum("sha256", hashlib.sha256(c).hexdigest(), "content")) for f, c in contents.items())
    monkeypatch.setitem(sources.SOURCES, "mnist", sources.SOURCES["mnist"]._replace(
        files=files, mirrors=(base + "not-here/", base)))
    ds = load_dataset("mnist", data_dir=tmp_path, download=True, progress=False)
    assert ds.x_train.shape == (6, 1, 28, 28) and ds.x_test.shape == (4, 1, 28, 28)
    assert sorted(leftovers(tmp_path / "mnist")) == sorted(contents)


# --- data directory layouts, and nothing left behind when loading fails -----

def _offline(monkeypatch):
    """Make every download fail as it does offline, after download_file made its folder."""
    def refuse(url, out, desc, progress, timeout):
        raise DownloadError("<urlopen error [Errno 111] Connection refused>")
    monkeypatch.setattr(download_module, "_copy_url", refuse)


def _no_download(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("nothing should be downloaded")
    monkeypatch.setattr(download_module, "download_file", fail)


def _write(folder, contents):
    folder.mkdir(parents=True, exist_ok=True)
    for fname, data in contents.items():
        (folder / fname).write_bytes(data)


def test_files_directly_in_data_dir_are_used(tmp_path, monkeypatch):
    source, contents = _tiny_source(monkeypatch, "mnist", [])
    _write(tmp_path, contents)  # DIR/train-images-idx3-ubyte.gz, ...
    _no_download(monkeypatch)
    paths = fetch_files(source, tmp_path, progress=False)
    assert paths == {fname: tmp_path / fname for fname in contents}
    assert leftovers(tmp_path) == sorted(contents)  # no mnist/ made


def test_subdir_is_used_when_both_folders_hold_every_file(tmp_path, monkeypatch):
    source, contents = _tiny_source(monkeypatch, "mnist", [])
    _write(tmp_path, contents)
    _write(tmp_path / "mnist", contents)
    paths = fetch_files(source, tmp_path, download=False)
    assert paths == {fname: tmp_path / "mnist" / fname for fname in contents}


def test_data_dir_named_after_the_data_set_is_used_directly(tmp_path, monkeypatch):
    source, contents = _tiny_source(monkeypatch, "fashion-mnist", [])
    data_dir = tmp_path / "fashion-mnist"
    _write(data_dir, contents)
    _no_download(monkeypatch)
    assert fetch_files(source, data_dir, progress=False) == {f: data_dir / f for f in contents}
    assert leftovers(data_dir) == sorted(contents)


def test_download_into_a_data_dir_named_after_the_data_set_does_not_nest(server, tmp_path, monkeypatch):
    root, base = server
    source, contents = _tiny_source(monkeypatch, "mnist", [base])
    _write(root, contents)
    data_dir = tmp_path / "data" / "mnist"
    data_dir.mkdir(parents=True)
    paths = fetch_files(source, data_dir, progress=False)
    assert paths == {fname: data_dir / fname for fname in contents}
    assert leftovers(data_dir) == sorted(contents)  # no data/mnist/mnist/


def test_first_download_creates_the_cache(server, tmp_path, monkeypatch):
    root, base = server
    monkeypatch.delenv("EMSM_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    source, contents = _tiny_source(monkeypatch, "mnist", [base])
    _write(root, contents)
    paths = fetch_files(source, progress=False)
    assert paths == {fname: tmp_path / "xdg" / "emsm_np" / "mnist" / fname for fname in contents}


def test_offline_load_leaves_nothing_in_data_dir(tmp_path, monkeypatch):
    _offline(monkeypatch)
    with pytest.raises(DataNotFoundError) as info:
        load_dataset("mnist", data_dir=tmp_path, progress=False)
    msg = str(info.value)
    assert "mnist: missing data file(s): train-images-idx3-ubyte.gz" in msg
    assert f"Looked in {tmp_path / 'mnist'} and {tmp_path} " in msg
    assert "pass --data-dir DIR on the command line (data_dir=DIR in Python)" in msg
    assert "Downloading failed (offline?)" in msg and "Connection refused" in msg
    assert leftovers(tmp_path) == []  # no empty mnist/ left behind


def test_offline_load_from_a_dir_named_after_the_data_set_leaves_it_as_it_was(tmp_path, monkeypatch):
    _offline(monkeypatch)
    data_dir = tmp_path / "mnist"
    data_dir.mkdir()
    with pytest.raises(DataNotFoundError) as info:
        load_dataset("mnist", data_dir=data_dir, progress=False)
    msg = str(info.value)
    assert f"Put the files in {data_dir}, or use another data directory" in msg  # not mnist/mnist
    assert data_dir.is_dir() and leftovers(data_dir) == []  # kept (it was there), nothing inside


def test_failed_download_keeps_a_folder_that_was_already_there(tmp_path, monkeypatch):
    _offline(monkeypatch)
    (tmp_path / "mnist").mkdir()
    with pytest.raises(DataNotFoundError):
        load_dataset("mnist", data_dir=tmp_path, progress=False)
    assert leftovers(tmp_path) == ["mnist"] and leftovers(tmp_path / "mnist") == []


def test_offline_load_leaves_no_cache_folder(tmp_path, monkeypatch):
    _offline(monkeypatch)
    monkeypatch.delenv("EMSM_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    with pytest.raises(DataNotFoundError) as info:
        load_dataset("fashion-mnist", progress=False)
    cache = tmp_path / "xdg" / "emsm_np"
    assert (f"Looked in {cache / 'fashion-mnist'} and {cache} (the default cache: neither data_dir "
            "(--data-dir on the command line) nor EMSM_DATA was given).") in str(info.value)
    assert not (tmp_path / "xdg").exists()
    (tmp_path / "xdg").mkdir()  # a cache home that exists is kept; only emsm_np/ goes
    with pytest.raises(DataNotFoundError):
        load_dataset("fashion-mnist", progress=False)
    assert leftovers(tmp_path / "xdg") == []


def test_missing_files_error_says_the_data_dir_came_from_emsm_data(tmp_path, monkeypatch):
    monkeypatch.setenv("EMSM_DATA", str(tmp_path))
    with pytest.raises(DataNotFoundError) as info:
        load_dataset("cifar10", download=False)
    assert (f"Looked in {tmp_path / 'cifar10'} and {tmp_path} (the data directory from the environment "
            "variable EMSM_DATA).") in str(info.value)


def test_some_files_in_each_folder_is_explained(tmp_path, monkeypatch):
    source, contents = _tiny_source(monkeypatch, "mnist", [])
    names = list(contents)
    _write(tmp_path, {names[0]: contents[names[0]]})
    _write(tmp_path / "mnist", {name: contents[name] for name in names[1:]})
    with pytest.raises(DataNotFoundError) as info:
        fetch_files(source, tmp_path, download=False)
    msg = str(info.value)
    assert msg.startswith(f"mnist: missing data file(s): {names[0]}\n")
    assert f"{tmp_path} holds only 1 of the 4 files ({names[0]}): all must be in one folder." in msg


def test_emsm_train_error_names_the_data_dir_switch_and_creates_nothing(tmp_path, monkeypatch, capsys):
    from emsm_np import cli

    _no_download(monkeypatch)  # a --data-dir is only read (tests/test_cli_edges.py)
    monkeypatch.delenv("EMSM_DEBUG", raising=False)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    argv = ["train", "--dataset", "mnist", "--data-dir", str(data_dir),
            "--run-dir", str(tmp_path / "run"), "--no-progress"]
    assert cli.main(argv) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith(f"emsm: error: --data-dir {data_dir}: mnist: train-images-idx3-ubyte.gz, ")
    assert f"missing from {data_dir} and {data_dir / 'mnist'}; put them in either" in err
    assert err.count("\n") == 1
    assert leftovers(data_dir) == [] and not (tmp_path / "run").exists()
