"""The MNIST sample shipped in the package, and the script that makes it."""
import gzip
import hashlib
import importlib.util
import os
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

from emsm_np.data import DataFileError, DataNotFoundError, load_dataset, load_sample
from emsm_np.data import sample as sample_module

ROOT = Path(__file__).resolve().parent.parent
# Real MNIST, where the machine has it: EMSM_TEST_MNIST names a folder with the four .gz files
# (CI sets it where its machines keep them; a user's clone skips the one test that needs it).
REAL_MNIST = Path(os.environ["EMSM_TEST_MNIST"]) if os.environ.get("EMSM_TEST_MNIST") else None


def load_script():
    spec = importlib.util.spec_from_file_location("make_mnist_sample", ROOT / "scripts" / "make_mnist_sample.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_default_dataset_is_the_embedded_sample_with_paper_preprocessing():
    ds = load_dataset()
    assert ds.name == "mnist-sample" and ds.num_classes == 10 and ds.augment is None
    assert ds.x_train.shape == (10000, 1, 28, 28) and ds.x_test.shape == (2000, 1, 28, 28)
    assert ds.x_train.dtype == np.float32 and ds.x_test.dtype == np.float32
    assert ds.y_train.dtype == np.int64 and ds.y_test.dtype == np.int64
    assert ds.x_train.min() == 0.0 and ds.x_train.max() == 1.0
    # Real MNIST statistics (full set: mean 0.1307, std 0.3081 on [0, 1]).
    assert abs(float(ds.x_train.mean()) - 0.1307) < 0.005
    assert abs(float(ds.x_train.std()) - 0.3081) < 0.005


def test_sample_is_balanced_over_all_ten_classes():
    _, y_train, _, y_test = load_sample()
    np.testing.assert_array_equal(np.bincount(y_train, minlength=10), [1000] * 10)
    np.testing.assert_array_equal(np.bincount(y_test, minlength=10), [200] * 10)


def test_sample_fits_in_two_megabytes_and_carries_its_attribution():
    files = sorted(sample_module.SAMPLE_DIR.iterdir())
    assert sum(p.stat().st_size for p in files) < 2_000_000
    readme = (sample_module.SAMPLE_DIR / "README.md").read_text(encoding="utf-8")
    assert "Yann LeCun, Corinna Cortes and Christopher J.C. Burges" in readme and "CC BY-SA 3.0" in readme
    for name, digest in sample_module.SAMPLE_SHA256.items():
        assert f"{digest}  {name}" in readme


def test_damaged_sample_is_a_checksum_error(tmp_path, monkeypatch):
    for p in sample_module.SAMPLE_DIR.iterdir():
        shutil.copy(p, tmp_path / p.name)
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    content = bytearray(gzip.decompress(path.read_bytes()))
    content[-1] = (content[-1] + 1) % 10  # one label changed, still a valid IDX file
    path.write_bytes(gzip.compress(bytes(content)))
    monkeypatch.setattr(sample_module, "SAMPLE_DIR", tmp_path)
    expected = sample_module.SAMPLE_SHA256["t10k-labels-idx1-ubyte.gz"]
    with pytest.raises(DataFileError, match=f"t10k-labels-idx1-ubyte.gz: checksum mismatch, expected sha256 "
                                            f"of the decompressed content {expected}"):
        load_sample()
    path.unlink()
    with pytest.raises(DataNotFoundError, match="the embedded MNIST sample file .*t10k-labels-idx1-ubyte.gz is missing"):
        load_sample()


def _fake_mnist(folder, n=60, seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir()
    for split in ("train", "t10k"):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = rng.permutation(np.arange(n) % 10).astype(np.uint8)
        (folder / f"{split}-images-idx3-ubyte.gz").write_bytes(
            gzip.compress(struct.pack(">IIII", 0x803, n, 28, 28) + images.tobytes()))
        (folder / f"{split}-labels-idx1-ubyte.gz").write_bytes(
            gzip.compress(struct.pack(">II", 0x801, n) + labels.tobytes()))


def test_script_is_byte_for_byte_reproducible_and_stratified(tmp_path):
    script = load_script()
    _fake_mnist(tmp_path / "src")
    sums_a = script.make_sample(tmp_path / "src", tmp_path / "a", {"train": 3, "t10k": 2}, seed=5)
    sums_b = script.make_sample(tmp_path / "src", tmp_path / "b", {"train": 3, "t10k": 2}, seed=5)
    assert sums_a == sums_b
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "b").iterdir())
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    from emsm_np.data import read_idx_labels

    labels = read_idx_labels(tmp_path / "a" / "train-labels-idx1-ubyte.gz")
    np.testing.assert_array_equal(np.bincount(labels, minlength=10), [3] * 10)
    other = script.make_sample(tmp_path / "src", tmp_path / "c", {"train": 3, "t10k": 2}, seed=6)
    assert other != sums_a


def test_script_rejects_classes_smaller_than_the_request(tmp_path):
    script = load_script()
    _fake_mnist(tmp_path / "src", n=20)
    with pytest.raises(ValueError, match="class 0 has 2 items, fewer than per_class=3"):
        script.make_sample(tmp_path / "src", tmp_path / "out", {"train": 3, "t10k": 1})


@pytest.mark.skipif(REAL_MNIST is None or not REAL_MNIST.is_dir(),
                    reason="real MNIST not given: set EMSM_TEST_MNIST to a folder with the four MNIST .gz files")
def test_script_rebuilds_the_shipped_sample_from_real_mnist(tmp_path):
    script = load_script()
    from emsm_np.data.sources import MNIST_FILES

    sums = script.make_sample(REAL_MNIST, tmp_path, checksums=dict(MNIST_FILES))
    assert sums == sample_module.SAMPLE_SHA256
    for name in sums:
        shipped = sample_module.SAMPLE_DIR / name
        assert hashlib.sha256(gzip.decompress(shipped.read_bytes())).hexdigest() == sums[name]
