"""The Softmax / M-Softmax / E-Softmax / EM-Softmax head."""
from ..functional.hsic import paper_hsic_gradient
from .em_softmax import diversity, em_softmax_loss, ensemble_logits, weak_logits
from .head import EMSoftmax

__all__ = [
    "em_softmax_loss",
    "EMSoftmax",
    "ensemble_logits",
    "weak_logits",
    "diversity",
    "paper_hsic_gradient",
]
