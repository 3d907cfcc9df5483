"""Trainer loop, LR schedule, atomic resumable checkpoints."""

from .checkpoint import load_checkpoint, save_atomic
from .trainer import Trainer, TrainSettings, select_device, seed_everything

__all__ = ["Trainer", "TrainSettings", "select_device", "seed_everything", "save_atomic", "load_checkpoint"]
