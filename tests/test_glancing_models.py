"""Glancing on CTC frames (glat_ctc) and on the DAG's best path (glat_dat), against their definitions."""

import random

import pytest
import torch

from diffglat.cli.families import FAMILIES
from diffglat.alignment import ctc_best_alignment, dag_best_alignment, force_alignment
from diffglat.losses.dag import dag_log_likelihood, dag_log_likelihood_reference, dag_loss
from diffglat.models.glat_dat import glance_on_best_path

from helpers import tiny_dataset, tiny_model
from test_dag import path_score, paths, random_dag


def glancing_model(kind, ratio, seed=0, n=6):
    torch.manual_seed(seed)
    dataset, _, d = tiny_dataset(n)
    extra = {"upsample": 3} if kind == "glat_dat" else {}
    model = tiny_model(kind, d, glance_start=ratio, glance_end=ratio, glance_steps=1, **extra)
    batch = dataset.collate(list(range(n)))
    batch["src"][1, 3:] = d.pad  # a shorter source: a shorter decoder
    batch["src"][1, 3] = d.eos
    batch["tgt"][2, 4:] = d.pad  # a shorter target
    batch["tgt_eos"][2, 4:] = d.pad
    batch["tgt_eos"][2, 4] = d.eos
    batch["tgt_lengths"][2] = 4
    return model, batch, d


def spy_on_forward(model):
    """Record the keyword arguments of every forward call (pass 2 is the one with glance_mask)."""
    calls, forward = [], model.forward

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return forward(*args, **kwargs)

    model.forward = spy
    return calls


def plain_match(logits, target, pad, graph_pad):
    """log_softmax + gather, the textbook form of the DAG match [B, T, L]."""
    match = torch.log_softmax(logits, -1).gather(-1, target[:, None, :].expand(-1, logits.shape[1], -1))
    return match.transpose(1, 2).masked_fill(target.eq(pad)[:, :, None] | graph_pad[:, None, :], float("-inf"))


@pytest.mark.parametrize("ratio", [0.5, 0.8])
def test_glat_ctc_glances_floor_ratio_distance_frames_with_their_aligned_labels(ratio):
    model, batch, d = glancing_model("glat_ctc", ratio)
    model.eval()  # no dropout: pass 1 can be recomputed here
    lengths = model.decoder_lengths(batch["src"])
    first = model(batch["src"], lengths)
    log_probs = torch.log_softmax(first.logits, -1)
    alignment = ctc_best_alignment(log_probs, lengths, batch["tgt"], batch["tgt_lengths"], d.blank)
    assert (alignment >= 0).sum(-1).tolist() == lengths.tolist()  # every frame of every sentence is aligned
    distance = ((first.logits.argmax(-1) != alignment) & (alignment >= 0)).sum(-1)
    assert distance.min() > 0

    calls = spy_on_forward(model)
    output = model.forward_batch(batch, (2,))
    glanced, tokens = calls[1]["glance_mask"], calls[1]["glance_tokens"]
    assert torch.equal(output.glanced, glanced)
    assert glanced.sum(-1).tolist() == torch.floor(distance * ratio).long().tolist()
    assert not (glanced & (alignment < 0)).any()  # only frames inside each sentence's decoder
    assert torch.equal(tokens[glanced], alignment[glanced])
    assert (alignment[glanced] == d.blank).any() and (alignment[glanced] != d.blank).any()
    assert torch.equal(output.logits, model(batch["src"], lengths, glance_mask=glanced, glance_tokens=alignment.clamp(min=0)).logits)


def test_glat_ctc_loss_is_ctc_over_the_whole_target():
    model, batch, _ = glancing_model("glat_ctc", 0.8)
    model.eval()
    criterion = FAMILIES["glat_ctc"].criterion(model, {"label_smoothing": 0.0})
    output = model.forward_batch(batch, criterion.layers)
    assert output.glanced.any()
    plain = FAMILIES["ctc"].criterion(model, {"label_smoothing": 0.0})
    output.glanced = None
    assert torch.equal(criterion(output, batch)[0], plain(output, batch)[0])


