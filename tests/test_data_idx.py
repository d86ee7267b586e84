"""IDX reader and the MNIST / Fashion-MNIST loaders, on small files written here."""
import gzip
import hashlib
import re
import struct

import numpy as np
import pytest

from emsm_np.data import Checksum, DataFileError, load_dataset, parse_idx, read_idx_images, read_idx_labels
from emsm_np.data import sources
from emsm_np.data.idx import IMAGES_MAGIC, LABELS_MAGIC


def idx_content(array, magic):
    return struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def write_gz(path, content):
    path.write_bytes(gzip.compress(content, mtime=0))
    return path


def sha256(content):
    return Checksum("sha256", hashlib.sha256(content).hexdigest(), "content")


def test_parse_idx_images_and_labels_roundtrip():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(5, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=5, dtype=np.uint8)
    np.testing.assert_array_equal(parse_idx(idx_content(images, IMAGES_MAGIC)), images)
    np.testing.assert_array_equal(parse_idx(idx_content(labels, LABELS_MAGIC)), labels)


def test_parse_idx_big_endian_int32_and_returned_array_is_writable():
    a = np.arange(6, dtype=">i4").reshape(2, 3)
    out = parse_idx(idx_content(a, 0x00000C02))
    np.testing.assert_array_equal(out, a)
    assert out.dtype == np.int32 and out.flags.writeable


def test_read_gz_images_with_content_checksum(tmp_path):
    images = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    content = idx_content(images, IMAGES_MAGIC)
    path = write_gz(tmp_path / "i.gz", content)
    np.testing.assert_array_equal(read_idx_images(path, sha256(content)), images)


def test_uncompressed_idx_under_gz_name_is_accepted(tmp_path):
    labels = np.array([3, 1, 4], np.uint8)
    path = tmp_path / "l.gz"
    path.write_bytes(idx_content(labels, LABELS_MAGIC))
    np.testing.assert_array_equal(read_idx_labels(path), labels)


def test_labels_file_read_as_images_is_wrong_magic_error(tmp_path):
    path = write_gz(tmp_path / "labels.gz", idx_content(np.zeros(4, np.uint8), LABELS_MAGIC))
    with pytest.raises(DataFileError, match=r"labels\.gz: wrong IDX magic number 0x00000801, expected 0x00000803"):
        read_idx_images(path)


def test_non_idx_bytes_are_rejected_naming_the_magic():
    with pytest.raises(DataFileError, match=r"<bytes>: not an IDX file \(magic number 0x89504e47\)"):
        parse_idx(b"\x89PNG\r\n\x1a\n" + bytes(20))


def test_truncated_data_is_an_error_not_a_short_array(tmp_path):
    content = idx_content(np.zeros((3, 28, 28), np.uint8), IMAGES_MAGIC)
    path = write_gz(tmp_path / "short.gz", content[:-10])
    with pytest.raises(DataFileError, match=r"short\.gz: IDX file truncated: header shape \(3, 28, 28\) "
                                            r"needs 2368 bytes, got 2358"):
        read_idx_images(path)


def test_trailing_bytes_and_truncated_header_are_errors():
    content = idx_content(np.zeros(4, np.uint8), LABELS_MAGIC)
    with pytest.raises(DataFileError, match="has trailing bytes"):
        parse_idx(content + b"\x00")
    with pytest.raises(DataFileError, match=r"truncated IDX header \(6 bytes, need 8\)"):
        parse_idx(content[:6])
    with pytest.raises(DataFileError, match=r"too short for an IDX file \(2 bytes"):
        parse_idx(b"\x00\x00")


def test_truncated_gzip_names_file_and_expected_checksum(tmp_path):
    content = idx_content(np.ones((50, 28, 28), np.uint8), IMAGES_MAGIC)
    path = tmp_path / "cut.gz"
    path.write_bytes(gzip.compress(content)[:-30])
    check = sha256(content)
    with pytest.raises(DataFileError) as info:
        read_idx_images(path, check)
    msg = str(info.value)
    assert str(path) in msg and "corrupted or truncated gzip file" in msg
    assert check.hexdigest in msg and "sha256 of the decompressed content" in msg


