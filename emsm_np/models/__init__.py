"""The paper's networks (LiuNet) and a small CNN (lenet), with the EM-Softmax head."""
from .build import build_network, lenet_features, liunet_features, stage_widths
from .configs import LENET, LIUNET, NETWORKS
from .network import Network

__all__ = ["build_network", "lenet_features", "liunet_features", "stage_widths", "Network", "LIUNET", "LENET", "NETWORKS"]
