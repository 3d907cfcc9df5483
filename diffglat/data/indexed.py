"""Binarised splits: the token ids of one side of one split as two memory-mapped .npy files.

  <split>.<lang>.tokens.npy   [total tokens] uint16 (int32 past 65,536 symbols): every sentence's
                              ids back to back, without BOS/EOS
  <split>.<lang>.offsets.npy  [n + 1] int64: sentence i is tokens[offsets[i]:offsets[i + 1]]

The source side of a captioning split (side "image") is image features instead, every image's
regions back to back:

  <split>.image.features.npy  [total regions, F] float16
  <split>.image.offsets.npy   [images + 1] int64: image j is features[offsets[j]:offsets[j + 1]]
  <split>.image.pairs.npy     [pairs] int64: the image of each (image, caption) pair

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
from .images import IMAGE

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

    def collate(self, rows: list[np.ndarray], dictionary: Dictionary) -> torch.Tensor:
        """The source framing: ids + EOS [B, S], right-padded."""
        return torch.as_tensor(pad_batch([np.append(r, dictionary.eos) for r in rows], dictionary.pad), dtype=torch.long)


class FeatureArray:
    """The source side of a captioning split: `lengths` [pairs] (regions of each pair's image),
    `array[i]` -> the features [regions, F] float32 of pair i, `width` F.

    The files must agree (offsets index the regions, every pair names an image); one that cannot be
    read or disagrees is corrupt: moved aside with the folder's stats.json (CorruptFile), so that
    the workflow's rerun prepares the benchmark again."""

    def __init__(self, directory: str | Path, stem: str):
        directory = Path(directory)
        repair, marker = REPREPARE, directory / DONE_MARKER
        paths = [directory / f"{stem}.{part}.npy" for part in ("features", "offsets", "pairs")]
        arrays = []
        for path in paths:  # written by prepare.FeatureWriter
            with parsing(path, (ValueError, OSError, EOFError), repair, also=(marker,)):
                arrays.append(np.load(path, mmap_mode="r"))
        self.features, offsets, pairs = arrays
        offsets, self.pairs = np.asarray(offsets), np.asarray(pairs)
        if self.features.ndim != 2 or offsets.ndim != 1 or not len(offsets) or offsets[0] != 0 \
                or offsets[-1] != len(self.features) or (np.diff(offsets) <= 0).any():
            raise corrupt(paths[1], f"its offsets do not index the {len(self.features):,} regions of {paths[0].name}",
                          repair, also=(marker,))
        if self.pairs.ndim != 1 or (len(self.pairs) and not 0 <= self.pairs.min() <= self.pairs.max() < len(offsets) - 1):
            raise corrupt(paths[2], f"it names images outside the {len(offsets) - 1:,} of {paths[1].name}",
                          repair, also=(marker,))
        self.offsets, self.width = offsets, self.features.shape[1]
        self.lengths = np.diff(offsets)[self.pairs]

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, i: int) -> np.ndarray:
        j = self.pairs[i]
        return np.asarray(self.features[self.offsets[j]: self.offsets[j + 1]], dtype=np.float32)

    def collate(self, rows: list[np.ndarray], dictionary: Dictionary) -> torch.Tensor:
        """Region features [B, R, F] float32, right-padded with all-zero rows (no EOS)."""
        batch = np.zeros((len(rows), max(len(r) for r in rows), self.width), dtype=np.float32)
        for b, row in enumerate(rows):
            batch[b, : len(row)] = row
        return torch.from_numpy(batch)


class ParallelDataset:
    """A prepared split as the trainer sees it: `lengths` for token batching, `collate` into tensors.

    `indices` selects the pairs in use (e.g. those a length filter keeps); positions 0..len-1 of
    the dataset refer to them.
    """

    def __init__(self, source: TokenArray | FeatureArray, target: TokenArray, dictionary: Dictionary, indices=None):
        if len(source) != len(target):
            raise ValueError(f"source has {len(source)} sentences, target {len(target)}")
        self.source, self.target, self.dictionary = source, target, dictionary
        self.indices = np.arange(len(source)) if indices is None else np.asarray(indices, dtype=np.int64)
        # The widest row collate builds for each pair (source + EOS or image regions, BOS + target).
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
        tgt = [t for _, t in pairs]
        arrays = {
            "tgt": pad_batch(tgt, d.pad),  # NAT target
            "tgt_lengths": np.array([len(t) for t in tgt]),
            "prev_output_tokens": pad_batch([np.insert(t, 0, d.bos) for t in tgt], d.pad),  # AR decoder input
            "tgt_eos": pad_batch([np.append(t, d.eos) for t in tgt], d.pad),  # AR target
        }
        return {"src": self.source.collate([s for s, _ in pairs], d),  # source + EOS, or [B, R, F] regions
                **{k: torch.as_tensor(v, dtype=torch.long) for k, v in arrays.items()}}


def load_split(directory: str | Path, split: str, source: str, target: str) -> ParallelDataset:
    """A split of a prepared benchmark folder, e.g. load_split("data/prepared/multi30k_en_de", "train", "en", "de")."""
    directory = Path(directory)
    if not (directory / DONE_MARKER).is_file():
        raise FileNotFoundError(f"{directory} is not prepared (no {DONE_MARKER}): run `diffglat prepare` for it")
    dictionary = Dictionary.load(directory / "dict.txt")
    source_side = FeatureArray(directory, f"{split}.{source}") if source == IMAGE else TokenArray(directory, f"{split}.{source}")
    return ParallelDataset(source_side, TokenArray(directory, f"{split}.{target}"), dictionary)
