"""Binarised splits: the token ids of one side of one split as two memory-mapped .npy files.

  <split>.<lang>.tokens.npy   [total tokens] uint16 (int32 past 65,536 symbols): every sentence's
                              ids back to back, without BOS/EOS
  <split>.<lang>.offsets.npy  [n + 1] int64: sentence i is tokens[offsets[i]:offsets[i + 1]]

np.load(mmap_mode="r") opens them without reading: a WMT-size split costs nothing until a batch
touches it, and data-loading processes share the pages.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..io import corrupt, parsing
from .batching import pad_batch
from .dictionary import Dictionary

DONE_MARKER = "stats.json"  # written last by `diffglat prepare`: without it a folder is incomplete
# A corrupt array moves DONE_MARKER aside with it, so that the rerun prepares the folder again.
REPREPARE = f"and {DONE_MARKER} too, so that rerunning the workflow prepares the benchmark again"


def save_tokens(directory: Path, stem: str, tokens: np.ndarray, lengths: np.ndarray) -> None:
    """tokens [total], lengths [n] (as from BPE.encode) -> <stem>.tokens.npy, <stem>.offsets.npy."""
    np.save(directory / f"{stem}.tokens.npy", tokens)
    np.save(directory / f"{stem}.offsets.npy", np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64))


class TokenArray:
    """One side of a split: `lengths` [n] and `array[i]` -> the ids of sentence i.

    The two files must agree (offsets start at 0, never fall, end at the token count); a file that
    cannot be read or disagrees is corrupt: it and the folder's stats.json are moved aside
    (CorruptFile), so that the workflow's rerun prepares the benchmark again.
    """

    def __init__(self, directory: str | Path, stem: str):
        directory = Path(directory)
        paths = directory / f"{stem}.tokens.npy", directory / f"{stem}.offsets.npy"
        arrays = []
        for path in paths:
            with parsing(path, (ValueError, OSError, EOFError), REPREPARE, also=(directory / DONE_MARKER,)):
                arrays.append(np.load(path, mmap_mode="r"))
        self.tokens, self.offsets = arrays
        offsets = np.asarray(self.offsets)
        if offsets.ndim != 1 or not len(offsets) or offsets[0] != 0 or offsets[-1] != len(self.tokens) \
                or (np.diff(offsets) < 0).any():
            raise corrupt(paths[1], f"its offsets do not index the {len(self.tokens):,} tokens of {paths[0].name}",
                          REPREPARE, also=(directory / DONE_MARKER,))
        self.lengths = np.diff(offsets)

    def __len__(self) -> int:
        return len(self.lengths)

    def __getitem__(self, i: int) -> np.ndarray:
        return np.asarray(self.tokens[self.offsets[i]: self.offsets[i + 1]], dtype=np.int64)


class ParallelDataset:
    """A prepared split as the trainer sees it: `lengths` for token batching, `collate` into tensors.

    `indices` selects the pairs in use (e.g. those a length filter keeps); positions 0..len-1 of
    the dataset refer to them.
    """

    def __init__(self, source: TokenArray, target: TokenArray, dictionary: Dictionary, indices=None):
        if len(source) != len(target):
            raise ValueError(f"source has {len(source)} sentences, target {len(target)}")
        self.source, self.target, self.dictionary = source, target, dictionary
        self.indices = np.arange(len(source)) if indices is None else np.asarray(indices, dtype=np.int64)
        # The widest row collate builds for each pair (source + EOS, BOS + target).
        self.lengths = np.maximum(source.lengths[self.indices], target.lengths[self.indices]) + 1

    def __len__(self) -> int:
        return len(self.indices)

    def pair(self, position: int) -> tuple[np.ndarray, np.ndarray]:
        i = self.indices[position]
        return self.source[i], self.target[i]

    def collate(self, positions) -> dict:
        """The framings every model family needs; all [B, T] right-padded, except tgt_lengths [B]."""
        d = self.dictionary
        pairs = [self.pair(p) for p in positions]
        src = [np.append(s, d.eos) for s, _ in pairs]
        tgt = [t for _, t in pairs]
        arrays = {
            "src": pad_batch(src, d.pad),  # source + EOS
            "tgt": pad_batch(tgt, d.pad),  # NAT target
            "tgt_lengths": np.array([len(t) for t in tgt]),
            "prev_output_tokens": pad_batch([np.insert(t, 0, d.bos) for t in tgt], d.pad),  # AR decoder input
            "tgt_eos": pad_batch([np.append(t, d.eos) for t in tgt], d.pad),  # AR target
        }
        return {k: torch.as_tensor(v, dtype=torch.long) for k, v in arrays.items()}


def load_split(directory: str | Path, split: str, source: str, target: str) -> ParallelDataset:
    """A split of a prepared benchmark folder, e.g. load_split("data/prepared/multi30k_en_de", "train", "en", "de")."""
    directory = Path(directory)
    if not (directory / DONE_MARKER).is_file():
        raise FileNotFoundError(f"{directory} is not prepared (no {DONE_MARKER}): run `diffglat prepare` for it")
    dictionary = Dictionary.load(directory / "dict.txt")
    sides = (TokenArray(directory, f"{split}.{lang}") for lang in (source, target))
    return ParallelDataset(*sides, dictionary)
