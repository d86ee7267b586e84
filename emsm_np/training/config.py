"""Training configuration: the paper's recipe as presets, the loss switches, validation.

Presets (learning rate 0.1 divided by 10 at the milestones, SGD momentum 0.9,
weight decay 5e-4, from the EM-Softmax paper, Sec. 4.3 (L-Softmax's released
solvers use other steps); batch size 128, which the paper does not state: it is the
L-Softmax prototxts' for MNIST and CIFAR (the L-Softmax paper's text is reported to use
256; the paper says it follows L-Softmax's settings strictly, and docs/paper.md, "The
L-Softmax paper against its prototxts", says which default follows which source and why):

============  ===================  =========  ==============================================
schedule      milestones           stop at    use
============  ===================  =========  ==============================================
mnist         8k, 14k              20k        the paper (MNIST)
cifar10       8k, 14k              20k        the paper (CIFAR-10, CIFAR-10+)
cifar100      12k, 15k             20k        the paper (CIFAR-100, CIFAR-100+)
quick         500, 700             800        the embedded MNIST sample (lr 0.05, batch 64)
============  ===================  =========  ==============================================

When no schedule is given, the data set picks it (:func:`default_schedule`):
``quick`` for ``mnist-sample``, ``mnist`` for MNIST and Fashion-MNIST, ``cifar10``
and ``cifar100`` for the CIFAR sets with and without "+". Every network trains
under every preset (the networks end with FC - batch norm - activation, which
keeps lr 0.1 stable; ``tests/test_learning.py`` checks each network and loss at
each data set's default recipe).

``validation`` > 0 holds out the last ``validation`` training images (a fixed
split, :func:`emsm_np.data.split_validation`): they are never trained on, and
each evaluation scores them apart from the test set (``val_accuracy``).

The compared losses of Table 1 (``hinge``, ``center``, ``l-softmax``, ``a-softmax``,
``n-softmax``) use one classifier (``ensemble`` 1, ``lam`` 0) and their own switches,
:data:`LOSS_DEFAULTS` giving each loss's and :func:`head_options` passing them to its head:

=============  =====================================================================
loss           its switches (default)
=============  =====================================================================
hinge          ``hinge_norm`` "l1" (Caffe's HingeLoss default) or "l2" (Tang's L2-SVM)
center         ``center_lam`` 0.003, ``center_alpha`` 0.5 (Wen's face-recognition values)
l-softmax      ``margin`` an integer m >= 1 (2), ``beta`` (schedule "l-softmax")
a-softmax      ``margin`` an integer m >= 1 (4), ``beta`` (schedule "sphereface")
n-softmax      ``scale`` 16, ``learn_scale`` False
=============  =====================================================================

``beta`` is a number >= 0 (fixed) or the name of an annealing schedule of
:data:`BETA_SCHEDULES`: "l-softmax" (the L-Softmax MNIST prototxt's) or "sphereface".
A switch of one loss given with another loss is refused, naming the switch.

A ``max_iter`` other than the preset's stretches the preset's milestones to the
same fractions of the run (``mnist`` with ``max_iter=2000``: 800, 1400); explicit
milestones must lie before ``max_iter``.
"""
import dataclasses
import json
import numbers
import os
from dataclasses import dataclass, field

from .._checks import check_choice, check_float, check_int
from ..data.datasets import DATASET_NAMES
from ..functional.normalize import NORMALIZE_MODES
from ..functional.hinge import HINGE_NORMS
from ..losses.em_softmax import HSIC_GRADIENTS
from ..losses.l_softmax import L_SOFTMAX_SCHEDULE, SPHEREFACE_SCHEDULE
from ..models.configs import NETWORKS

EM_LOSSES = ("softmax", "m-softmax", "e-softmax", "em-softmax")
COMPARED_LOSSES = ("hinge", "center", "l-softmax", "a-softmax", "n-softmax")  # Table 1's other rows
LOSSES = EM_LOSSES + COMPARED_LOSSES
ANGULAR_LOSSES = ("l-softmax", "a-softmax")  # margin: the integer m of cos(m theta)
BETA_SCHEDULES = {"l-softmax": L_SOFTMAX_SCHEDULE, "sphereface": SPHEREFACE_SCHEDULE}

