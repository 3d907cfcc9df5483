"""The training run both studies share: seed, model and criterion from the family table, precision,
the checkpoint fingerprint, (distributed) training, and the model.pt record.

The fingerprint guards resumption: a checkpoint resumes only under the same identity (what the
study says shapes the run) on the same number of processes and precision. Settings that may change
between a checkpoint and its resumption (`RESUMABLE_CHANGES`: max_steps, checkpoint/log cadence)
are left out of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from ..config import section_hash
from ..training import Trainer, TrainSettings, distributed, load_checkpoint, save_atomic, seed_everything
from ..training.precision import precision_name, resolve_precision
from ..training.trainer import RESUMABLE_CHANGES
from .families import build_model


# What a model.pt holds (save_model) and load_trained reads.
MODEL_KEYS = ("kind", "model_config", "vocab_size", "state_dict", "training")


def shaping(train: dict) -> dict:
    """The train settings that shape a run (all but RESUMABLE_CHANGES)."""
    return {k: v for k, v in train.items() if k not in RESUMABLE_CHANGES}


@dataclass
class TrainedRun:
    trainer: Trainer
    model: torch.nn.Module
    last_stats: dict
    fingerprint: str
    device: torch.device
    processes: int
    precision: torch.dtype | None


def train_run(config: dict, kind: str, model_config: dict, vocab_size: int, pad: int, criterion_for: Callable,
              dataset, settings: TrainSettings, out: Path, device: torch.device, identity: dict,
              **trainer_options) -> TrainedRun | None:
    """Train one model (resuming from out/checkpoints); None on the processes other than rank 0.

    criterion_for: model -> criterion; identity: what the study says shapes the run (hashed with
    the process count and precision into the fingerprint); trainer_options: Trainer's keywords.
    """
    rank, _, processes = distributed.world()
    seed_everything(settings.seed)
    model = build_model(kind, model_config, vocab_size, pad)
    criterion = criterion_for(model)
    precision = resolve_precision(config["compute"]["precision"], device)
    fingerprint = section_hash({**identity, "processes": processes, "precision": precision_name(precision)})
    distributed.join(device)
    try:
        trainer = Trainer(model, criterion, dataset, settings, out, device, fingerprint, precision=precision,
                          **trainer_options)
        last_stats = trainer.train()
    finally:
        distributed.leave()
    if rank != 0:
        return None
    return TrainedRun(trainer, model, last_stats, fingerprint, device, processes, precision)


def save_model(run: TrainedRun, kind: str, model_config: dict, vocab_size: int, state_dict: dict, path: Path,
               **training) -> None:
    """model.pt: what load_trained needs, and the training record (the study's own fields in `training`)."""
    save_atomic({
        "kind": kind, "model_config": model_config, "vocab_size": vocab_size, "state_dict": state_dict,
        "training": {"steps": run.trainer.step, "wall_seconds": run.trainer.elapsed, "last_stats": run.last_stats,
                     "fingerprint": run.fingerprint, "parameters": sum(p.numel() for p in run.model.parameters()),
                     "device": run.device.type, "processes": run.processes, "precision": precision_name(run.precision),
                     **training},
    }, path)


def read_model(path: Path) -> dict:
    """A model.pt record; a corrupt one is moved aside (CorruptFile), so that the rerun trains again,
    which, its checkpoints being complete, only averages them (or saves the final weights) anew."""
    return load_checkpoint(path, MODEL_KEYS, then="rerun the workflow: training writes it again from its checkpoints")
