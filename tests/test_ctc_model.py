"""CTC-NAT: decoding collapses repeats before dropping blanks; a tiny model overfits its targets."""

import numpy as np
import torch

from diffglat.decoding.ctc import ctc_greedy
from diffglat.losses.ctc import CTCCriterion
from diffglat.models.ctc import CTCNAT

from helpers import TINY_MODEL, fit, tiny_dataset


def one_hot_logits(frames, vocab=8):
    return torch.nn.functional.one_hot(torch.tensor(frames), vocab).float()


def test_collapse_then_drop_blanks():
    blank, pad = 4, 0
    logits = one_hot_logits([[5, 5, 4, 5, 6, 6, 4, 4], [7, 4, 7, 7, 4, 4, 1, 1]])
    frame_pad = torch.tensor([[False] * 8, [False] * 6 + [True] * 2])
    assert ctc_greedy(logits, frame_pad, blank, pad).tolist() == [[5, 5, 6], [7, 7, 0]]


def test_tiny_ctc_nat_overfits_and_decodes_its_targets():
    torch.manual_seed(0)
    dataset, _, d = tiny_dataset(8, seq_len=4)
    model = CTCNAT(upsample=2, vocab_size=len(d), pad=d.pad, **{**TINY_MODEL, "dropout": 0.0})
    criterion = CTCCriterion(layer=2, blank=d.blank)
    batch = dataset.collate(np.arange(8))
    assert fit(model, criterion, batch, 200)[-1]["loss"] < 0.1
    model.eval()
    output = model.forward_batch(batch, (2,))
    tokens = ctc_greedy(output.logits, output.decoder_pad, d.blank, d.pad)
    assert torch.equal(tokens[:, :4], batch["tgt"]) and (tokens[:, 4:] == d.pad).all()