SCHEDULES = {
    "mnist": {"milestones": (8000, 14000), "max_iter": 20000, "lr": 0.1, "batch_size": 128},
    "cifar10": {"milestones": (8000, 14000), "max_iter": 20000, "lr": 0.1, "batch_size": 128},
    "cifar100": {"milestones": (12000, 15000), "max_iter": 20000, "lr": 0.1, "batch_size": 128},
    "quick": {"milestones": (500, 700), "max_iter": 800, "lr": 0.05, "batch_size": 64},
}

# Defaults of the switches for each loss when the user gives none. V = 2 and lambda = 0.1 are
# the paper's working values (Sec. 4.4: Fig. 1 varies lambda at V = 2, "insensitive to lambda in
# [0.01, 1.0]", Fig. 2 sets lambda = 0.1 and V = 2 is suggested; Sec. 4.8, Table 4: "the diversity
# hyperparameter lambda of our EM-Softmax is 0.1"). They are applied with the exact HSIC
# gradient (hsic_gradient "exact", 4 lam W_v K_v), so lambda = 0.1 here is the paper's
# lambda = 0.4 if its authors trained with their stated gradient lam W_v K_v; for the paper's
# lambda as stated, use hsic_gradient "paper" (see emsm_np/losses/em_softmax.py). The margin 0.3
# is emsm_np's: the paper picks m from {0.1, 0.5, 1, 5, 10} without saying which (nor whether per data set).
LOSS_DEFAULTS = {
    "softmax": {"ensemble": 1, "margin": 0.0, "lam": 0.0},
    "m-softmax": {"ensemble": 1, "margin": 0.3, "lam": 0.0},
    "e-softmax": {"ensemble": 2, "margin": 0.0, "lam": 0.1},
    "em-softmax": {"ensemble": 2, "margin": 0.3, "lam": 0.1},
    # The compared losses, one classifier each, at their heads' defaults (emsm_np/losses/); hinge's
    # norm is l1, Caffe's HingeLoss default (the code the paper points to, Sec. 4.2): l2 (Tang's
    # L2-SVM) diverged at lr 0.1 on every LiuNet within 60 iterations (tests/test_learning.py).
    "hinge": {"ensemble": 1, "margin": 0.0, "lam": 0.0, "hinge_norm": "l1"},
    "center": {"ensemble": 1, "margin": 0.0, "lam": 0.0, "center_lam": 0.003, "center_alpha": 0.5},
    "l-softmax": {"ensemble": 1, "margin": 2, "lam": 0.0, "beta": "l-softmax"},
    "a-softmax": {"ensemble": 1, "margin": 4, "lam": 0.0, "beta": "sphereface"},
    "n-softmax": {"ensemble": 1, "margin": 0.0, "lam": 0.0, "scale": 16.0, "learn_scale": False},
}

# The switches that only some losses take (None: not given), and their checks.
LOSS_SWITCHES = {
    "hinge_norm": lambda v: check_choice("hinge_norm", v, HINGE_NORMS),
    "center_lam": lambda v: check_float("center_lam", v, minimum=0.0),
    "center_alpha": lambda v: check_float("center_alpha", v, minimum=0.0, maximum=1.0),
    "beta": lambda v: _check_beta(v),
    "scale": lambda v: check_float("scale", v, minimum=0.0, min_inclusive=False),
    "learn_scale": lambda v: _check_bool("learn_scale", v),
}


