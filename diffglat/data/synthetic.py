"""The synthetic four-modality translation task of paper §2.2, Table 1 and appendix A.

Sources are `seq_len` numbers drawn uniformly from 1..N (paper: N = 5000). Each source gets exactly
one of four modalities, and its target adds a modality-specific offset to every number, one offset
for odd and one for even (1-based) positions:

    modality  odd positions   even positions     (paper, N = 5000)
    I         x + 1N          x + 2N             x + 5000 / x + 10000
    II        x + 2N          x + 1N             x + 10000 / x + 5000
    III       x + 3N          x + 4N             x + 15000 / x + 20000
    IV        x + 4N          x + 3N             x + 20000 / x + 15000

Every source has four valid targets, so a model that only sees the source faces a four-way
multi-modal distribution. Progressive modality learning (PML) trains a middle decoder layer on
only two modalities by merging I into II and III into IV.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..io import atomic_write_text
from .dictionary import Dictionary

MODALITY_NAMES = ("I", "II", "III", "IV")
# (odd-position multiplier, even-position multiplier) of N, per modality index 0..3.
OFFSET_MULTIPLIERS = np.array([[1, 2], [2, 1], [3, 4], [4, 3]])
# PML's two-modality targets for the middle layer: I -> II, II -> II, III -> IV, IV -> IV.
MERGED_MODALITY = np.array([1, 1, 3, 3])


@dataclass
class SyntheticSplit:
    """Numbers as integers, not dictionary ids: source [n, L], modality [n], target [n, L]."""

    source: np.ndarray
    modality: np.ndarray
    target: np.ndarray

    def __len__(self) -> int:
        return len(self.modality)


def apply_modality(source: np.ndarray, modality: np.ndarray, max_number: int) -> np.ndarray:
    """Targets for sources [n, L] under modalities [n] (indices 0..3)."""
    parity = np.arange(source.shape[1]) % 2  # 0 at 1-based odd positions, 1 at even ones
    multipliers = OFFSET_MULTIPLIERS[modality][:, parity]  # [n, L]
    return source + multipliers * max_number


def all_targets(source: np.ndarray, max_number: int) -> np.ndarray:
    """The four valid targets of each source: [n, 4, L]."""
    n = len(source)
    return np.stack([apply_modality(source, np.full(n, m), max_number) for m in range(4)], axis=1)


def generate(n: int, seq_len: int, max_number: int, rng: np.random.Generator) -> SyntheticSplit:
    """n pairs; modalities are assigned by a shuffled balanced draw (counts differ by at most 1)."""
    source = rng.integers(1, max_number + 1, size=(n, seq_len))
    modality = rng.permutation(np.arange(n) % 4)
    return SyntheticSplit(source, modality, apply_modality(source, modality, max_number))


def generate_splits(sizes: dict[str, int], seq_len: int, max_number: int, seed: int) -> dict[str, SyntheticSplit]:
    rng = np.random.default_rng(seed)
    return {name: generate(n, seq_len, max_number, rng) for name, n in sizes.items()}


def dictionary(max_number: int) -> Dictionary:
    """Numbers 1..5N: sources use 1..N, targets N+1..5N; one shared vocabulary (tied embeddings)."""
    return Dictionary([str(i) for i in range(1, 5 * max_number + 1)])


HEADER = "modality\tsource\ttarget"


def write_split(split: SyntheticSplit, path: str | Path) -> None:
    """One pair per line as TSV, written atomically."""
    lines = [HEADER] + [f"{MODALITY_NAMES[m]}\t{' '.join(map(str, src))}\t{' '.join(map(str, tgt))}"
                        for m, src, tgt in zip(split.modality, split.source, split.target)]
    atomic_write_text(path, "\n".join(lines) + "\n")


def read_split(path: str | Path, max_number: int) -> SyntheticSplit:
    """Read a split back, checking every line obeys its modality's rule."""
    path = Path(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    if not lines or lines[0] != HEADER:
        raise ValueError(f"{path}:1: expected header {HEADER!r}")
    sources, modalities, targets = [], [], []
    for number, line in enumerate(lines[1:], start=2):
        fields = line.split("\t")
        if len(fields) != 3 or fields[0] not in MODALITY_NAMES:
            raise ValueError(f"{path}:{number}: expected 'modality<TAB>source<TAB>target' with a modality in {MODALITY_NAMES}")
        try:
            src = [int(t) for t in fields[1].split()]
            tgt = [int(t) for t in fields[2].split()]
        except ValueError:
            raise ValueError(f"{path}:{number}: source and target must be whitespace-separated integers") from None
        if len(src) != len(tgt) or (sources and len(src) != len(sources[0])):
            raise ValueError(f"{path}:{number}: all sources and targets must have the same length")
        if not all(1 <= x <= max_number for x in src):
            raise ValueError(f"{path}:{number}: source numbers must lie in 1..{max_number}")
        modality = MODALITY_NAMES.index(fields[0])
        if tgt != apply_modality(np.array([src]), np.array([modality]), max_number)[0].tolist():
            raise ValueError(f"{path}:{number}: target does not follow modality {fields[0]}")
        sources.append(src)
        modalities.append(modality)
        targets.append(tgt)
    if not sources:
        raise ValueError(f"{path}: no pairs")
    return SyntheticSplit(np.array(sources), np.array(modalities), np.array(targets))


def to_ids(numbers: np.ndarray, dictionary: Dictionary) -> np.ndarray:
    """Numbers -> dictionary ids (the symbol of number k is str(k), placed after the specials)."""
    return numbers + dictionary.num_specials - 1


def from_ids(ids: np.ndarray, dictionary: Dictionary) -> np.ndarray:
    """Dictionary ids -> numbers; special symbols map to 0 (never a valid number)."""
    ids = np.asarray(ids)
    return np.where(ids >= dictionary.num_specials, ids - dictionary.num_specials + 1, 0)


class SyntheticDataset:
    """Training view of a split: `lengths` for batching and `collate` into model-ready tensors."""

    def __init__(self, split: SyntheticSplit, dictionary: Dictionary, max_number: int):
        self.dictionary = dictionary
        self.src = to_ids(split.source, dictionary)
        self.tgt = to_ids(split.target, dictionary)
        merged = apply_modality(split.source, MERGED_MODALITY[split.modality], max_number)
        self.tgt_merged = to_ids(merged, dictionary)
        self.lengths = np.full(len(split), split.target.shape[1])

    def __len__(self) -> int:
        return len(self.lengths)

    def collate(self, indices) -> dict:
        """Every framing a model family may need; all [B, T] except tgt_lengths [B]."""
        d = self.dictionary
        tgt = self.tgt[indices]
        B = len(indices)
        column = lambda symbol: np.full((B, 1), symbol)
        arrays = {
            "src": np.concatenate([self.src[indices], column(d.eos)], 1),  # source + EOS
            "tgt": tgt,  # NAT target
            "tgt_merged": self.tgt_merged[indices],  # PML middle-layer target (I->II, III->IV)
            "tgt_lengths": np.full(B, tgt.shape[1]),
            "prev_output_tokens": np.concatenate([column(d.bos), tgt], 1),  # AR decoder input
            "tgt_eos": np.concatenate([tgt, column(d.eos)], 1),  # AR target
        }
        return {k: torch.as_tensor(v, dtype=torch.long) for k, v in arrays.items()}


# The source of the paper's Table 1 example; the data step reports our targets for it.
PAPER_EXAMPLE_SOURCE = (52, 1, 937, 1234)


def hypothesis_numbers(ids, dictionary: Dictionary) -> list[int]:
    """Model output ids -> numbers, cut at the first EOS or pad; other specials become 0 (wrong)."""
    ids = [int(i) for i in ids]
    for stop in (dictionary.eos, dictionary.pad):
        if stop in ids:
            ids = ids[: ids.index(stop)]
    return from_ids(np.array(ids, dtype=np.int64), dictionary).tolist()
