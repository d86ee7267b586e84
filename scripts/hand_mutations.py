"""Hand-made mutations: write each deliberate bug into a copy of the tree and count the tests it fails.

Each entry of ``MUTATIONS`` is one bug (a text in a source file and its replacement) and the
test files that should catch it. The script writes each bug into a fresh copy of the
committed tree (``git archive HEAD``), runs those test files (GPU ones on the CuPy double, as
CI does) and prints a Markdown table of the failing tests per bug. A mutation whose text is
no longer in the source is reported as "not applied" (the code moved: update the table
here), never silently counted as caught; the exit status is 1 if any bug fails no test or
is not applied.

The list is issue 11's: twelve kinds of bugs that once passed every test
(docs/results/mutation.md tells the before and after). mutmut's generated mutants are
summarised by scripts/mutation_report.py instead; this script needs neither mutmut nor its
``mutants/`` folder.

    python scripts/hand_mutations.py            # all, about 5 minutes on 2 cores
    python scripts/hand_mutations.py -k evaluate

Run it from the repository root; it leaves nothing behind.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

# (the mutation, file, text, replacement, tests run)
MUTATIONS = [
    ("margin and lambda dropped when the network is built from the config", "emsm_np/training/config.py",
     '"margin": cfg.margin, "lam": cfg.lam,', '"margin": 0.0, "lam": 0.0,', ["tests/test_training.py"]),
    ("normalize not passed through", "emsm_np/training/config.py",
     '"normalize": cfg.normalize, ', "", ["tests/test_training.py"]),
    ("no momentum", "emsm_np/training/loop.py",
     "momentum=cfg.momentum,", "momentum=0.0,", ["tests/test_training.py"]),
    ("no weight decay", "emsm_np/training/loop.py",
     "weight_decay=cfg.weight_decay,", "weight_decay=0.0,", ["tests/test_training.py"]),
    ("no augmentation", "emsm_np/data/batches.py",
     "            xb = augment(xb, batch_rng(seed, epoch, b))", "            pass",
     ["tests/test_training.py", "tests/test_data_batches.py"]),
    ("the same augmentation every epoch", "emsm_np/data/batches.py",
     "augment(xb, batch_rng(seed, epoch, b))", "augment(xb, batch_rng(seed, 0, b))",
     ["tests/test_training.py", "tests/test_data_batches.py"]),
    ("evaluate() counts only the last batch", "emsm_np/training/evaluate.py",
     "correct += int(", "correct = int(", ["tests/test_evaluate.py"]),
    ("agreement with any instead of all", "emsm_np/training/evaluate.py",
     "(weak_pred == weak_pred[:1]).all(axis=0)", "(weak_pred == weak_pred[:1]).any(axis=0)",
     ["tests/test_evaluate.py"]),
    ("batch-norm running statistics reset after loading a checkpoint", "emsm_np/training/loop.py",
     "        load_model_state(net, model_state, ckpt_path)\n",
     "        load_model_state(net, model_state, ckpt_path)\n"
     "        for _l in net.features.layers:\n"
     "            if 'running_mean' in getattr(_l, 'buffers', {}):\n"
     "                _l.buffers['running_mean'][...] = 0\n"
     "                _l.buffers['running_var'][...] = 1\n",
     ["tests/test_training.py"]),
    ("dloss ignored in the margin cross-entropy backward", "emsm_np/functional/margin_cross_entropy.py",
     "dz *= dloss / n", "dz *= 1.0 / n", ["tests/test_em_softmax.py"]),
    ("zero-norm columns in normalize get g instead of g / eps", "emsm_np/functional/normalize.py",
     "dW = (dW_hat - w_hat * xp.where(clamped, 0, radial)) / r",
     "dW = xp.where(clamped, dW_hat, (dW_hat - w_hat * radial) / r)", ["tests/test_em_softmax.py"]),
    ("an interrupted run exits 0 instead of 130", "emsm_np/cli.py",
     "EXIT_INTERRUPTED = 130", "EXIT_INTERRUPTED = 0", ["tests/test_cli.py"]),
    ("cifar100 given the cifar10 schedule", "emsm_np/training/config.py",
     'if dataset.startswith("cifar100"):\n        return "cifar100"',
     'if dataset.startswith("cifar100"):\n        return "cifar10"', ["tests/test_cli.py", "tests/test_training.py"]),
    # (the GPU tests, on the CuPy double: the CPU-only machine can only show the no-GPU error)
    ("evaluate --device ignored", "emsm_np/cli.py",
     "    net.to(args.device)\n    ev = evaluate(net, ds.x_test, ds.y_test, device=args.device)",
     '    net.to("cpu")\n    ev = evaluate(net, ds.x_test, ds.y_test)', ["tests/test_cli.py", "gpu:tests/test_gpu_path.py"]),
    ("optimiser velocity not restored on resume", "emsm_np/training/loop.py",
     "        opt.load_state_dict(optim_state)\n", "", ["tests/test_training.py"]),
    ("margin sign flipped", "emsm_np/functional/margin_cross_entropy.py",
     "zt[rows, y] -= margin", "zt[rows, y] += margin", ["tests/test_em_softmax.py"]),
]


def run_one(tree, name, path, old, new, tests):
    src = os.path.join(tree, path)
    text = open(src).read()
    if text.count(old) != 1:
        return f"not applied ({text.count(old)} matches of the text in {path})"
    open(src, "w").write(text.replace(old, new))
    failed = errors = 0
    try:
        env = dict(os.environ, PYTHONPATH=tree, EMSM_DATA=os.path.join(tree, ".no-data"))
        cpu = [t for t in tests if not t.startswith("gpu:")]
        gpu = [t[4:] for t in tests if t.startswith("gpu:")]  # run as CI does: on the CuPy double
        for files, marker, extra in ((cpu, "not gpu", {}), (gpu, "gpu", {"EMSM_CUPY_DOUBLE": "1"})):
            if not files:
                continue
            out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                                  "-m", marker, *files], cwd=tree, env=dict(env, **extra),
                                 capture_output=True, text=True).stdout
            tail = out.strip().splitlines()[-1] if out.strip() else ""
            failed += int(m.group(1)) if (m := re.search(r"(\d+) failed", tail)) else 0
            errors += int(m.group(1)) if (m := re.search(r"(\d+) error", tail)) else 0
    finally:
        open(src, "w").write(text)
    return failed, errors


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("-k", default="", help="only the mutations whose description contains this text")
    args = p.parse_args(argv)
    print("| mutation (issue 11's table) | tests run | failing tests | errors |")
    print("|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tree:
        archive = subprocess.run(["git", "archive", "HEAD"], capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", tree], input=archive, check=True)
        bad = 0
        for name, path, old, new, tests in MUTATIONS:
            if args.k not in name:
                continue
            result = run_one(tree, name, path, old, new, tests)
            if isinstance(result, str):
                print(f"| {name} | {', '.join(tests)} | {result} | - |", flush=True)
                bad += 1
                continue
            failed, errors = result
            bad += failed == 0 and errors == 0
            print(f"| {name} | {', '.join(t.split('/')[-1] for t in tests)} | {failed} | {errors} |", flush=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
