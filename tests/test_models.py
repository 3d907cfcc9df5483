"""Transformer AR and NAT behaviour that must hold whatever the weights."""

import numpy as np
import torch

from diffglat.decoding import ar_greedy, nat_argmax
from diffglat.models.nat import uniform_copy_index

from helpers import tiny_dataset, tiny_model


def test_uniform_copy_index():
    idx = uniform_copy_index(torch.tensor([3, 4, 5]), torch.tensor([6, 4, 2]), 6)
    assert idx[0].tolist() == [0, 0, 1, 1, 2, 2]
    assert idx[1].tolist()[:4] == [0, 1, 2, 3]
    assert idx[2].tolist()[:2] == [0, 2]


def test_ar_decoder_is_causal():
    torch.manual_seed(0)
    dataset, _, d = tiny_dataset(4)
    model = tiny_model("ar", d).eval()
    batch = dataset.collate(np.arange(4))
    changed = batch["prev_output_tokens"].clone()
    changed[:, 4:] = d.unk
    a = model(batch["src"], batch["prev_output_tokens"]).logits
    b = model(batch["src"], changed).logits
    assert torch.allclose(a[:, :4], b[:, :4], atol=1e-6)
    assert not torch.allclose(a[:, 4:], b[:, 4:])


def test_padding_does_not_change_outputs():
    torch.manual_seed(0)
    dataset, _, d = tiny_dataset(2)
    model = tiny_model("nat", d).eval()
    batch = dataset.collate(np.arange(2))
    src = batch["src"][:1]
    padded = torch.cat([src, torch.full((1, 3), d.pad)], dim=1)
    lengths = batch["tgt_lengths"][:1]
    assert torch.allclose(model(src, lengths).logits, model(padded, lengths).logits, atol=1e-5)


def test_nat_returns_requested_layers_through_shared_projection():
    torch.manual_seed(0)
    dataset, _, d = tiny_dataset(3)
    model = tiny_model("nat", d).eval()
    batch = dataset.collate(np.arange(3))
    out = model(batch["src"], batch["tgt_lengths"], output_layers=(1, 2))
    assert set(out.layer_logits) == {1, 2}
    assert out.layer_logits[1].shape == (3, 6, len(d))
    assert not torch.allclose(out.layer_logits[1], out.layer_logits[2])
    tokens = nat_argmax(model, batch["src"], batch["tgt_lengths"], (1, 2))
    assert torch.equal(tokens[2], out.layer_logits[2].argmax(-1))


def test_greedy_is_consistent_with_teacher_forced_argmax():
    torch.manual_seed(1)
    dataset, _, d = tiny_dataset(5)
    model = tiny_model("ar", d).eval()
    src = dataset.collate(np.arange(5))["src"]
    hyp = ar_greedy(model, src, max_len=8, bos=d.bos, eos=d.eos)
    for row in range(5):
        tokens = hyp[row].tolist()
        if d.eos in tokens:
            tokens = tokens[: tokens.index(d.eos) + 1]
        prev = torch.tensor([[d.bos] + tokens[:-1]])
        argmax = model(src[row : row + 1], prev).logits.argmax(-1)[0].tolist()
        assert argmax == tokens
