"""Training: configuration presets, the SGD loop with exact resume, evaluation, plots."""
from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .config import LOSS_DEFAULTS, LOSSES, SCHEDULES, TrainConfig
from .evaluate import evaluate
from .loop import TrainingInterrupted, batch_position, build_from_config, train

__all__ = ["TrainConfig", "LOSSES", "LOSS_DEFAULTS", "SCHEDULES", "train", "evaluate",
           "TrainingInterrupted", "batch_position", "build_from_config", "save_checkpoint",
           "load_checkpoint", "CheckpointError"]