def test_wrong_checksum_names_file_expected_and_actual(tmp_path):
    content = idx_content(np.zeros(4, np.uint8), LABELS_MAGIC)
    path = write_gz(tmp_path / "l.gz", content)
    wrong = Checksum("sha256", "0" * 64, "content")
    with pytest.raises(DataFileError) as info:
        read_idx_labels(path, wrong)
    msg = str(info.value)
    assert f"{path}: checksum mismatch, expected sha256 of the decompressed content {'0' * 64}" in msg
    assert hashlib.sha256(content).hexdigest() in msg


def test_recompressed_copy_passes_the_content_checksum(tmp_path):
    # Mirrors re-compress MNIST: a different .gz of the same content must pass.
    content = idx_content(np.arange(10, dtype=np.uint8), LABELS_MAGIC)
    a = tmp_path / "a.gz"
    b = tmp_path / "b.gz"
    a.write_bytes(gzip.compress(content, compresslevel=1, mtime=0))
    b.write_bytes(gzip.compress(content, compresslevel=9, mtime=123))
    assert a.read_bytes() != b.read_bytes()
    for path in (a, b):
        np.testing.assert_array_equal(read_idx_labels(path, sha256(content)), np.arange(10))


def write_fake_mnist(folder, n_train=20, n_test=10, seed=0):
    """Four small MNIST-format files; returns {file name: content} ."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    contents = {}
    for split, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        contents[f"{split}-images-idx3-ubyte.gz"] = idx_content(images, IMAGES_MAGIC)
        contents[f"{split}-labels-idx1-ubyte.gz"] = idx_content(labels, LABELS_MAGIC)
    for name, content in contents.items():
        write_gz(folder / name, content)
    return contents


def patch_checksums(monkeypatch, name, contents, kind="content"):
    source = sources.SOURCES[name]
    files = []
    for fname, _ in source.files:
        if kind == "content":
            files.append((fname, sha256(contents[fname])))
        else:
            gz = gzip.compress(contents[fname], mtime=0)
            files.append((fname, Checksum("md5", hashlib.md5(gz).hexdigest(), "file")))
    monkeypatch.setitem(sources.SOURCES, name, source._replace(files=tuple(files), mirrors=()))


def test_load_mnist_from_data_dir_scales_to_unit_interval(tmp_path, monkeypatch):
    contents = write_fake_mnist(tmp_path / "mnist")
    patch_checksums(monkeypatch, "mnist", contents)
    ds = load_dataset("mnist", data_dir=tmp_path, download=False)
    assert ds.name == "mnist" and ds.num_classes == 10 and ds.augment is None
    assert ds.x_train.shape == (20, 1, 28, 28) and ds.x_test.shape == (10, 1, 28, 28)
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int64
    raw = np.frombuffer(contents["train-images-idx3-ubyte.gz"], np.uint8, offset=16).reshape(20, 1, 28, 28)
    np.testing.assert_allclose(ds.x_train, raw / 255.0, rtol=1e-6)
    assert 0.0 <= ds.x_train.min() and ds.x_train.max() <= 1.0
    np.testing.assert_array_equal(ds.y_test, np.arange(10))


@pytest.mark.parametrize("name, digest", [("mnist", "ba891046e6505d7a"), ("fashion-mnist", "c59f468a2f672dc8")])
def test_load_with_official_checksums_rejects_other_content(tmp_path, name, digest):
    write_fake_mnist(tmp_path / name)
    with pytest.raises(DataFileError, match=r"train-images-idx3-ubyte\.gz: checksum mismatch, expected sha256 "
                                            rf"of the decompressed content {digest}"):
        load_dataset(name, data_dir=tmp_path, download=False)


def test_fashion_mnist_accepts_a_recompressed_copy_by_its_content_checksum(tmp_path, monkeypatch):
    # Linux distributions re-compress Fashion-MNIST: other .gz bytes, same IDX content.
    contents = write_fake_mnist(tmp_path / "fashion-mnist", seed=1)
    patch_checksums(monkeypatch, "fashion-mnist", contents)
    path = tmp_path / "fashion-mnist" / "t10k-labels-idx1-ubyte.gz"
    before = path.read_bytes()
    path.write_bytes(gzip.compress(contents["t10k-labels-idx1-ubyte.gz"], compresslevel=1, mtime=7))
    assert path.read_bytes() != before
    ds = load_dataset("fashion-mnist", data_dir=tmp_path, download=False)
    assert ds.name == "fashion-mnist" and ds.x_train.shape == (20, 1, 28, 28)
    np.testing.assert_array_equal(ds.y_test, np.arange(10))
    # Other content under the same name still fails, naming the file.
    write_gz(path, idx_content(np.ones(10, np.uint8), LABELS_MAGIC))
    with pytest.raises(DataFileError, match=r"fashion-mnist/t10k-labels-idx1-ubyte\.gz: checksum mismatch, "
                                            r"expected sha256 of the decompressed content"):
        load_dataset("fashion-mnist", data_dir=tmp_path, download=False)


def test_official_fashion_mnist_checksums_are_sha256s_of_the_decompressed_files():
    checks = dict(sources.SOURCES["fashion-mnist"].files)
    assert {c.algorithm for c in checks.values()} == {"sha256"}
    assert {c.of for c in checks.values()} == {"content"}
    assert {name: c.hexdigest for name, c in checks.items()} == {
        "train-images-idx3-ubyte.gz": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        "train-labels-idx1-ubyte.gz": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        "t10k-images-idx3-ubyte.gz": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        "t10k-labels-idx1-ubyte.gz": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    }



def test_load_mnist_from_files_directly_in_data_dir(tmp_path, monkeypatch):
    contents = write_fake_mnist(tmp_path)  # DIR/train-images-idx3-ubyte.gz, no DIR/mnist/
    patch_checksums(monkeypatch, "mnist", contents)
    ds = load_dataset("mnist", data_dir=tmp_path, download=False)
    assert ds.x_train.shape == (20, 1, 28, 28) and ds.x_test.shape == (10, 1, 28, 28)
    assert not (tmp_path / "mnist").exists()


def test_corrupted_file_directly_in_data_dir_is_named(tmp_path, monkeypatch):
    contents = write_fake_mnist(tmp_path)
    patch_checksums(monkeypatch, "mnist", contents)
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-40])  # truncated
    with pytest.raises(DataFileError) as info:
        load_dataset("mnist", data_dir=tmp_path, download=False)
    msg = str(info.value)
    assert msg.startswith(f"{path}: corrupted or truncated gzip file")
    assert f"expected sha256 of the decompressed content {hashlib.sha256(contents[path.name]).hexdigest()}" in msg
    # Bytes that decompress but differ: a checksum mismatch, naming the file.
    write_gz(path, contents[path.name][:-1] + b"\x01")
    with pytest.raises(DataFileError, match=re.escape(f"{path}: checksum mismatch")):
        load_dataset("mnist", data_dir=tmp_path, download=False)


def test_image_and_label_counts_must_agree(tmp_path, monkeypatch):
    contents = write_fake_mnist(tmp_path / "mnist")
    contents["t10k-labels-idx1-ubyte.gz"] = idx_content(np.zeros(9, np.uint8), LABELS_MAGIC)
    write_gz(tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz", contents["t10k-labels-idx1-ubyte.gz"])
    patch_checksums(monkeypatch, "mnist", contents)
    with pytest.raises(DataFileError, match="10 test images but 9 labels"):
        load_dataset("mnist", data_dir=tmp_path, download=False)


def test_unknown_dataset_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"name must be one of 'mnist-sample', 'mnist', 'fashion-mnist', "
                                         r"'cifar10', 'cifar10\+', 'cifar100', 'cifar100\+'; got 'imagenet'"):
        load_dataset("imagenet")
