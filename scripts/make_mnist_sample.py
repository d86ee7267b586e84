"""Make the MNIST sample embedded in emsm_np (emsm_np/data/sample/).

Draws a stratified subset of the standard MNIST files, the same number of
images of every class, and writes it as gzip-compressed IDX files (the format
of the originals) plus a README with the attribution, licence and checksums::

    python scripts/make_mnist_sample.py --source DIR          # DIR: the four MNIST .gz files
    python scripts/make_mnist_sample.py --source DIR --out DIR

The source files are checked against the MNIST content checksums. The output
depends only on the source content, the counts and the seed: each class's
images are ranked by keys from ``Generator(PCG64(seed)).random``, and the
first ``k`` kept in their original order; gzip is written with mtime 0 and no
file name. Running the script twice gives byte-identical files.
"""
import argparse
import gzip
import hashlib
import struct
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

from emsm_np.data.idx import IMAGES_MAGIC, LABELS_MAGIC, read_idx_images, read_idx_labels  # noqa: E402
from emsm_np.data.sources import MNIST_FILES  # noqa: E402

DEFAULT_OUT = ROOT / "emsm_np" / "data" / "sample"
SEED = 2018  # the paper's year; any fixed value would do
SPLITS = (("train", 1000), ("t10k", 200))

README = """\
# Embedded MNIST sample

A stratified subset of the MNIST database of handwritten digits, shipped with
emsm_np so that the examples and tests run without downloading anything:

| file | content |
|---|---|
{rows}

Every class has the same number of images: {counts}.
Made by `scripts/make_mnist_sample.py` (seed {seed}) from the standard MNIST
files: each class's images are ranked by random keys and the first ones kept,
in their original order. The sha256 of each file's decompressed content (checked
by `emsm_np.data.load_sample`):

{sums}

## Attribution and licence

MNIST is by Yann LeCun, Corinna Cortes and Christopher J.C. Burges
(http://yann.lecun.com/exdb/mnist/), and is distributed under the Creative
Commons Attribution-Share Alike 3.0 licence (CC BY-SA 3.0,
https://creativecommons.org/licenses/by-sa/3.0/). These files are a subset of
it (images and labels unchanged, a selection of them), distributed under the
same licence.
"""


def idx_bytes(array, magic):
    """The IDX encoding of a uint8 array: magic, big-endian uint32 dimensions, data."""
    header = struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def stratified_indices(labels, per_class, seed, num_classes=10):
    """Sorted indices of ``per_class`` items of each class, drawn reproducibly with ``seed``."""
    keys = np.random.Generator(np.random.PCG64(seed)).random(labels.shape[0])
    chosen = []
    for c in range(num_classes):
        members = np.flatnonzero(labels == c)
        if members.size < per_class:
            raise ValueError(f"class {c} has {members.size} items, fewer than per_class={per_class}")
        # A stable sort: ties (vanishingly unlikely) are broken by index.
        chosen.append(members[np.argsort(keys[members], kind="stable")[:per_class]])
    return np.sort(np.concatenate(chosen))


def make_sample(source, out, per_class=dict(SPLITS), seed=SEED, checksums=None):
    """Write the sample files and README into ``out``; return {file name: content sha256}.

    ``checksums`` maps source file names to Checksums to verify (None: no check).
    """
    source, out = Path(source), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    checksums = checksums or {}
    sums, rows = {}, []
    for split, k in per_class.items():
        images_name, labels_name = f"{split}-images-idx3-ubyte.gz", f"{split}-labels-idx1-ubyte.gz"
        images = read_idx_images(source / images_name, checksums.get(images_name))
        labels = read_idx_labels(source / labels_name, checksums.get(labels_name))
        idx = stratified_indices(labels, k, seed)
        for name, array, magic in ((images_name, images[idx], IMAGES_MAGIC),
                                   (labels_name, labels[idx], LABELS_MAGIC)):
            content = idx_bytes(array, magic)
            # mtime=0 and no file name in the header: the bytes depend on content only.
            (out / name).write_bytes(gzip.compress(content, compresslevel=9, mtime=0))
            sums[name] = hashlib.sha256(content).hexdigest()
            rows.append(f"| {name} | {' x '.join(map(str, array.shape))} |")
    counts = ", ".join(f"{k} per class in {split}" for split, k in per_class.items())
    text = README.format(rows="\n".join(rows), counts=counts, seed=seed,
                         sums="\n".join(f"    {s}  {n}" for n, s in sums.items()))
    (out / "README.md").write_text(text, encoding="utf-8")
    return sums


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, required=True,
                        help="folder with the four MNIST .gz files (e.g. $EMSM_DATA/mnist)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT})")
    parser.add_argument("--train-per-class", type=int, default=dict(SPLITS)["train"])
    parser.add_argument("--test-per-class", type=int, default=dict(SPLITS)["t10k"])
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    sums = make_sample(args.source, args.out, {"train": args.train_per_class, "t10k": args.test_per_class},
                       args.seed, dict(MNIST_FILES))
    total = 0
    for name, digest in sums.items():
        size = (args.out / name).stat().st_size
        total += size
        print(f"{digest}  {name}  ({size} bytes)")
    print(f"total {total} bytes in {args.out}")


if __name__ == "__main__":
    main()
