"""``emsm info``: a network's parameter count and size in MB, counted as Table 3 of the paper
counts (its rule is not stated; this one reproduces 9 of the 12 cells docs/paper.md compares).

Table 3 gives model sizes in MB. Counting every trained parameter -- convolution
and FC weights, the head's V classifiers, batch-norm scales and shifts, PReLU
slopes (not the batch-norm running statistics, which are not trained) -- at 4
bytes (float32), with 1 MB = 10^6 bytes, reproduces these to the paper's rounding
(``tests/test_info.py``)::

    Table 3 row                         emsm info                                      MB      paper
    CIFAR-10  LiuNet (Softmax)          --network liunet-cifar10 --ensemble 1          15.15   15.1
    CIFAR-10  LiuNet(48)                ... --width 48 --ensemble 1                     9.32    9.3
    CIFAR-10  LiuNet(64)                ... --width 64 --ensemble 1                    15.15   15.1
    CIFAR-10  LiuNet(96)                ... --width 96 --ensemble 1                    30.90   30.9
    CIFAR-10  EM-Softmax                --network liunet-cifar10 --ensemble 2          15.16   15.2
    CIFAR-100 LiuNet(48)                --network liunet-cifar100 --width 48 --ensemble 1   9.41    9.4
    CIFAR-100 LiuNet(96)                --network liunet-cifar100 --width 96 --ensemble 1  30.99   31.0
    CIFAR-100 EM-Softmax                --network liunet-cifar100 --ensemble 2         31.09   31.1

Three CIFAR-100 entries are not reproduced: LiuNet(64) (15.24 against 15.3), the
Softmax LiuNet (15.7: no configuration here gives it; the Softmax liunet-cifar100
is 30.99 MB, and the paper's own EM-Softmax, 31.1 MB, is that network with V = 2), and
LiuNet(48+64+96), the sum of three (55.64 against 55.7, the LiuNet(64) difference).
Counting in MiB (2^20 bytes) gives 14.45 for the 15.1 MB LiuNet, and counting only
the weight matrices gives 15.13 for the 15.2 MB EM-Softmax: neither is Table 3's rule.
"""
from .._checks import check_choice, check_int
from ..data.datasets import DATASET_NAMES, DATASET_SHAPES
from ..models import build_network, stage_widths
from ..models.configs import NETWORKS

BYTES_PER_PARAMETER = 4  # float32
MB = 10**6  # bytes; Table 3's sizes are matched with 10^6, not 2^20


def default_dataset(network):
    """The data set a network is sized for when none is given: CIFAR-10/100 for their LiuNets, else MNIST."""
    return {"liunet-cifar10": "cifar10", "liunet-cifar100": "cifar100"}.get(network, "mnist")


def size_mb(num_parameters):
    """Size in MB (10^6 bytes) of ``num_parameters`` float32 parameters."""
    return num_parameters * BYTES_PER_PARAMETER / MB


def network_info(network, dataset=None, ensemble=2, width=None, feature_dim=None, activation=None):
    """Parameter count and float32 size of a network with the EM-Softmax head.

    Parameters
    ----------
    network : one of :data:`~emsm_np.models.NETWORKS`
    dataset : one of ``DATASET_NAMES`` (classes and image shape); default
        :func:`default_dataset` of the network
    ensemble : V >= 1, weak classifiers in the head (1: a Softmax or M-Softmax model)
    width, feature_dim, activation : as :func:`~emsm_np.models.build_network`

    Returns
    -------
    dict with ``network``, ``dataset``, ``num_classes``, ``in_channels``, ``input_size``,
    ``ensemble``, ``widths`` (filters of each stage, as the paper writes 64/64/128/256), ``feature_dim``,
    ``parameters``, ``feature_parameters``, ``head_parameters`` (ints) and ``size_mb`` (float)
    """
    check_choice("network", network, NETWORKS)
    dataset = default_dataset(network) if dataset is None else check_choice("dataset", dataset, DATASET_NAMES)
    ensemble = check_int("ensemble", ensemble, minimum=1)
    num_classes, channels, size = DATASET_SHAPES[dataset]
    net = build_network(network, num_classes=num_classes, feature_dim=feature_dim, ensemble=ensemble,
                        activation=activation, in_channels=channels, input_size=size, width=width)
    widths = stage_widths(network, width)
    head = int(net.head.params["weight"].size)
    total = net.num_parameters()
    return {"network": network, "dataset": dataset, "num_classes": num_classes, "in_channels": channels,
            "input_size": size, "ensemble": ensemble, "widths": widths,
            "feature_dim": int(net.head.in_features), "parameters": total,
            "feature_parameters": total - head, "head_parameters": head, "size_mb": size_mb(total)}


def format_info(info):
    """The lines ``emsm info`` prints for :func:`network_info`'s dict."""
    s = info["input_size"]
    return "\n".join([
        f"network: {info['network']} for {info['dataset']} ({info['in_channels']}x{s}x{s} images, "
        f"{info['num_classes']} classes)",
        f"stage widths: {'/'.join(map(str, info['widths']))}; feature layer: {info['feature_dim']}; "
        f"weak classifiers: V = {info['ensemble']}",
        f"parameters: {info['parameters']:,} (features {info['feature_parameters']:,}, "
        f"head {info['head_parameters']:,})",
        f"size: {info['size_mb']:.2f} MB (float32, 1 MB = 10^6 bytes, Table 3's unit)",
    ])
