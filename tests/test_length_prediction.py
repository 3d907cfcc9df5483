"""NAT/GLAT target length prediction: classes, loss and the length beam against their definitions."""

import pytest
import torch
import torch.nn.functional as F

from diffglat.decoding import nat_argmax
from diffglat.cli.families import FAMILIES
from diffglat.models.nat import LengthPredictor

from helpers import tiny_dataset, tiny_model

MAX_OFFSET = 3
GLANCE = dict(glance_start=0.5, glance_end=0.5, glance_steps=1)


def ragged_batch(d, src_lengths, tgt_lengths, seed=0):
    """Random sentences of the given lengths (source without EOS), padded, framed as ParallelDataset does."""
    g = torch.Generator().manual_seed(seed)
    B = len(src_lengths)
    src = torch.full((B, max(src_lengths) + 1), d.pad)
    tgt = torch.full((B, max(tgt_lengths)), d.pad)
    tgt_eos = torch.full((B, max(tgt_lengths) + 1), d.pad)
    for b, (s, t) in enumerate(zip(src_lengths, tgt_lengths)):
        src[b, :s] = torch.randint(d.num_specials, len(d), (s,), generator=g)
        src[b, s] = d.eos
        tgt[b, :t] = torch.randint(d.num_specials, len(d), (t,), generator=g)
        tgt_eos[b, :t], tgt_eos[b, t] = tgt[b, :t], d.eos
    return {"src": src, "tgt": tgt, "tgt_eos": tgt_eos, "tgt_lengths": torch.tensor(tgt_lengths)}


def test_length_classes_are_clipped_offsets_from_the_source_length():
    predictor = LengthPredictor(8, MAX_OFFSET)
    src_lengths, tgt_lengths = torch.tensor([5, 5, 5, 9, 2]), torch.tensor([5, 7, 12, 1, 1])
    expected = [min(max(t - s, -MAX_OFFSET), MAX_OFFSET) + MAX_OFFSET for s, t in zip(src_lengths.tolist(), tgt_lengths.tolist())]
    classes = predictor.target(src_lengths, tgt_lengths)
    assert classes.tolist() == expected
    back = predictor.lengths(src_lengths, classes[:, None])[:, 0]
    assert back.tolist() == [5, 7, 8, 6, 1]  # offsets +5 and -8 were clipped to +-3
    assert predictor.lengths(torch.tensor([2]), torch.tensor([[0, 6]])).tolist() == [[1, 5]]  # at least 1


def test_length_logits_read_the_mean_of_the_unpadded_encoder_states():
    torch.manual_seed(0)
    dataset, _, d = tiny_dataset(2)
    model = tiny_model("nat", d, max_length_offset=MAX_OFFSET).eval()
    src = dataset.collate([0, 1])["src"]
    padded = torch.cat([src, torch.full((2, 3), d.pad)], dim=1)
    lengths = torch.tensor([4, 6])
    logits = model(padded, lengths).length_logits
    assert logits.shape == (2, 2 * MAX_OFFSET + 1)
    memory, _ = model.encode(src)
    assert torch.allclose(logits, model.length.classifier(memory.mean(1)), atol=1e-5)


@pytest.mark.parametrize("kind, extra", [("nat", {}), ("glat", GLANCE)])
def test_criterion_adds_the_weighted_length_cross_entropy(kind, extra):
    torch.manual_seed(0)
    _, _, d = tiny_dataset(1)
    model = tiny_model(kind, d, max_length_offset=MAX_OFFSET, **extra).eval()
    batch = ragged_batch(d, [4, 6, 3, 5], [5, 2, 7, 5])
    criterion = FAMILIES[kind].criterion(model, {"label_smoothing": 0.0, "length_loss_weight": 0.3})
    output = model.forward_batch(batch, criterion.layers)
    loss, stats = criterion(output, batch)
    target = batch["tgt"] if output.glanced is None else batch["tgt"].masked_fill(output.glanced, d.pad)
    tokens = F.cross_entropy(output.logits.transpose(1, 2), target, ignore_index=d.pad)
    classes = torch.tensor([min(max(t - (s + 1), -MAX_OFFSET), MAX_OFFSET) + MAX_OFFSET
                            for s, t in zip([4, 6, 3, 5], [5, 2, 7, 5])])
    length = F.cross_entropy(output.length_logits, classes)
    assert torch.isclose(loss, tokens + 0.3 * length)
    assert stats["length_nll"] == pytest.approx(float(length.detach()))


def test_criterion_needs_a_length_classifier():
    _, _, d = tiny_dataset(1)
    with pytest.raises(ValueError, match="max_length_offset"):
        FAMILIES["nat"].criterion(tiny_model("nat", d), {"label_smoothing": 0.0})


def random_nat(kind, extra, seed):
    torch.manual_seed(seed)
    _, _, d = tiny_dataset(1)
    model = tiny_model(kind, d, max_length_offset=MAX_OFFSET, **extra).double().eval()
    with torch.no_grad():  # spread the untrained length classifier so that candidates differ
        model.length.classifier.weight.mul_(30.0)
    return model, d, ragged_batch(d, [4, 7, 2, 5, 6, 3], [1] * 6, seed=seed)["src"]


@pytest.mark.parametrize("kind, extra", [("nat", {}), ("glat", GLANCE)])
def test_length_beam_one_is_argmax_decoding_of_the_argmax_length(kind, extra):
    model, d, src = random_nat(kind, extra, seed=1)
    tokens = FAMILIES[kind].generator(model, src, {"length_beam": 1})
    src_lengths = src.ne(d.pad).sum(1)
    classes = model(src, src_lengths).length_logits.argmax(-1)
    lengths = (src_lengths + classes - MAX_OFFSET).clamp(min=1)
    expected = nat_argmax(model, src, lengths, (2,))[2]
    assert torch.equal(tokens, expected[:, : tokens.shape[1]]) and (expected[:, tokens.shape[1]:] == d.pad).all()


@pytest.mark.parametrize("beam", [3, 5])
def test_length_beam_picks_what_a_loop_over_candidates_picks(beam):
    model, d, src = random_nat("nat", {}, seed=2)
    tokens = FAMILIES["nat"].generator(model, src, {"length_beam": beam})
    winners = set()
    for b in range(src.shape[0]):
        sentence = src[b : b + 1, : int(src[b].ne(d.pad).sum())]
        logits = model(sentence, torch.tensor([1])).length_logits[0]
        best = None
        for rank, c in enumerate(logits.topk(beam).indices.tolist()):
            length = max(1, sentence.shape[1] + c - MAX_OFFSET)
            log_probs = torch.log_softmax(model(sentence, torch.tensor([length])).logits[0], -1)
            score = log_probs.max(-1).values.mean()
            if best is None or score > best[0]:
                best = (score, log_probs.argmax(-1), rank)
        winners.add(best[2])
        row = tokens[b]
        assert row[: len(best[1])].tolist() == best[1].tolist() and (row[len(best[1]):] == d.pad).all()
    assert winners != {0}  # the beam changed some choices: the test saw more than argmax lengths