@dataclass
class TrainConfig:
    """Everything that defines a run (saved as ``config.json`` in the run directory)."""

    network: str = "lenet"
    dataset: str = "mnist-sample"
    data_dir: str = None
    validation: int = 0  # the last N training images held out, scored apart (margin search, Sec. 4.4)
    loss: str = "em-softmax"
    ensemble: int = None
    margin: float = None
    lam: float = None
    normalize: str = "column"
    hsic_gradient: str = "exact"
    hinge_norm: str = None
    center_lam: float = None
    center_alpha: float = None
    beta: object = None  # a number >= 0, or a name in BETA_SCHEDULES
    scale: float = None
    learn_scale: bool = None
    feature_dim: int = None
    activation: str = None
    width: int = None
    dropout: float = 0.0
    schedule: str = None
    batch_size: int = None
    lr: float = None
    milestones: tuple = None
    max_iter: int = None
    momentum: float = 0.9
    weight_decay: float = 5e-4
    eval_every: int = None
    seed: int = 0
    device: str = "cpu"
    dtype: str = "float32"
    extra: dict = field(default_factory=dict)

    def resolved(self):
        """A copy with every ``None`` filled in from the presets, validated."""
        c = dataclasses.replace(self)
        check_choice("network", c.network, NETWORKS)
        check_choice("dataset", c.dataset, DATASET_NAMES)
        check_choice("loss", c.loss, LOSSES)
        if c.schedule is None:
            c.schedule = default_schedule(c.dataset)
        check_choice("schedule", c.schedule, tuple(SCHEDULES))
        check_choice("normalize", c.normalize, NORMALIZE_MODES)
        check_choice("hsic_gradient", c.hsic_gradient, HSIC_GRADIENTS)
        check_choice("device", c.device, ("cpu", "gpu"))
        check_choice("dtype", c.dtype, ("float32", "float64"))
        if c.activation is not None:
            check_choice("activation", c.activation, ("prelu", "relu"))
        d = LOSS_DEFAULTS[c.loss]
        c.ensemble = d["ensemble"] if c.ensemble is None else check_int("ensemble", c.ensemble, minimum=1)
        if c.margin is None:
            c.margin = d["margin"]
        elif c.loss in ANGULAR_LOSSES:
            c.margin = _check_angular_margin(c.loss, c.margin)
        else:
            c.margin = check_float("margin", c.margin, minimum=0.0)
        c.lam = d["lam"] if c.lam is None else check_float("lam", c.lam, minimum=0.0)
        _check_switches(c)
        for name, check in LOSS_SWITCHES.items():
            value = getattr(c, name)
            if name in d:
                setattr(c, name, d[name] if value is None else check(value))
            elif value is not None:
                takes = [loss for loss in LOSSES if name in LOSS_DEFAULTS[loss]]
                raise ValueError(f"{_switch(name)} applies to --loss {' and '.join(takes)} only, "
                                 f"not to --loss {c.loss}")
        s = SCHEDULES[c.schedule]
        c.lr = s["lr"] if c.lr is None else check_float("lr", c.lr, minimum=0.0, min_inclusive=False)
        c.max_iter = s["max_iter"] if c.max_iter is None else check_int("max_iter", c.max_iter, minimum=1)
        if c.milestones is None:  # the preset's, stretched to this run's length
            stretched = (max(1, m * c.max_iter // s["max_iter"]) for m in s["milestones"])
            c.milestones = tuple(sorted({m for m in stretched if m < c.max_iter}))
        else:
            c.milestones = tuple(check_int("milestones", m, minimum=1) for m in c.milestones)
            late = [m for m in c.milestones if m >= c.max_iter]
            if late:
                raise ValueError(f"milestones must lie before max_iter {c.max_iter}, got {list(c.milestones)}")
            if list(c.milestones) != sorted(c.milestones):
                raise ValueError(f"milestones must increase, got {list(c.milestones)}")
        c.batch_size = s["batch_size"] if c.batch_size is None else check_int("batch_size", c.batch_size, minimum=1)
        c.dropout = check_float("dropout", c.dropout, minimum=0.0, maximum=0.99)
        if c.width is not None:
            c.width = check_int("width", c.width, minimum=1)
        if c.feature_dim is not None:
            c.feature_dim = check_int("feature_dim", c.feature_dim, minimum=1)
        c.validation = check_int("validation", c.validation, minimum=0)
        if c.data_dir is not None:  # absolute, so that the run resumes from any directory
            c.data_dir = os.path.abspath(os.path.expanduser(str(c.data_dir)))
        c.seed = check_int("seed", c.seed, minimum=0)
        c.momentum = check_float("momentum", c.momentum, minimum=0.0)
        c.weight_decay = check_float("weight_decay", c.weight_decay, minimum=0.0)
        if c.eval_every is None:
            c.eval_every = max(1, min(1000, c.max_iter // 8))
        c.eval_every = check_int("eval_every", c.eval_every, minimum=1)
        return c

    def to_json(self):
        d = dataclasses.asdict(self)
        d["milestones"] = list(d["milestones"]) if d["milestones"] is not None else None
        return json.dumps(d, indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text):
        d = json.loads(text)
        if not isinstance(d, dict):
            raise ValueError(f"a config must be a JSON object, got a JSON {type(d).__name__}")
        if d.get("milestones") is not None:
            d["milestones"] = tuple(d["milestones"])
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"config has unknown keys {sorted(unknown)}")
        return cls(**d)


def default_schedule(dataset):
    """The schedule preset of a data set: the paper's for the real sets, ``quick`` for the sample."""
    if dataset == "mnist-sample":
        return "quick"
    if dataset.startswith("cifar100"):
        return "cifar100"
    if dataset.startswith("cifar10"):
        return "cifar10"
    return "mnist"


def read_config(path):
    """The resolved :class:`TrainConfig` in the JSON file ``path``; errors name the file."""
    try:
        with open(path) as f:
            text = f.read()
        return TrainConfig.from_json(text).resolved()
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from exc
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{path}: {exc}") from exc


def head_options(cfg):
    """``(head, options)`` for :func:`emsm_np.models.build_network`: the head a resolved config
    trains with, and the keyword arguments of its class."""
    if cfg.loss in EM_LOSSES:  # Softmax, M- and E-Softmax are EM-Softmax with V = 1, m = 0, lam = 0
        return "em-softmax", {"ensemble": cfg.ensemble, "margin": cfg.margin, "lam": cfg.lam,
                              "normalize": cfg.normalize, "hsic_gradient": cfg.hsic_gradient}
    if cfg.loss == "hinge":
        return cfg.loss, {"norm": cfg.hinge_norm}
    if cfg.loss == "center":
        return cfg.loss, {"lam": cfg.center_lam, "alpha": cfg.center_alpha}
    if cfg.loss in ANGULAR_LOSSES:
        return cfg.loss, {"margin": cfg.margin, "beta": BETA_SCHEDULES.get(cfg.beta, cfg.beta)}
    return cfg.loss, {"scale": cfg.scale, "learn_scale": cfg.learn_scale}


def _switch(field):
    return "--" + field.replace("_", "-")


def _check_beta(beta):
    if isinstance(beta, str):
        if beta not in BETA_SCHEDULES:
            raise ValueError(f"beta must be a number >= 0 or a schedule, one of "
                             f"{', '.join(map(repr, BETA_SCHEDULES))}; got {beta!r}")
        return beta
    return check_float("beta", beta, minimum=0.0)


def _check_bool(name, value):
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be true or false, got {value!r}")
    return value


def _check_angular_margin(loss, margin):
    """The m of cos(m theta): an integer >= 1 (a float such as 2.0 from the command line is 2)."""
    if isinstance(margin, float) and margin.is_integer():
        margin = int(margin)
    if isinstance(margin, bool) or not isinstance(margin, numbers.Integral) or margin < 1:
        raise ValueError(f"--margin of --loss {loss} is the integer m >= 1 of cos(m theta), got {margin}")
    return int(margin)


def _check_switches(c):
    """The loss name and the switches must agree (Softmax is V=1, m=0, lam=0, ...).

    E- and EM-Softmax accept V = 1 (the first point of the paper's Fig. 2): one
    classifier has no pair to be diverse from, so the HSIC term is zero whatever lam.
    """
    V, m, lam = c.ensemble, c.margin, c.lam
    if c.loss not in ("e-softmax", "em-softmax") and (V != 1 or lam != 0):
        hint = "; the center loss's weight is --center-lam" if c.loss == "center" and lam != 0 else ""
        raise ValueError(f"--loss {c.loss} uses one classifier and no diversity term: "
                         f"expected ensemble 1 and lam 0, got ensemble {V} and lam {lam}{hint}")
    if c.loss in ("softmax", "e-softmax", "hinge", "center", "n-softmax") and m != 0:
        raise ValueError(f"--loss {c.loss} has no margin: expected margin 0, got {m}")
