"""Trainer loop, LR schedule, atomic resumable checkpoints, data parallelism, preemption."""

from . import distributed
from .checkpoint import load_checkpoint, save_atomic
from .trainer import Plateau, Preempted, Trainer, TrainSettings, select_device, seed_everything

__all__ = ["Trainer", "TrainSettings", "Plateau", "Preempted", "distributed", "select_device", "seed_everything", "save_atomic",
           "load_checkpoint"]
