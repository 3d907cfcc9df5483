"""Joint source+target BPE subwords (Sennrich et al. 2016) with SentencePiece.

Why SentencePiece's BPE rather than subword-nmt: the same algorithm in a maintained C++ library
with a multi-threaded batch encoder (the data step's bottleneck at WMT scale), training on a
bounded random sample of sentences, byte fallback (a character never seen in training becomes
byte pieces instead of <unk>) and a decoder that is the exact inverse of the encoder:
decode(encode(text)) == text for every normalised, tokenised sentence.

The model reserves the Dictionary's special symbols at the Dictionary's ids (pad 0, bos 1, eos 2,
unk 3; <blank> 4 and <mask> 5 as control symbols, which text never produces), so a SentencePiece
id *is* the Dictionary id: no mapping sits between the two.
"""

from __future__ import annotations

import io
from itertools import chain
from pathlib import Path

import numpy as np
import sentencepiece as spm

from .dictionary import SPECIALS, Dictionary

# Character coverage SentencePiece recommends: every character for alphabetic scripts; for
# Chinese's thousands of characters the rarest 0.05% are left to byte fallback.
CHARACTER_COVERAGE = {"zh": 0.9995}


def learn_bpe(text_files: list[Path], model_path: Path, vocab_size: int, languages: tuple[str, ...],
              sample: int, seed: int, threads: int) -> None:
    """Learn a joint BPE model from tokenised text files (one sentence per line) -> model_path."""
    spm.set_random_generator_seed(seed)
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        input=[str(f) for f in text_files], model_writer=model, model_type="bpe", vocab_size=vocab_size,
        character_coverage=min(CHARACTER_COVERAGE.get(lang, 1.0) for lang in languages), byte_fallback=True,
        normalization_rule_name="identity",  # text.normalise has already normalised
        pad_id=0, bos_id=1, eos_id=2, unk_id=3, pad_piece=SPECIALS[0], bos_piece=SPECIALS[1],
        eos_piece=SPECIALS[2], unk_piece=SPECIALS[3], control_symbols=list(SPECIALS[4:]),
        input_sentence_size=sample, shuffle_input_sentence=True, num_threads=threads, minloglevel=2)
    model_path.write_bytes(model.getvalue())


class BPE:
    """A learned model: tokenised text <-> Dictionary ids."""

    def __init__(self, model_path: str | Path):
        self.sp = spm.SentencePieceProcessor(model_file=str(model_path))
        pieces = [self.sp.id_to_piece(i) for i in range(self.sp.get_piece_size())]
        if tuple(pieces[: len(SPECIALS)]) != SPECIALS:
            raise ValueError(f"{model_path}: ids 0-{len(SPECIALS) - 1} must be {SPECIALS}, "
                             f"found {pieces[:len(SPECIALS)]}")
        self.dictionary = Dictionary(pieces[len(SPECIALS):])

    def encode(self, lines: list[str], threads: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Sentences -> (ids of all sentences concatenated [total], tokens per sentence [n])."""
        ids = self.sp.encode(lines, out_type=int, num_threads=threads)
        lengths = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
        dtype = np.uint16 if len(self.dictionary) <= np.iinfo(np.uint16).max + 1 else np.int32
        return np.fromiter(chain.from_iterable(ids), dtype=dtype, count=int(lengths.sum())), lengths

    def decode(self, ids) -> str:
        """Ids (e.g. model output) -> tokenised text; stops at the first EOS, drops other specials."""
        return self.sp.decode(self.dictionary.decode(ids))
