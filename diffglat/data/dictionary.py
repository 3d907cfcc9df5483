"""A token dictionary: symbols <-> ids, with the special symbols every model family needs."""

from __future__ import annotations

from pathlib import Path

from ..io import atomic_write_text

SPECIALS = ("<pad>", "<s>", "</s>", "<unk>", "<blank>", "<mask>")


class Dictionary:
    """Ids 0..5 are the specials (pad, bos, eos, unk, CTC blank, diffusion mask)."""

    pad, bos, eos, unk, blank, mask = range(len(SPECIALS))

    def __init__(self, symbols: list[str]):
        clash = set(symbols) & set(SPECIALS)
        if clash:
            raise ValueError(f"symbols collide with special symbols: {sorted(clash)}")
        self.symbols = list(SPECIALS) + list(symbols)
        self.index = {s: i for i, s in enumerate(self.symbols)}
        if len(self.index) != len(self.symbols):
            raise ValueError("duplicate symbols in dictionary")

    def __len__(self) -> int:
        return len(self.symbols)

    @property
    def num_specials(self) -> int:
        return len(SPECIALS)

    def encode(self, tokens: list[str]) -> list[int]:
        return [self.index.get(t, self.unk) for t in tokens]

    def decode(self, ids, strip_specials: bool = True) -> list[str]:
        out = []
        for i in ids:
            i = int(i)
            if i == self.eos and strip_specials:
                break
            if strip_specials and i < self.num_specials:
                continue
            out.append(self.symbols[i])
        return out

    def save(self, path: str | Path) -> None:
        atomic_write_text(path, "\n".join(self.symbols[self.num_specials:]) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> "Dictionary":
        lines = Path(path).read_text(encoding="utf-8").split("\n")
        return cls([line for line in lines if line])
