"""CIFAR-10/100 reader and loaders, on small archives in the official layout written here."""
import hashlib
import io
import os
import pickle
import pickletools
import struct
import tarfile

import numpy as np
import pytest

from emsm_np.data import Checksum, DataFileError, load_dataset, random_crop_flip, read_cifar_archive
from emsm_np.data import sources
from emsm_np.data.cifar import CIFAR_LAYOUTS


def fake_batches(kind, per_batch=4, seed=0):
    """{member name: batch dict} like the official pickles (bytes keys)."""
    layout = CIFAR_LAYOUTS[kind]
    rng = np.random.default_rng(seed)
    batches = {}
    for member in layout.train + layout.test:
        batches[member] = {
            b"batch_label": member.encode(),
            b"data": rng.integers(0, 256, size=(per_batch, 3072), dtype=np.uint8),
            layout.label_key: [int(v) for v in rng.integers(0, layout.num_classes, per_batch)],
        }
    return batches


class _Py2Pickler(pickle._Pickler):
    """Pickles as Python 2 wrote the official files: protocol 2, every string a
    byte string (BINSTRING), arrays rebuilt by numpy.core.multiarray._reconstruct."""

    dispatch = pickle._Pickler.dispatch.copy()

    def _binstring(self, raw):
        n = len(raw)
        self.write(pickle.SHORT_BINSTRING + bytes([n]) + raw if n < 256
                   else pickle.BINSTRING + struct.pack("<i", n) + raw)

    def save_bytes(self, obj):
        self._binstring(obj)
        self.memoize(obj)

    def save_str(self, obj):
        self._binstring(obj.encode("latin-1"))
        self.memoize(obj)

    dispatch[bytes] = save_bytes
    dispatch[str] = save_str


def py2_pickle(obj):
    buf = io.BytesIO()
    _Py2Pickler(buf, protocol=2).dump(obj)
    # NumPy 2 names its own module numpy._core; NumPy 1 (the official files) numpy.core.
    return buf.getvalue().replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n")


def write_archive(path, kind, batches, drop=(), style="py2"):
    """A tar.gz in the official layout; pickles Python-2 style, or NumPy-2 protocol 4."""
    layout = CIFAR_LAYOUTS[kind]
    dump = py2_pickle if style == "py2" else lambda b: pickle.dumps(b, protocol=4)
    with tarfile.open(path, "w:gz") as tar:
        for member, batch in batches.items():
            if member in drop:
                continue
            raw = batch if isinstance(batch, bytes) else dump(batch)
            info = tarfile.TarInfo(f"{layout.folder}/{member}")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    return path


def md5_of(path):
    return Checksum("md5", hashlib.md5(path.read_bytes()).hexdigest(), "file")


def test_rows_are_red_green_blue_planes_in_row_major_order(tmp_path):
    batches = fake_batches("cifar10", per_batch=2)
    row = np.concatenate([np.full(1024, 10), np.full(1024, 20), np.arange(1024) % 256]).astype(np.uint8)
    batches["test_batch"][b"data"][0] = row
    path = write_archive(tmp_path / "c10.tar.gz", "cifar10", batches)
    x_train, y_train, x_test, y_test = read_cifar_archive(path, "cifar10", md5_of(path))
    assert x_test[0, 0].min() == x_test[0, 0].max() == 10  # red plane
    assert x_test[0, 1].min() == x_test[0, 1].max() == 20  # green plane
    np.testing.assert_array_equal(x_test[0, 2, 1, :4], [32, 33, 34, 35])  # blue, row 1 starts at 32
    assert x_train.shape == (10, 3, 32, 32) and x_train.dtype == np.uint8
    assert y_train.shape == (10,) and y_train.dtype == np.int64


def test_python2_style_pickles_name_numpy_core_and_are_read():
    raw = py2_pickle({b"data": np.zeros((1, 3072), np.uint8), b"labels": [0]})
    opcodes = {op.name for op, _, _ in pickletools.genops(raw)}
    assert b"cnumpy.core.multiarray\n_reconstruct\n" in raw
    assert "SHORT_BINSTRING" in opcodes and not opcodes & {"BINUNICODE", "SHORT_BINUNICODE"}


@pytest.mark.parametrize("style", ["py2", "numpy2-protocol4"])
def test_cifar10_training_batches_are_joined_in_order(tmp_path, style):
    batches = fake_batches("cifar10", per_batch=3)
    path = write_archive(tmp_path / "c10.tar.gz", "cifar10", batches, style=style)
    x_train, y_train, _, y_test = read_cifar_archive(path, "cifar10")
    expected = np.concatenate([batches[f"data_batch_{i}"][b"data"] for i in range(1, 6)])
    np.testing.assert_array_equal(x_train.reshape(15, 3072), expected)
    np.testing.assert_array_equal(y_test, batches["test_batch"][b"labels"])


