"""Checkpoint files: written to a temp file, flushed to disk, then renamed over the old one."""

from __future__ import annotations

import os
from pathlib import Path

import torch


def save_atomic(obj, path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)


def load_checkpoint(path: str | Path):
    # weights_only=False: our own files hold RNG states (numpy, python) besides tensors.
    return torch.load(path, map_location="cpu", weights_only=False)


def average_checkpoints(paths: list[Path]) -> dict:
    """The element-wise mean of model state dicts (Vaswani et al. 2017); integer buffers come from the first."""
    if not paths:
        raise ValueError("no checkpoints to average")
    states = [load_checkpoint(path) for path in paths]
    average = {}
    for key, first in states[0].items():
        if first.is_floating_point():
            average[key] = sum(state[key].double() for state in states).div(len(states)).to(first.dtype)
        else:
            average[key] = first
    return average
