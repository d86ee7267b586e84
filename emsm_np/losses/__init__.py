"""The loss heads: Softmax / M-Softmax / E-Softmax / EM-Softmax, and the losses the paper
compares them with in Table 1 (HingeLoss, CenterLoss, L-Softmax, A-Softmax, N-Softmax).

Every head has the interface of :class:`EMSoftmax` (see :mod:`emsm_np.losses.linear_head`);
every ``*_loss`` function returns the loss as a float and its gradients.
"""
from ..functional.hsic import paper_hsic_gradient
from .a_softmax import ASoftmax, a_softmax_loss
from .center import CenterLoss, center_loss
from .em_softmax import diversity, em_softmax_loss, ensemble_logits, weak_logits
from .head import EMSoftmax
from .hinge import HingeLoss, hinge_loss
from .l_softmax import (
    L_SOFTMAX_SCHEDULE,
    SPHEREFACE_SCHEDULE,
    BetaSchedule,
    LSoftmax,
    beta_schedule,
    l_softmax_loss,
)
from .n_softmax import NSoftmax, n_softmax_loss

__all__ = [
    "em_softmax_loss",
    "EMSoftmax",
    "ensemble_logits",
    "weak_logits",
    "diversity",
    "paper_hsic_gradient",
    "hinge_loss",
    "HingeLoss",
    "center_loss",
    "CenterLoss",
    "l_softmax_loss",
    "LSoftmax",
    "BetaSchedule",
    "beta_schedule",
    "L_SOFTMAX_SCHEDULE",
    "SPHEREFACE_SCHEDULE",
    "a_softmax_loss",
    "ASoftmax",
    "n_softmax_loss",
    "NSoftmax",
]
