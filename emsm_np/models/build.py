"""Build the networks named in :mod:`emsm_np.models.configs`."""
import numpy as np

from .._checks import check_choice, check_float, check_int
from ..layers.prelu import PReLU
from ..layers.relu import ReLU
from ..layers.batch_norm import BatchNorm1d, BatchNorm2d
from ..layers.conv2d import Conv2d
from ..layers.dropout import Dropout
from ..layers.flatten import Flatten
from ..layers.linear import Linear
from ..layers.max_pool2d import MaxPool2d
from ..layers.sequential import Sequential
from ..losses.a_softmax import ASoftmax
from ..losses.center import CenterLoss
from ..losses.head import EMSoftmax
from ..losses.hinge import HingeLoss
from ..losses.l_softmax import LSoftmax
from ..losses.n_softmax import NSoftmax
from .configs import LENET, LIUNET, NETWORKS
from .network import Network

ACTIVATIONS = ("prelu", "relu")

# The heads a network can end with: EM-Softmax (Softmax, M- and E-Softmax are its special
# cases) and the losses Table 1 of the paper compares it with.
HEADS = {"em-softmax": EMSoftmax, "hinge": HingeLoss, "center": CenterLoss, "l-softmax": LSoftmax,
         "a-softmax": ASoftmax, "n-softmax": NSoftmax}


def _activation(kind, channels, dtype):
    # PReLU (one slope per channel): the EM-Softmax paper names no activation; the L-Softmax
    # paper's text is reported to use PReLU, and its prototxts ReLU (docs/paper.md).
    return PReLU(channels, dtype=dtype) if kind == "prelu" else ReLU()


