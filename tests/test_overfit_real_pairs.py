"""Every model family overfits a batch of 8 real Multi30k pairs to exact reconstruction.

A model that cannot memorise 8 sentence pairs has a bug its loss curve may hide (a wrong
alignment, a mask off by one, a generator that disagrees with the criterion); this test trains
each family on the same 8 En-De training pairs (word-level vocabulary, no dropout) and decodes
them with its own generator, which must give back the 8 German references exactly.
"""

import gzip
from pathlib import Path

import numpy as np
import pytest
import torch

from diffglat.data.batching import pad_batch
from diffglat.data.dictionary import Dictionary
from diffglat.cli.families import FAMILIES as FAMILY_TABLE, build_criterion, build_model, generate

from helpers import fit

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "multi30k"
PAIRS = 8
SIZE = dict(encoder_layers=2, decoder_layers=2, d_model=64, heads=4, ffn_dim=128, dropout=0.0, positions="learned")
GLANCE = dict(glance_start=0.5, glance_end=0.3)
DIFFUSION = dict(layers_per_transition=1, iterations=2)  # T = 4 transitions
# Family-specific arguments; every family in the family table must be listed (a new one fails the test until added).
FAMILIES = {
    "ar": {}, "nat": {"max_length_offset": 10}, "ctc": {"upsample": 3}, "dat": {"upsample": 3},
    "glat": {"max_length_offset": 10, **GLANCE}, "glat_ctc": {"upsample": 3, **GLANCE},
    "glat_dat": {"upsample": 3, **GLANCE},
    "diffglat": {"upsample": 3, **DIFFUSION}, "diffglat_ctc": {"upsample": 3, **DIFFUSION},
    "diffglat_glat": {"max_length_offset": 10, **DIFFUSION},
}
STEPS = 300
DECODE = dict(beam=2, length_penalty=1.0, max_len_a=2.0, max_len_b=5, algorithm="joint_viterbi", beta=1.0,
              length_beam=1, iterations=0, batch_size=PAIRS)


def first_lines(path: Path, n: int) -> list[str]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [next(f).strip() for _ in range(n)]


@pytest.fixture(scope="module")
def batch():
    english = [line.split() for line in first_lines(SHARED / "train.en.gz", PAIRS)]
    german = [line.split() for line in first_lines(SHARED / "train.de.gz", PAIRS)]
    dictionary = Dictionary(sorted({word for sentence in english + german for word in sentence}))
    src = [np.array(dictionary.encode(s) + [Dictionary.eos]) for s in english]
    tgt = [np.array(dictionary.encode(s)) for s in german]
    arrays = {"src": pad_batch(src, Dictionary.pad), "tgt": pad_batch(tgt, Dictionary.pad),
              "tgt_lengths": np.array([len(t) for t in tgt]),
              "prev_output_tokens": pad_batch([np.insert(t, 0, Dictionary.bos) for t in tgt], Dictionary.pad),
              "tgt_eos": pad_batch([np.append(t, Dictionary.eos) for t in tgt], Dictionary.pad)}
    return {k: torch.as_tensor(v) for k, v in arrays.items()}, dictionary, [" ".join(s) for s in german]


def test_every_family_is_covered():
    assert set(FAMILIES) == set(FAMILY_TABLE)


@pytest.mark.parametrize("kind", sorted(FAMILIES))
def test_family_overfits_eight_real_pairs(kind, batch):
    data, dictionary, references = batch
    torch.manual_seed(0)
    schedule = {"glance_steps": STEPS} if "glance_start" in FAMILIES[kind] or kind.startswith("diffglat") else {}
    if kind.startswith("diffglat"):
        schedule["diffusion_warmup"] = STEPS // 2
    model = build_model(kind, {**SIZE, **FAMILIES[kind], **schedule}, len(dictionary), Dictionary.pad)
    criterion = build_criterion(kind, model, {"label_smoothing": 0.0})
    fit(model, criterion, data, STEPS)
    model.eval()
    tokens = generate(kind, model, data["src"], DECODE).tolist()
    hypotheses = [" ".join(dictionary.decode(row)) for row in tokens]
    assert hypotheses == references
