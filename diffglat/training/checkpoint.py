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
