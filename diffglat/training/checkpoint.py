"""Checkpoint files: written atomically (diffglat.io), read back with a check.

`last.pt` is the training state a rerun resumes from. A new one is written beside it and read back
before it replaces the old, and the old one stays as `previous.pt`: if `last.pt` is ever found
corrupt, the run resumes from `previous.pt` (a few steps earlier, to the same result), not from
scratch.
"""

from __future__ import annotations

import os
import pickle
import shutil
import zipfile
from pathlib import Path

import torch

from ..io import REBUILD, atomic_write, check_keys, parsing

PREVIOUS = "previous.pt"


def save_atomic(obj, path: str | Path) -> None:
    atomic_write(path, lambda f: torch.save(obj, f))


def load_checkpoint(path: str | Path, required: tuple[str, ...] = (), then: str = REBUILD):
    """A file torch.save wrote, holding a dict with the keys `required`; else CorruptFile (moved aside)."""
    # weights_only=False: our own files hold RNG states (numpy, python) besides tensors.
    with parsing(path, (RuntimeError, OSError, EOFError, ValueError, KeyError, AttributeError, pickle.UnpicklingError,
                        zipfile.BadZipFile), then):
        state = torch.load(path, map_location="cpu", weights_only=False)
    return check_keys(path, state, required, then)


def save_verified(state: dict, path: Path, required: tuple[str, ...]) -> None:
    """Write `state` to `path` keeping the file it replaces as previous.pt, once the new one reads back."""
    fresh = path.with_name(f"{path.stem}.new{path.suffix}")
    save_atomic(state, fresh)
    load_checkpoint(fresh, required, then="the previous checkpoint is kept; rerun to try again")
    previous = path.with_name(PREVIOUS)
    if path.exists():  # a hard link, so that a kill at any moment leaves last.pt in place
        previous.unlink(missing_ok=True)
        try:
            os.link(path, previous)
        except OSError:  # a file system without hard links
            shutil.copy2(path, previous)
    fresh.replace(path)


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
