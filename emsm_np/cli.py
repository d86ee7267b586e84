"""The ``emsm`` command line: ``emsm train``, ``emsm evaluate``, ``emsm info``, ``emsm reproduce`` and
``emsm gradcheck``.

Errors in what the user typed (a switch, a data folder, a run folder, a checkpoint)
are one line on stderr naming it, what it got and what was expected, and exit
status 2, not a traceback. Exit statuses: 0 done, 1 diverged (``emsm gradcheck``: a check
failed), 2 mistake, 3 did not learn (:func:`_verdict`), 130 interrupted. Heavy modules (the training loop, SciPy,
Matplotlib) are imported inside the commands, so that ``emsm --help`` is quick.
"""
import argparse
import json
import os
import sys
import time

EXIT_DIVERGED = 1
EXIT_USAGE = 2
EXIT_NOT_LEARNING = 3
EXIT_INTERRUPTED = 130

# Config fields and the switches that set them, so that messages speak the command line's language.
SWITCHES = {
    "network": "--network", "dataset": "--dataset", "data_dir": "--data-dir", "validation": "--validation", "loss": "--loss",
    "ensemble": "--ensemble", "margin": "--margin", "lam": "--lam", "normalize": "--normalize",
    "hsic_gradient": "--hsic-gradient", "hinge_norm": "--hinge-norm", "center_lam": "--center-lam",
    "center_alpha": "--center-alpha", "beta": "--beta", "scale": "--scale", "learn_scale": "--learn-scale",
    "feature_dim": "--feature-dim", "activation": "--activation", "width": "--width", "dropout": "--dropout",
    "schedule": "--schedule", "batch_size": "--batch-size", "lr": "--lr", "milestones": "--milestones",
    "max_iter": "--max-iter", "eval_every": "--eval-every", "seed": "--seed", "device": "--device",
    "dtype": "--dtype",
}


# --tf32 of emsm train and emsm evaluate (_tf32): what it does, once.
TF32_HELP = ("gpu, float32 only: let the float32 matrix products (every convolution and linear layer) use the "
             "GPU's TF32 mode, as PyTorch's cuDNN convolutions do by default: faster on Ampere and later GPUs, "
             "their inputs rounded to 10 bits of mantissa; --no-tf32: full float32 whatever CUPY_TF32 says; "
             "refused with --device cpu, which has no TF32")
TF32_DEFAULT = "(default: CuPy's, full float32 unless the environment sets CUPY_TF32=1)"


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line, not the usage block: ``emsm: error: --max-iter
    must be an integer, got '2.5' (see emsm train --help)``, exit status 2.

    ``add_subparsers`` makes the subcommands' parsers of the same class."""

    def error(self, message):
        name, _, rest = message.partition(": ")
        if name.startswith("argument ") and rest.startswith("must "):  # _int's, _float's: "--max-iter must be ..."
            message = f"{name[len('argument '):]} {rest}"
        self.exit(EXIT_USAGE, f"emsm: error: {message} (see {self.prog} --help)\n")


def _int(text):
    """An integer switch's value: ``1000``, or a whole number written as a float (``1e3``, ``2.0``)."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None or not value.is_integer():
        raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}")
    return int(value)


def _float(text):
    """A number switch's value (``0.1``, ``1e-3``)."""
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None


def _beta(text):
    """--beta: a number, or a schedule's name (checked with the config, which names the choices)."""
    try:
        return float(text)
    except ValueError:
        return text


