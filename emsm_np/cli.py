"""The ``emsm`` command line: ``emsm train`` and ``emsm evaluate``.

Errors in what the user typed are one line on stderr and exit status 2, not a
traceback.
"""
import argparse
import json
import os
import sys
import time

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def _parser():
    from .functional.normalize import NORMALIZE_MODES
    from .models.configs import NETWORKS
    from .training.config import LOSSES, SCHEDULES

    p = argparse.ArgumentParser(prog="emsm", description="Train and evaluate CNNs with the EM-Softmax loss (NumPy/CuPy).")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a network (default: EM-Softmax, lenet, embedded MNIST sample, CPU)")
    t.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run from its last checkpoint")
    t.add_argument("--run-dir", help="where to write the run (default: runs/<time>-<network>-<loss>)")
    t.add_argument("--network", default="lenet", help=f"one of {', '.join(NETWORKS)} (default lenet)")
    t.add_argument("--dataset", default="mnist-sample",
                   help="mnist-sample (embedded, default), mnist, fashion-mnist, cifar10, cifar10+, cifar100, cifar100+")
    t.add_argument("--data-dir", help="directory with the data files (else $EMSM_DATA, else a per-user cache)")
    t.add_argument("--loss", default="em-softmax", help=f"one of {', '.join(LOSSES)}")
    t.add_argument("--margin", type=float, help="soft margin m >= 0 (Eq. 4)")
    t.add_argument("--ensemble", type=int, help="number of weak classifiers V >= 1")
    t.add_argument("--lam", type=float, help="HSIC diversity weight lambda >= 0")
    t.add_argument("--normalize", default="column", help=f"one of {', '.join(NORMALIZE_MODES)}")
    t.add_argument("--feature-dim", type=int, help="width of the FC feature layer (2 for feature plots)")
    t.add_argument("--activation", help="prelu or relu")
    t.add_argument("--schedule", default=None,
                   help=f"learning-rate preset, one of {', '.join(SCHEDULES)} (default: quick for mnist-sample, "
                        "else the paper's schedule for the dataset)")
    t.add_argument("--batch-size", type=int, default=64)
    t.add_argument("--lr", type=float, help="base learning rate (default from the schedule)")
    t.add_argument("--milestones", type=int, nargs="*", help="iterations at which the learning rate is divided by 10")
    t.add_argument("--max-iter", type=int, help="number of iterations (default from the schedule)")
    t.add_argument("--eval-every", type=int, help="evaluate and checkpoint every N iterations")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--device", default="cpu", help="cpu or gpu (CuPy)")
    t.add_argument("--dtype", default="float32", help="float32 or float64")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    t.add_argument("--threads", type=int, help="CPU worker threads (default: $EMSM_NUM_THREADS, else every "
                   "usable core); a resumed run keeps its own count")

    e = sub.add_parser("evaluate", help="test accuracy of a run (averaged and per weak classifier)")
    e.add_argument("path", metavar="RUN_DIR_OR_CHECKPOINT")
    e.add_argument("--data-dir")
    e.add_argument("--device", default="cpu")
    e.add_argument("--threads", type=int, help="CPU worker threads (default: $EMSM_NUM_THREADS, else every usable core)")
    return p


def _default_schedule(dataset):
    if dataset == "mnist-sample":
        return "quick"
    if dataset.startswith("cifar100"):
        return "cifar100"
    if dataset.startswith("cifar10"):
        return "cifar10"
    return "mnist"


def _train(args):
    from .training import TrainConfig, TrainingInterrupted, train

    if args.resume:
        summary = train(None, args.resume, resume=True, progress=not args.no_progress)
    else:
        if args.data_dir is not None and not os.path.isdir(args.data_dir):
            raise ValueError(f"--data-dir {args.data_dir} does not exist or is not a directory")
        cfg = TrainConfig(
            network=args.network, dataset=args.dataset, data_dir=args.data_dir, loss=args.loss,
            ensemble=args.ensemble, margin=args.margin, lam=args.lam, normalize=args.normalize,
            feature_dim=args.feature_dim, activation=args.activation,
            schedule=args.schedule or _default_schedule(args.dataset), batch_size=args.batch_size,
            lr=args.lr, milestones=args.milestones, max_iter=args.max_iter,
            eval_every=args.eval_every, seed=args.seed, device=args.device, dtype=args.dtype)
        cfg = cfg.resolved()  # validate before creating any directory
        run_dir = args.run_dir or os.path.join(
            "runs", f"{time.strftime('%Y%m%d-%H%M%S')}-{cfg.network}-{cfg.loss}")
        _check_writable(run_dir)
        try:
            summary = train(cfg, run_dir, progress=not args.no_progress)
        except TrainingInterrupted as exc:
            print(f"emsm: {exc}", file=sys.stderr)
            return EXIT_INTERRUPTED
    weak = ", ".join(f"{100 * a:.2f}%" for a in summary["weak_accuracy"])
    print(f"done: test accuracy {100 * summary['test_accuracy']:.2f}% (weak classifiers: {weak}) "
          f"in {summary['wall_time']:.1f} s; run in {summary['run_dir']}")
    return 0


def _check_writable(run_dir):
    parent = os.path.dirname(os.path.abspath(run_dir))
    probe = run_dir if os.path.isdir(run_dir) else parent
    while not os.path.exists(probe):
        probe = os.path.dirname(probe)
    if not os.path.isdir(probe) or not os.access(probe, os.W_OK | os.X_OK):
        raise ValueError(f"--run-dir {run_dir} cannot be written ({probe} is not a writable directory)")


def _evaluate(args):
    from .data import load_dataset
    from .training import build_from_config, evaluate, load_checkpoint
    from .training.config import TrainConfig

    path = args.path
    ckpt = os.path.join(path, "checkpoint.npz") if os.path.isdir(path) else path
    cfg_path = os.path.join(os.path.dirname(os.path.abspath(ckpt)), "config.json")
    if not os.path.isfile(ckpt):
        raise ValueError(f"{path}: no checkpoint found (expected a run directory or a checkpoint.npz)")
    if not os.path.isfile(cfg_path):
        raise ValueError(f"{path}: no config.json beside the checkpoint")
    with open(cfg_path) as f:
        cfg = TrainConfig.from_json(f.read()).resolved()
    ds = load_dataset(cfg.dataset, data_dir=args.data_dir or cfg.data_dir)
    net = build_from_config(cfg, ds.num_classes, ds.x_train.shape[1])
    model_state, _, meta = load_checkpoint(ckpt)
    net.load_state_dict(model_state)
    net.to(args.device)
    ev = evaluate(net, ds.x_test, ds.y_test, device=args.device)
    print(json.dumps({"checkpoint": os.path.abspath(ckpt), "iteration": meta["iteration"],
                      "dataset": cfg.dataset, "test_accuracy": ev["accuracy"],
                      "weak_accuracy": ev["weak_accuracy"], "agreement": ev["agreement"]}, indent=2))
    return 0


def main(argv=None):
    from .backend import GPUUnavailableError

    args = _parser().parse_args(argv)
    try:
        if args.threads is not None:
            if args.threads < 1:
                raise ValueError(f"--threads must be a positive integer, got {args.threads}")
            from .parallel import set_num_threads

            set_num_threads(args.threads)
        if args.command == "train":
            return _train(args)
        return _evaluate(args)
    except (ValueError, TypeError, GPUUnavailableError, OSError, FloatingPointError) as exc:
        if os.environ.get("EMSM_DEBUG"):
            raise
        print(f"emsm: error: {exc} (set EMSM_DEBUG=1 for a traceback)", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