def _ceil_half(n):
    return -(-n // 2)


def _feature_layer(in_features, feature_dim, activation, dtype, rng):
    """FC -> batch norm -> activation: the prototxts' ``ip1 -> bn_ip -> relu_ip``.

    The batch norm keeps the features' scale fixed while the FC weights grow;
    without it, the FC layer and the head are two unnormalised linear maps in a
    row and training at the paper's learning rate 0.1 diverges within a few
    dozen iterations (docs/paper.md, "Which LiuNet"). No FC bias: the batch
    norm's beta takes its place, as for the convolutions.
    """
    return [Linear(in_features, feature_dim, bias=False, dtype=dtype, rng=rng),
            BatchNorm1d(feature_dim, dtype=dtype),
            _activation(activation, feature_dim, dtype)]


def liunet_features(config, feature_dim, activation="prelu", dtype=np.float32, rng=None):
    """The LiuNet feature extractor of a :data:`LIUNET` configuration (see configs.py).

    Stages of [conv 3x3 - batch norm - activation] x n, 2x2 max pooling after
    every stage but the first, then FC - batch norm - activation (the features
    (N, feature_dim) that the head classifies).
    """
    layers = []
    c_in, size = config["in_channels"], config["input_size"]
    for stage, (width, n_convs) in enumerate(config["stages"]):
        for _ in range(n_convs):
            layers += [
                Conv2d(c_in, width, 3, padding=1, bias=False, dtype=dtype, rng=rng),
                BatchNorm2d(width, dtype=dtype),
                _activation(activation, width, dtype),
            ]
            c_in = width
        if stage > 0:
            layers.append(MaxPool2d(2, 2, ceil_mode=True))
            size = _ceil_half(size)
    layers += [Flatten()] + _feature_layer(c_in * size * size, feature_dim, activation, dtype, rng)
    return Sequential(*layers)


def lenet_features(config, feature_dim, activation="relu", dtype=np.float32, rng=None):
    """A small CNN: [conv 5x5 (padding 2) - activation - max-pool 2] x 2, then FC - batch norm - activation."""
    layers = []
    c_in, size = config["in_channels"], config["input_size"]
    for width, k in config["convs"]:
        layers += [
            Conv2d(c_in, width, k, padding=k // 2, dtype=dtype, rng=rng),
            _activation(activation, width, dtype),
            MaxPool2d(2, 2, ceil_mode=True),
        ]
        c_in, size = width, _ceil_half(size)
    layers += [Flatten()] + _feature_layer(c_in * size * size, feature_dim, activation, dtype, rng)
    return Sequential(*layers)


def stage_widths(name, width=None):
    """Filters of each LiuNet stage (each lenet convolution) of network ``name``.

    With ``width``, scaled so that the first is ``width``: the LiuNet-CIFAR-10 stages
    64/64/128/256 become 48/48/96/192 or 96/96/192/384 (the paper prints 382, sic), the
    variants of Sec. 4.7 whose sizes Table 3 gives. Default: the configuration's.
    """
    check_choice("network", name, NETWORKS)
    base = [w for w, _ in (LIUNET[name]["stages"] if name in LIUNET else LENET[name]["convs"])]
    if width is None:
        return base
    width = check_int("width", width, minimum=1)
    return [max(1, round(w * width / base[0])) for w in base]


def build_network(name="lenet", num_classes=10, feature_dim=None, ensemble=1, margin=0.0,
                  lam=0.0, normalize="column", activation=None, in_channels=None,
                  input_size=None, width=None, dropout=0.0, dtype=np.float32, seed=0,
                  hsic_gradient="exact", head="em-softmax", head_options=None):
    """Build a network by name with the EM-Softmax head, or the head of a compared loss.

    Parameters
    ----------
    name : one of :data:`NETWORKS` ("lenet", "liunet-mnist", "liunet-mnist-paper",
        "liunet-cifar10", "liunet-cifar100")
    num_classes : K
    feature_dim : width d of the FC feature layer (2 for feature plots);
        default 256 for LiuNets (not stated in the paper; its Table 3 sizes fit it,
        see docs/paper.md), 128 for lenet
    ensemble, margin, lam, normalize, hsic_gradient : the head's switches (see EMSoftmax;
        hsic_gradient "paper": docs/derivations.md, 'The paper's HSIC gradient')
    activation : "prelu" (the EM-Softmax paper names none; the L-Softmax paper's, as reported;
        LiuNet default) or "relu" (the L-Softmax prototxts; lenet default)
    in_channels : override the configuration's input channels (e.g. 3 for lenet on CIFAR)
    input_size : override the configuration's image height and width (square images;
        e.g. 28 for liunet-cifar10 on MNIST: 28 -> 14 -> 7 -> 4 before the FC layer)
    width : filters of the first convolution, the others scaled in proportion
        (LiuNets: 48 gives 48/48/96/192, the paper's LiuNet(48) of Table 3;
        lenet: 16 gives 16/32); default the configuration's (64 LiuNet-MNIST, 32 lenet)
    dropout : drop probability of a Dropout layer on the features, after the FC -
        BN - activation (the paper's Sec. 4.8 / Table 4 adds dropout after the
        second last FC layer, its rate tuned in {0.3, 0.5, 0.7}); 0: none
    dtype : float32 or float64
    seed : int, all initial weights are drawn from one Generator seeded with it;
        the dropout masks from a second one, seeded with ``(seed, 1)``
    head : one of :data:`HEADS`: "em-softmax" (default; its switches are ``ensemble``,
        ``margin``, ``lam``, ``normalize`` and ``hsic_gradient``), or a compared loss,
        "hinge", "center", "l-softmax", "a-softmax" or "n-softmax" (its class in
        :mod:`emsm_np.losses`), whose switches are ``head_options``
    head_options : dict of keyword arguments of a compared loss's head class (e.g.
        ``{"margin": 2, "beta": L_SOFTMAX_SCHEDULE}`` for "l-softmax"); default: the class's
    """
    check_choice("network", name, NETWORKS)
    check_choice("head", head, tuple(HEADS))
    if head == "em-softmax" and head_options:
        raise ValueError("head_options are for the compared losses' heads; EM-Softmax takes ensemble, "
                         "margin, lam, normalize and hsic_gradient")
    rng = np.random.default_rng(seed)
    if name in LIUNET:
        config = dict(LIUNET[name])
        default_dim, default_act, make = 256, "prelu", liunet_features
    else:
        config = dict(LENET[name])
        default_dim, default_act, make = 128, "relu", lenet_features
    feature_dim = default_dim if feature_dim is None else check_int("feature_dim", feature_dim, minimum=1)
    activation = check_choice("activation", activation or default_act, ACTIVATIONS)
    if in_channels is not None:
        config["in_channels"] = check_int("in_channels", in_channels, minimum=1)
    if input_size is not None:
        config["input_size"] = check_int("input_size", input_size, minimum=1)
    if width is not None:
        key = "stages" if name in LIUNET else "convs"
        config[key] = [(w, n) for w, (_, n) in zip(stage_widths(name, width), config[key])]
    features = make(config, feature_dim, activation, dtype, rng)
    dropout = check_float("dropout", dropout, minimum=0.0)
    if dropout > 0:
        features = Sequential(*features.layers, Dropout(dropout, rng=np.random.default_rng([seed, 1])))
    if head == "em-softmax":
        layer = EMSoftmax(feature_dim, num_classes, ensemble=ensemble, margin=margin, lam=lam,
                          normalize=normalize, dtype=dtype, rng=rng, hsic_gradient=hsic_gradient)
    else:
        layer = HEADS[head](feature_dim, num_classes, dtype=dtype, rng=rng, **(head_options or {}))
    return Network(features, layer, name=name)