def _parser():
    from . import __version__
    from .data.datasets import DATASET_NAMES
    from .functional.normalize import NORMALIZE_MODES
    from .losses.em_softmax import HSIC_GRADIENTS
    from .models.configs import NETWORKS
    from .functional.hinge import HINGE_NORMS
    from .training.config import BETA_SCHEDULES, LOSSES, SCHEDULES

    p = _Parser(prog="emsm", description="Train and evaluate CNNs with the EM-Softmax loss (NumPy/CuPy).")
    p.add_argument("--version", action="version", version=f"emsm_np {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    p.commands = sub.choices  # their parsers, for an error about a command's switches (_parse)

    # Every switch of a new run defaults to None here, so that --resume can tell which were
    # given; the help text states the default that a new run then takes.
    t = sub.add_parser(
        "train", help="train a network (default: EM-Softmax, lenet, embedded MNIST sample, CPU)",
        description="Train a network with the EM-Softmax head. Exit status: 0 done, 1 diverged, "
                    "2 bad switches or data, 3 did not learn (test accuracy below 1.5 x chance after at least "
                    "100 iterations and 2 evaluations; a shorter run at chance is 'too short to tell', 0), "
                    "130 interrupted (resume with --resume RUN_DIR).")
    t.add_argument("--resume", metavar="RUN_DIR",
                   help="continue an interrupted run from its last checkpoint (with --max-iter N: extend it to N)")
    t.add_argument("--run-dir", help="where to write the run (default: runs/<time>-<network>-<loss>)")
    t.add_argument("--network", help=f"one of {', '.join(NETWORKS)} (default: lenet)")
    t.add_argument("--width", type=_int, help="filters of the first convolution, the others in proportion "
                   "(default: the network's, 32 for lenet, 64 for liunet-mnist and liunet-cifar10; with liunet-cifar10, "
                   "48/64/96 give Table 3's LiuNet(48/64/96), whose sizes emsm info prints)")
    t.add_argument("--dropout", type=_float, help="drop probability of a dropout layer on the feature layer "
                   "(Sec. 4.8, Table 4 of the paper: after the second last FC layer, the rate tuned in "
                   "{0.3, 0.5, 0.7}) (default: 0, none)")
    t.add_argument("--dataset", help=f"one of {', '.join(DATASET_NAMES)} (default: mnist-sample, embedded)")
    t.add_argument("--data-dir", help="folder with the data files, or with a <dataset>/ folder holding them; "
                   "only read: a file missing there is an error, never downloaded into it (default: $EMSM_DATA, "
                   "else a per-user cache, where missing files are downloaded)")
    t.add_argument("--validation", type=_int, help="hold out the last N training images, never trained on, "
                   "and report their accuracy apart (val_accuracy) (default: 0, none; the paper picks m by the "
                   "best result, Sec. 4.4, on images it does not name)")
    t.add_argument("--loss", help=f"one of {', '.join(LOSSES)}; the last five are the losses Table 1 of the paper "
                   "compares EM-Softmax with (HingeLoss, CenterLoss, L-Softmax, A-Softmax, N-Softmax), each with "
                   "one classifier (default: em-softmax)")
    t.add_argument("--margin", type=_float, help="m-/em-softmax: the soft margin m >= 0 (Eq. 4); l-/a-softmax: the "
                   "integer angular margin m >= 1 of cos(m theta) (default: 0.3 for m-/em-softmax, 2 for "
                   "l-softmax, 4 for a-softmax, else 0)")
    t.add_argument("--ensemble", type=_int, help="number of weak classifiers V >= 1; e-/em-softmax accept 1 "
                   "(Fig. 2 of the paper starts there) (default: 2 for e-/em-softmax, as Sec. 4.4, else 1)")
    t.add_argument("--lam", type=_float, help="HSIC diversity weight lambda >= 0 (default: 0.1 for e-/em-softmax, "
                   "the value the paper fixes for Fig. 2 and Table 4, Secs. 4.4, 4.8, else 0; its scale against "
                   "the paper's lambda: see --hsic-gradient)")
    t.add_argument("--hsic-gradient", help=f"one of {', '.join(HSIC_GRADIENTS)}: the HSIC part of dL/dW_v; exact: "
                   "the derivative of the loss; paper: the paper's stated lambda W_v K_v (Eq. 9), a quarter of the "
                   "exact gradient (docs/derivations.md, 'The paper's HSIC gradient'); the loss value is the same "
                   "(default: exact)")
    t.add_argument("--normalize", help=f"one of {', '.join(NORMALIZE_MODES)} (default: column)")
    t.add_argument("--hinge-norm", help=f"hinge only: {' or '.join(HINGE_NORMS)}; l2 squares each violation "
                   "(Tang's L2-SVM; it diverges at lr 0.1 on the LiuNets, take a smaller --lr), l1 does not "
                   "(default: l1, as Caffe's HingeLoss layer, the code the paper points to)")
    t.add_argument("--center-lam", type=_float, help="center only: the weight lambda >= 0 of the center loss "
                   "added to softmax (default: 0.003, Wen et al.'s)")
    t.add_argument("--center-alpha", type=_float, help="center only: the centres' step alpha in [0, 1] of "
                   "Wen's update rule (default: 0.5, Wen et al.'s)")
    t.add_argument("--beta", type=_beta, metavar="NUMBER_OR_SCHEDULE", help="l-/a-softmax only: the weight of "
                   "the plain target logit mixed into the margin one, a number >= 0 held fixed (0: the pure "
                   "margin), or annealed with the iteration, max(beta_min, base (1 + gamma it)^-power), by a "
                   f"schedule: {' or '.join(BETA_SCHEDULES)} (the L-Softmax MNIST prototxt's: base 1000, "
                   "gamma 2.5e-5, power 35, beta_min 0, which that prototxt uses with m = 4, so its pairing "
                   "with the default m = 2 is emsm_np's; SphereFace's: 1000, 0.12, 1, 5) "
                   "(default: l-softmax for l-softmax, sphereface for a-softmax)")
    t.add_argument("--scale", type=_float, help="n-softmax only: the scale s > 0 of the cosines; its starting "
                   "value with --learn-scale (default: 16)")
    t.add_argument("--learn-scale", action="store_true", default=None, help="n-softmax only: train s by SGD "
                   "(spared by weight decay) instead of holding it fixed (default: fixed)")
    t.add_argument("--feature-dim", type=_int, help="width of the FC feature layer, 2 for feature plots "
                   "(default: 256 for LiuNets, 128 for lenet)")
    t.add_argument("--activation", help="prelu or relu (default: prelu for LiuNets, relu for lenet)")
    t.add_argument("--schedule", help=f"learning-rate preset, one of {', '.join(SCHEDULES)} (default: quick for "
                   "mnist-sample, else the paper's for the data set: mnist, cifar10 or cifar100)")
    t.add_argument("--batch-size", type=_int, help="not in the paper (default: the schedule's, 128 as the L-Softmax "
                   "prototxts, whose settings the paper says it follows (the L-Softmax paper's text is reported to "
                   "use 256: docs/paper.md); 64 for quick)")
    t.add_argument("--lr", type=_float, help="base learning rate (default: the schedule's, 0.1; 0.05 for quick)")
    t.add_argument("--milestones", type=_int, nargs="*", help="iterations at which the learning rate is divided "
                   "by 10 (default: the schedule's, stretched to --max-iter)")
    t.add_argument("--max-iter", type=_int, help="number of iterations (default: the schedule's, 20000; 800 for quick)")
    t.add_argument("--eval-every", type=_int, help="evaluate and checkpoint every N iterations "
                   "(default: max-iter / 8, at most 1000)")
    t.add_argument("--seed", type=_int, help="(default: 0)")
    t.add_argument("--device", help="cpu or gpu (CuPy) (default: cpu)")
    t.add_argument("--dtype", help="float32 or float64 (default: float32)")
    t.add_argument("--tf32", action=argparse.BooleanOptionalAction, help=f"{TF32_HELP}; not saved with the run, "
                   f"so give it again with --resume {TF32_DEFAULT}")
    t.add_argument("--no-progress", action="store_true", help="no progress bar: one line per evaluation instead")
    t.add_argument("--threads", type=_int, help="CPU worker threads; results do not depend on the count "
                   "(default: $EMSM_NUM_THREADS, else every usable core)")

    e = sub.add_parser("evaluate", help="test accuracy of a run (averaged and per weak classifier)")
    e.add_argument("path", metavar="RUN_DIR_OR_CHECKPOINT")
    e.add_argument("--data-dir", help="(default: the run's)")
    e.add_argument("--device", default="cpu", help="cpu or gpu (default: cpu)")
    e.add_argument("--tf32", action=argparse.BooleanOptionalAction, help=f"{TF32_HELP} {TF32_DEFAULT}")
    e.add_argument("--threads", type=_int, help="CPU worker threads (default: $EMSM_NUM_THREADS, else every usable core)")

    i = sub.add_parser("info", help="parameters and size in MB of a network (Table 3's unit; 9 of the 12 cells "
                                    "docs/paper.md compares match)",
                       description="Print a network's parameter count and its float32 size in MB (10^6 bytes), "
                                   "the unit of Table 3 of the paper (9 of the 12 cells docs/paper.md compares match, "
                                   "every CIFAR-10 one). Exit status 2 for bad switches.")
    i.add_argument("--network", required=True, help=f"one of {', '.join(NETWORKS)}")
    i.add_argument("--ensemble", type=_int, default=2, help="weak classifiers V >= 1 (default: 2, emsm train's "
                   "em-softmax; 1 for a Softmax model, Table 3's LiuNet rows)")
    i.add_argument("--width", type=_int, help="filters of the first convolution, the others in proportion "
                   "(48/64/96: Table 3's LiuNet(48/64/96)) (default: the network's)")
    i.add_argument("--dataset", help=f"one of {', '.join(DATASET_NAMES)}, for the classes and image shape "
                   "(default: cifar10 or cifar100 for their LiuNets, else mnist); nothing is loaded")
    i.add_argument("--feature-dim", type=_int, help="width of the FC feature layer (default: 256 for LiuNets, 128 for lenet)")
    i.add_argument("--activation", help="prelu or relu (default: prelu for LiuNets, relu for lenet)")
    g = sub.add_parser(
        "gradcheck", help="every gradient formula of the paper, every compared loss and every layer against "
                          "central differences, on this machine",
        description="Check the hand-derived gradients against central differences in float64: Eq. 4, the HSIC "
                    "term of Eqs. 5-6 through each normalisation, Eq. 9 w.r.t. W_v and x and the paper's stated "
                    "form of it against the exact one, the losses Table 1 compares, and every layer on its "
                    "reference route and on the device's fast route. One line per check (the worst relative "
                    "error, its bound, a verdict), then the count. Exit status: 0 all passed, 1 a check failed, "
                    "2 bad switches or no GPU for --device gpu.")
    g.add_argument("--device", choices=("cpu", "gpu"), default="cpu", help="cpu (NumPy) or gpu (CuPy) (default: cpu)")
    g.add_argument("--only", help="a comma-separated list of groups (paper, losses, layers), routes (reference, "
                   "fast), equations (4, 5, 6, 9) or words of a check's name (default: every check)")
    g.add_argument("--seed", type=_int, default=0, help="seed of the random inputs (default: 0)")
    g.add_argument("--json", action="store_true", help="print the report as JSON (default: as text)")
    from .reproduce.experiments import EXPERIMENTS, PRESETS

    r = sub.add_parser(
        "reproduce", help="one table or figure of the paper: train every setting and seed, then tabulate",
        description="Reproduce a table or figure of the paper: train each (data set, setting, seed), then write "
                    "OUT/results.md (mean +- std over seeds, 95%% t interval, Welch's t against the reference "
                    "row, the paper's number beside each), results.json, runs.csv and, for fig1/fig2, a PNG. "
                    "Rerunning skips finished runs and resumes interrupted ones. Exit status: 0 done, 2 bad "
                    "switches, 130 interrupted (run the same command again to resume).")
    r.add_argument("experiment", choices=EXPERIMENTS, help="table1: Softmax / M- / E- / EM-Softmax (Table 1), "
                   "and with --compared the losses Table 1 compares them with; "
                   "fig1: accuracy vs lambda at V = 2; fig2: accuracy vs V at lambda = 0.1; table4: dropout on "
                   "the feature layer; margin: m in {0.1, 0.5, 1, 5, 10} chosen on a validation split (Sec. 4.4)")
    r.add_argument("--preset", choices=tuple(PRESETS), default="cpu", help="smoke: seconds, the embedded "
                   "sample; cpu: lenet on MNIST, 3,000 iterations a run (table1 with 5 seeds: about 2 h on 2 "
                   "cores); gpu: the paper's LiuNets, data sets and 20k-iteration recipe (default: cpu)")
    r.add_argument("--seeds", type=_int, help="seeds 0..N-1 per setting (default: 5; 2 for smoke)")
    r.add_argument("--out", help="results folder (default: runs/reproduce/<experiment>-<preset>)")
    r.add_argument("--data-dir", help="folder with the data files, or with a <dataset>/ folder holding them "
                   "(default: $EMSM_DATA, else a per-user cache); CIFAR is never downloaded by reproduce: a "
                   "data set not found there is reported as such")
    r.add_argument("--dataset", action="append", choices=DATASET_NAMES, help="run on this data set instead of "
                   "the preset's; repeat for several (default: the preset's: MNIST for cpu, the embedded sample "
                   "for smoke, the paper's for gpu)")
    r.add_argument("--device", choices=("cpu", "gpu"), help="(default: the preset's: gpu for gpu, else cpu)")
    r.add_argument("--margin", type=_float, help="m of the M-/EM-Softmax rows (default: emsm train's 0.3; the "
                   "paper's chosen m is not given: emsm reproduce margin searches it)")
    r.add_argument("--hsic-gradient", choices=HSIC_GRADIENTS, help="the HSIC gradient, as emsm train's "
                   "(default: exact)")
    r.add_argument("--compared", action=argparse.BooleanOptionalAction, help="table1 only: add (or, "
                   "--no-compared, leave out) the rows of Table 1's compared losses, HingeLoss, CenterLoss, "
                   "A-Softmax, N-Softmax and L-Softmax, each at emsm train's defaults; the other four rows "
                   "and their runs stay as they are, so a finished table1 folder gains the new rows only "
                   "(cpu preset, 5 seeds: 25 more runs, about 2.5 h on 2 cores) (default: with them for gpu, "
                   "without for cpu and smoke)")
    r.add_argument("--threads", type=_int, help="CPU worker threads (default: $EMSM_NUM_THREADS, else every usable core)")
    return p


def _reproduce(args):
    from .reproduce import run_experiment

    if args.seeds is not None and args.seeds < 1:
        raise ValueError(f"--seeds must be a positive integer, got {args.seeds}")
    if args.data_dir is not None and not os.path.isdir(args.data_dir):
        raise ValueError(f"--data-dir {args.data_dir} does not exist or is not a directory")
    if args.margin is not None and args.margin < 0:
        raise ValueError(f"--margin must be >= 0, got {args.margin}")
    default_out = os.path.join("runs", "reproduce", f"{args.experiment}-{args.preset}")  # as run_experiment's
    _check_writable(args.out or default_out, "--out", given=args.out is not None)
    from .reproduce.experiments import PRESETS
    from .training import TrainingInterrupted

    seeds = args.seeds or PRESETS[args.preset].seeds
    command = f"emsm reproduce {args.experiment} --preset {args.preset} --seeds {seeds}"
    for switch, value in (("--out", args.out), ("--data-dir", args.data_dir), ("--device", args.device),
                          ("--margin", args.margin), ("--hsic-gradient", args.hsic_gradient)):
        command += f" {switch} {value}" if value is not None else ""
    command += "".join(f" --dataset {d}" for d in args.dataset or ())
    if args.compared is not None:
        command += " --compared" if args.compared else " --no-compared"
    try:
        report = run_experiment(args.experiment, args.preset, seeds=seeds, out=args.out,
                                data_dir=args.data_dir, device=args.device, margin=args.margin,
                                hsic_gradient=args.hsic_gradient, datasets=args.dataset, command=command,
                                compared=args.compared)
    except TrainingInterrupted as exc:
        print(f"emsm: {exc.args[0].split(';')[0]}; run the same emsm reproduce command again to resume",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    print(f"done: {os.path.join(report['out'], 'results.md')}" +
          (f", {report['figure']}" if report.get("figure") else ""))
    return 0


def _given(args):
    """The config fields the user set on the command line (switches left at None were not given)."""
    return {field: getattr(args, field) for field in SWITCHES if getattr(args, field) is not None}


def _in_switches(message):
    """A config validation message with field names replaced by their switches."""
    for field, switch in SWITCHES.items():
        if message.startswith(field + " "):
            return switch + message[len(field):]
    return message


def _resume(args):
    from .training import TrainingInterrupted, train
    from .training.config import read_config

    given = _given(args)
    max_iter = given.pop("max_iter", None)
    cfg_path = os.path.join(args.resume, "config.json")
    if os.path.isfile(cfg_path):
        saved = read_config(cfg_path)
        clashes = []
        for field, value in given.items():
            have = getattr(saved, field)
            if field == "milestones":
                value = tuple(value)
            if field == "data_dir":
                value = os.path.abspath(value)
            if value != have:
                clashes.append(f"{SWITCHES[field]} {value} (the run has {have})")
        if clashes:
            raise ValueError(f"--resume {args.resume}: a resumed run keeps its configuration; refusing "
                             + ", ".join(clashes) + ". Only --max-iter can change (to extend the run).")
        _tf32(args.tf32, saved.device, saved.dtype)
    _check_writable(args.resume, "--resume")  # it writes its checkpoints there
    try:
        return train(None, args.resume, resume=True, progress=not args.no_progress, max_iter=max_iter)
    except (ValueError, TypeError) as exc:  # e.g. "max_iter must be >= 1": say it as the switch
        raise type(exc)(_in_switches(str(exc))) from exc
    except TrainingInterrupted as exc:
        print(f"emsm: {exc}", file=sys.stderr)
        return None


def _train(args):
    from .training import TrainConfig, TrainingInterrupted, train

    if args.resume:
        summary = _resume(args)
        if summary is None:
            return EXIT_INTERRUPTED
    else:
        if args.data_dir is not None and not os.path.isdir(args.data_dir):
            raise ValueError(f"--data-dir {args.data_dir} does not exist or is not a directory")
        cfg = TrainConfig(**_given(args))
        try:
            resolved = cfg.resolved()  # validate before creating any directory
        except (ValueError, TypeError) as exc:
            raise type(exc)(_in_switches(str(exc))) from exc
        for field in ("normalize", "hsic_gradient"):  # they shape the diversity term, which only these have
            if getattr(args, field) is not None and resolved.loss not in ("e-softmax", "em-softmax"):
                raise ValueError(f"{SWITCHES[field]} applies to --loss e-softmax and em-softmax only (the "
                                 f"diversity term), not to --loss {resolved.loss}")
        _tf32(args.tf32, resolved.device, resolved.dtype)
        if args.max_iter is not None and args.milestones is None and resolved.milestones:
            print(f"--max-iter {resolved.max_iter}: the {resolved.schedule} schedule's learning-rate milestones "
                  f"scaled to {', '.join(map(str, resolved.milestones))}")
        run_dir = args.run_dir or os.path.join(
            "runs", f"{time.strftime('%Y%m%d-%H%M%S')}-{resolved.network}-{resolved.loss}")
        _check_writable(run_dir, "--run-dir", given=args.run_dir is not None)
        try:
            summary = train(resolved, run_dir, progress=not args.no_progress)
        except TrainingInterrupted as exc:
            print(f"emsm: {exc}", file=sys.stderr)
            return EXIT_INTERRUPTED
    weak = ", ".join(f"{100 * a:.2f}%" for a in summary["weak_accuracy"])
    weak = f" (weak classifiers: {weak})" if len(summary["weak_accuracy"]) > 1 else ""  # one classifier: no ensemble
    print(f"done: test accuracy {100 * summary['test_accuracy']:.2f}%{weak} "
          f"in {summary['wall_time']:.1f} s; run in {summary['run_dir']}")
    return _verdict(summary)


def _tf32(choice, device, dtype):
    """Apply --tf32 (True) or --no-tf32 (False) before anything runs on the GPU (CuPy reads its
    setting at the first float32 product; :func:`emsm_np.backend.set_tf32`); None: not given, CuPy's
    own setting (CUPY_TF32) stands. --tf32 where it cannot act is refused, not ignored: a user who
    asks for it expects the GPU's TF32 speed and rounding. Says so when the GPU run will use TF32."""
    if choice:
        if device != "gpu":
            raise ValueError(f"--tf32 applies to --device gpu only (a mode of the GPU's matrix units; NumPy on the "
                             f"CPU always computes in full float32), got --device {device}")
        if dtype != "float32":
            raise ValueError(f"--tf32 applies to float32 only (float64 products never use TF32), got --dtype {dtype}")
    from .backend import set_tf32, tf32_enabled

    if choice is not None:
        set_tf32(choice)
    if device == "gpu" and dtype == "float32" and tf32_enabled():
        how = "--tf32" if choice else "CUPY_TF32 in the environment; --no-tf32 for full float32"
        print(f"TF32: the GPU's float32 matrix products round their inputs to 10 bits of mantissa ({how})")


def _verdict(summary):
    """The exit status of a finished run, after its last line on stderr if it did not learn
    (exit 3) or was too short to tell (exit 0); see the loop's ``_learning``."""
    where = os.path.join(summary["run_dir"], "summary.json")
    message = summary.get("message") or "test accuracy at chance level"
    if summary.get("status") == "not learning":
        message = message.removeprefix("not learning: ")
        print(f"emsm: this run did not learn (exit status {EXIT_NOT_LEARNING}): {message}; see {where}",
              file=sys.stderr)
        return EXIT_NOT_LEARNING
    if summary.get("learning") == "too short to tell":
        print(f"emsm: note: {message}", file=sys.stderr)
    return 0


def _check_writable(path, switch="--run-dir", given=True):
    """Refuse, before anything is made, a folder ``path`` that cannot be created or written in:
    one line naming it and what to do. ``given`` False: ``path`` is ``switch``'s default, under
    the working directory."""
    probe = os.path.abspath(path)
    while not os.path.exists(probe):  # the nearest part of the path that exists
        probe = os.path.dirname(probe)
    if not os.path.isdir(probe):
        why = f"{probe} is a file, not a folder"
    elif not _can_create_in(probe):
        why = f"nothing can be created in {probe}"
    else:
        return
    if not given:
        raise ValueError(f"{path}, the default of {switch}, cannot be written: {why}; give {switch} a path in a "
                         f"writable folder, or run emsm from a writable working directory")
    raise ValueError(f"{switch} {path} cannot be written: {why}; give {switch} a path in a writable folder")


def _can_create_in(folder):
    """Whether a folder can be made in ``folder``: tried (and removed again), since permissions do
    not tell (root may write anywhere but on a read-only file system, or in /proc)."""
    import tempfile

    try:
        os.rmdir(tempfile.mkdtemp(prefix=".emsm-probe-", dir=folder))
    except OSError:
        return False
    return True


def _evaluate(args):
    from .training import build_from_config, evaluate, load_checkpoint
    from .training.checkpoint import load_model_state
    from .training.config import read_config
    from .training.loop import load_run_data

    if args.device not in ("cpu", "gpu"):
        raise ValueError(f"--device must be 'cpu' or 'gpu', got {args.device!r}")
    path = args.path
    ckpt = os.path.join(path, "checkpoint.npz") if os.path.isdir(path) else path
    cfg_path = os.path.join(os.path.dirname(os.path.abspath(ckpt)), "config.json")
    if not os.path.isfile(ckpt):
        raise ValueError(f"{path}: no checkpoint found (expected a run directory or a checkpoint.npz)")
    if not os.path.isfile(cfg_path):
        raise ValueError(f"{path}: no config.json beside the checkpoint")
    cfg = read_config(cfg_path)
    _tf32(args.tf32, args.device, cfg.dtype)
    if args.device == "gpu":
        from .backend import get_cupy

        get_cupy()  # a clear error before loading anything
    ds = load_run_data(cfg.dataset, args.data_dir or cfg.data_dir)
    net = build_from_config(cfg, ds.num_classes, ds.x_train.shape[1], ds.x_train.shape[2])
    model_state, _, meta = load_checkpoint(ckpt)
    load_model_state(net, model_state, ckpt)
    net.to(args.device)
    ev = evaluate(net, ds.x_test, ds.y_test, device=args.device)
    print(json.dumps({"checkpoint": os.path.abspath(ckpt), "iteration": meta["iteration"],
                      "dataset": cfg.dataset, "test_accuracy": ev["accuracy"],
                      "weak_accuracy": ev["weak_accuracy"], "agreement": ev["agreement"]}, indent=2))
    return 0


def _info(args):
    from .training.info import format_info, network_info

    try:
        info = network_info(args.network, dataset=args.dataset, ensemble=args.ensemble, width=args.width,
                            feature_dim=args.feature_dim, activation=args.activation)
    except (ValueError, TypeError) as exc:
        raise type(exc)(_in_switches(str(exc))) from exc
    print(format_info(info))
    return 0


def _gradcheck(args):
    """``emsm gradcheck``: the report on stdout; exit status 1 if any check failed."""
    from .gradcheck_report import format_report, report

    if args.seed < 0:
        raise ValueError(f"--seed must be >= 0, got {args.seed}")
    result = report(device=args.device, only=args.only, seed=args.seed)
    print(json.dumps(result, indent=1) if args.json else format_report(result))
    return 1 if result["failed"] else 0


def _parse(argv):
    """The parsed command line; an unknown switch is refused by its command's parser, whose
    message points to that command's --help (``emsm train --help``, not ``emsm --help``)."""
    parser = _parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        parser.commands[args.command].error(f"unrecognized arguments: {' '.join(unknown)}")
    return args


def main(argv=None):
    from .backend import GPUUnavailableError
    from .training.loop import TrainingDiverged

    args = _parse(argv)
    try:
        if getattr(args, "threads", None) is not None:
            if args.threads < 1:
                raise ValueError(f"--threads must be a positive integer, got {args.threads}")
            from .cpu.threads import set_num_threads

            set_num_threads(args.threads)
        if args.command == "train":
            return _train(args)
        if args.command == "info":
            return _info(args)
        if args.command == "reproduce":
            return _reproduce(args)
        if args.command == "gradcheck":
            return _gradcheck(args)
        return _evaluate(args)
    except KeyboardInterrupt:  # outside the training loop's own handling (loading data, a second Ctrl-C)
        print("emsm: interrupted; a run keeps its last checkpoint (emsm train --resume RUN_DIR)", file=sys.stderr)
        return EXIT_INTERRUPTED
    except TrainingDiverged as exc:
        if os.environ.get("EMSM_DEBUG"):
            raise
        print(f"emsm: error: {exc}", file=sys.stderr)
        return EXIT_DIVERGED
    except (ValueError, TypeError, GPUUnavailableError, OSError, FloatingPointError) as exc:
        if os.environ.get("EMSM_DEBUG"):
            raise
        message = getattr(exc, "summary", None) or exc  # a DataNotFoundError's one line
        print(f"emsm: error: {message} (set EMSM_DEBUG=1 for a traceback)", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