def test_cifar100_uses_fine_labels(tmp_path):
    batches = fake_batches("cifar100", per_batch=5)
    for b in batches.values():
        b[b"coarse_labels"] = [0] * 5
    path = write_archive(tmp_path / "c100.tar.gz", "cifar100", batches)
    x_train, y_train, x_test, y_test = read_cifar_archive(path, "cifar100")
    np.testing.assert_array_equal(y_train, batches["train"][b"fine_labels"])
    assert x_test.shape == (5, 3, 32, 32)


def test_wrong_archive_md5_names_file_and_expected_checksum(tmp_path):
    path = write_archive(tmp_path / "cifar-10-python.tar.gz", "cifar10", fake_batches("cifar10"))
    official = sources.SOURCES["cifar10"].files[0][1]
    with pytest.raises(DataFileError) as info:
        read_cifar_archive(path, "cifar10", official)
    msg = str(info.value)
    assert str(path) in msg and "checksum mismatch, expected md5 of the file c58f30108f718f92721af3b95e74349a" in msg


def test_truncated_archive_is_an_error_naming_it(tmp_path):
    path = write_archive(tmp_path / "c10.tar.gz", "cifar10", fake_batches("cifar10", per_batch=50))
    path.write_bytes(path.read_bytes()[: os.path.getsize(path) // 2])
    with pytest.raises(DataFileError, match=r"c10\.tar\.gz: corrupted or truncated tar\.gz archive"):
        read_cifar_archive(path, "cifar10")


def test_missing_member_and_wrong_data_shape_are_errors(tmp_path):
    batches = fake_batches("cifar10")
    path = write_archive(tmp_path / "a.tar.gz", "cifar10", batches, drop=("data_batch_3",))
    with pytest.raises(DataFileError, match=r"cifar-10-batches-py/data_batch_3 is missing from the archive"):
        read_cifar_archive(path, "cifar10")
    batches["test_batch"][b"data"] = np.zeros((4, 3000), np.uint8)
    path = write_archive(tmp_path / "b.tar.gz", "cifar10", batches)
    with pytest.raises(DataFileError, match=r"test_batch: b'data' must be a \(N, 3072\) uint8 array, got \(4, 3000\)"):
        read_cifar_archive(path, "cifar10")


def test_labels_out_of_range_are_errors(tmp_path):
    batches = fake_batches("cifar10")
    batches["data_batch_1"][b"labels"][0] = 10
    path = write_archive(tmp_path / "a.tar.gz", "cifar10", batches)
    with pytest.raises(DataFileError, match=r"data_batch_1: labels must lie in \[0, 10\), got \[\d+, 10\]"):
        read_cifar_archive(path, "cifar10")


class _Sneaky:
    def __reduce__(self):
        return (os.getcwd, ())  # harmless, but any callable would run on a plain pickle.load


def test_pickle_naming_other_globals_is_refused(tmp_path):
    batches = fake_batches("cifar10")
    batches["test_batch"] = pickle.dumps({b"data": _Sneaky(), b"labels": []}, protocol=4)
    path = write_archive(tmp_path / "evil.tar.gz", "cifar10", batches)
    with pytest.raises(DataFileError, match=r"test_batch: not a readable CIFAR batch \(global posix\.getcwd "
                                            r"is not allowed in a CIFAR batch\)"):
        read_cifar_archive(path, "cifar10")


def install_fake(monkeypatch, tmp_path, kind, per_batch=4):
    source = sources.SOURCES[kind]
    fname = source.files[0][0]
    (tmp_path / source.subdir).mkdir()
    path = write_archive(tmp_path / source.subdir / fname, kind, fake_batches(kind, per_batch))
    monkeypatch.setitem(sources.SOURCES, kind, source._replace(files=((fname, md5_of(path)),), mirrors=()))
    return path


@pytest.mark.parametrize("name, kind, classes", [("cifar10", "cifar10", 10), ("cifar100", "cifar100", 100)])
def test_load_cifar_subtracts_the_training_pixel_mean_from_both_sets(tmp_path, monkeypatch, name, kind, classes):
    path = install_fake(monkeypatch, tmp_path, kind)
    x_train_u8, _, x_test_u8, _ = read_cifar_archive(path, kind)
    ds = load_dataset(name, data_dir=tmp_path, download=False)
    assert ds.num_classes == classes and ds.augment is None
    assert ds.x_train.dtype == np.float32 and ds.x_train.shape == x_train_u8.shape
    mean = x_train_u8.mean(axis=0) / 255.0
    np.testing.assert_allclose(ds.x_train.mean(axis=0), 0.0, atol=1e-6)
    np.testing.assert_allclose(ds.x_test, x_test_u8 / 255.0 - mean, atol=1e-6)


def test_plus_variant_has_the_standard_augmentation_and_same_arrays(tmp_path, monkeypatch):
    install_fake(monkeypatch, tmp_path, "cifar10")
    plain = load_dataset("cifar10", data_dir=tmp_path, download=False)
    plus = load_dataset("cifar10+", data_dir=tmp_path, download=False)
    assert plus.name == "cifar10+" and plus.augment is random_crop_flip
    np.testing.assert_array_equal(plus.x_train, plain.x_train)
    np.testing.assert_array_equal(plus.x_test, plain.x_test)