@pytest.mark.parametrize("ratio", [0.5, 1.0])
def test_glat_dat_glances_floor_ratio_distance_positions_on_the_best_path(ratio):
    model, batch, d = glancing_model("glat_dat", ratio)
    model.eval()
    lengths = model.decoder_lengths(batch["src"])
    first = model(batch["src"], lengths)
    target = torch.cat([torch.full((6, 1), d.bos), batch["tgt_eos"]], 1)  # BOS y EOS
    match = plain_match(first.logits, target, d.pad, first.decoder_pad)
    path = dag_best_alignment(match, first.links_at[2], target.ne(d.pad).sum(1), lengths)
    argmax = first.logits.argmax(-1)
    distance = [sum(int(argmax[b, v] != target[b, k]) for k, v in enumerate(path[b].tolist()) if v >= 0) for b in range(6)]
    assert min(distance) > 0

    forced = glance_on_best_path(first, target, d.pad, ratio)
    assert (forced >= 0).sum(-1).tolist() == [int(x * ratio) for x in distance]
    for b, v in (forced >= 0).nonzero().tolist():
        assert path[b, forced[b, v]] == v  # glanced vertices lie on the path, at their own position

    calls = spy_on_forward(model)
    output = model.forward_batch(batch, (2,))
    forced = output.forced_alignment
    assert torch.equal(calls[1]["glance_mask"], forced >= 0) and torch.equal(output.glanced, forced >= 0)
    assert (forced >= 0).sum(-1).tolist() == [int(x * ratio) for x in distance]
    for b, v in (forced >= 0).nonzero().tolist():
        assert path[b, forced[b, v]] == v and calls[1]["glance_tokens"][b, v] == target[b, forced[b, v]]

    criterion = FAMILIES["glat_dat"].criterion(model, {"label_smoothing": 0.0})
    pinned = force_alignment(plain_match(output.logits, target, d.pad, output.decoder_pad), forced)
    expected, _ = dag_loss(pinned, output.links_at[2], target.ne(d.pad).sum(1), lengths)
    assert torch.isclose(criterion(output, batch)[0], expected, atol=1e-5)


@pytest.mark.parametrize("kind", ["glat", "glat_ctc", "glat_dat"])
def test_second_pass_reuses_the_first_pass_dropout(kind):
    model, batch, _ = glancing_model(kind, 0.0, seed=1)  # nothing glanced: pass 2 must equal pass 1 exactly
    model.train()
    lengths = batch["tgt_lengths"] if kind == "glat" else model.decoder_lengths(batch["src"])
    rng = torch.get_rng_state()
    with torch.no_grad():
        first = model(batch["src"], lengths).logits
        torch.set_rng_state(rng)
        second = model.forward_batch(batch, (2,))
    assert not second.glanced.any()
    assert torch.equal(first, second.logits)


FORCE_CASES = [([4, 3, 2, 4], [7, 5, 6, 4]), ([3, 4, 4, 2], [5, 7, 6, 7])]  # (target lengths, graph lengths)


@pytest.mark.parametrize("target_lengths, graph_lengths", FORCE_CASES)
def test_forced_dag_loss_equals_brute_force_over_paths_through_the_glanced_vertices(target_lengths, graph_lengths):
    tl, gl = torch.tensor(target_lengths), torch.tensor(graph_lengths)
    B, T, L = len(tl), 4, 7
    match, links = random_dag(B, T, L, tl, gl, seed=5)
    rng = random.Random(0)
    forced = torch.full((B, L), -1)
    pins = []
    for b in range(B):  # glance a random subset of the positions of a random path
        path = rng.choice(paths(int(tl[b]), int(gl[b])))
        chosen = rng.sample(range(len(path)), rng.randint(1, len(path)))
        pins.append({k: path[k] for k in chosen})
        for k in chosen:
            forced[b, path[k]] = k
    pinned = force_alignment(match, forced)
    loss, stats = dag_loss(pinned, links, tl, gl)
    assert stats["infeasible"] == 0
    expected = 0.0
    for b in range(B):
        free = match[b].clone()
        for k in pins[b]:
            free[k] = 0.0  # the glanced token was shown: its emission costs nothing
        through = [p for p in paths(int(tl[b]), int(gl[b])) if all(p[k] == v for k, v in pins[b].items())]
        scores = torch.stack([path_score(free, links[b], p) for p in through])
        expected = expected - torch.logsumexp(scores, 0) / tl[b]
    assert abs(float(loss) - float(expected) / B) < 1e-9

    raw = match.clone().requires_grad_(True)
    weights = torch.tensor([0.5, -1.0, 2.0, 1.5], dtype=torch.float64)
    ours = torch.autograd.grad((dag_log_likelihood(force_alignment(raw, forced), links, tl, gl) * weights).sum(), raw)[0]
    theirs = torch.autograd.grad((dag_log_likelihood_reference(force_alignment(raw, forced), links, tl, gl) * weights).sum(), raw)[0]
    assert torch.allclose(ours, theirs, atol=1e-10)
    for b, v in (forced >= 0).nonzero().tolist():
        assert (ours[b, forced[b, v]] == 0).all()  # glanced positions are not trained by the DAG loss
