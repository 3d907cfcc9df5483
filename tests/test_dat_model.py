"""DA-Transformer links: a proper distribution over later vertices, float32, padding respected."""

import numpy as np
import torch

from diffglat.models.dat import DATransformer

from helpers import TINY_MODEL, fit, tiny_dataset


def tiny_dat(dictionary, upsample=3):
    return DATransformer(upsample=upsample, vocab_size=len(dictionary), pad=dictionary.pad, **TINY_MODEL)


def test_links_are_distributions_over_later_unpadded_vertices():
    torch.manual_seed(0)
    dataset, _, d = tiny_dataset(3)
    model = tiny_dat(d).eval()
    src = dataset.collate(np.arange(3))["src"]
    src[1, 4:] = d.pad  # a shorter source: a shorter graph
    lengths = model.decoder_lengths(src)
    assert lengths.tolist() == [21, 12, 21]
    output = model(src, lengths, output_layers=(1, 2))
    assert set(output.links_at) == {1, 2}
    links = output.links_at[2]
    assert links.shape == (3, 21, 21) and links.dtype == torch.float32
    i, j = torch.meshgrid(torch.arange(21), torch.arange(21), indexing="ij")
    assert torch.isinf(links[:, j <= i]).all()
    for b, L in enumerate(lengths.tolist()):
        rows = links[b, : L - 1, :L].exp().sum(-1)
        assert torch.allclose(rows, torch.ones(L - 1), atol=1e-5)
        assert torch.isinf(links[b, :, L:]).all() and torch.isinf(links[b, L - 1]).all()


def test_links_stay_float32_under_autocast():
    torch.manual_seed(0)
    dataset, _, d = tiny_dataset(2)
    model = tiny_dat(d).eval()
    src = dataset.collate(np.arange(2))["src"]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        output = model(src, model.decoder_lengths(src))
    assert output.logits.dtype == torch.bfloat16
    assert next(iter(output.links_at.values())).dtype == torch.float32


def test_dag_criterion_trains_a_tiny_dat_to_emit_its_targets():
    """A DAT overfits a few pairs: the loss falls and Viterbi decoding reproduces the targets."""
    from diffglat.decoding.dag import joint_viterbi
    from diffglat.losses.dag import DagCriterion

    torch.manual_seed(0)
    dataset, _, d = tiny_dataset(8, seq_len=4)
    model = tiny_dat(d, upsample=4)
    model.dropout.p = 0.0
    criterion = DagCriterion(layer=2, pad=d.pad, bos=d.bos)
    batch = dataset.collate(np.arange(8))
    history = fit(model, criterion, batch, 150)
    assert all(stats["infeasible"] == 0 for stats in history)
    assert history[-1]["loss"] < 0.2 * history[0]["loss"]
    model.eval()
    output = model.forward_batch(batch, (2,))
    tokens = joint_viterbi(torch.log_softmax(output.logits, -1), output.links_at[2], (~output.decoder_pad).sum(1), d.pad)
    expected = torch.cat([torch.full((8, 1), d.bos), batch["tgt_eos"]], 1)
    assert torch.equal(tokens[:, : expected.shape[1]], expected)
