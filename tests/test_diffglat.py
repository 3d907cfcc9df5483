"""DiffGLAT models: transitions, iterations, residual glancing, equivalence with the base model at one
iteration, and tiny models of each family that overfit a few synthetic pairs."""

import dataclasses
import math

import numpy as np
import pytest
import torch

from diffglat.cli.families import build_criterion, generate
from diffglat.alignment import dag_best_alignment, dag_match

from helpers import fit, tiny_dataset, tiny_model
from test_diffglat_diffusion import brute_force_chain

FAMILY = {  # DiffGLAT kind -> (base kind, the base's own settings)
    "diffglat": ("dat", dict(upsample=4)),
    "diffglat_ctc": ("ctc", dict(upsample=3)),
    "diffglat_glat": ("nat", dict(max_length_offset=4)),
}
DECODE = {"algorithm": "joint_viterbi", "beta": 1.0}


def diffglat_model(kind, d, **overrides):
    settings = dict(layers_per_transition=1, glance_steps=100, diffusion_warmup=0, **FAMILY[kind][1])
    return tiny_model(kind, d, **{**settings, **overrides})


def small_batch(n=8, seq_len=4):
    dataset, _, d = tiny_dataset(n, seq_len=seq_len)
    return dataset.collate(np.arange(n)), d


def pass_one(model, batch, count):
    """Per-transition outputs of an eval-mode model, as pass 1 sees them."""
    memory, memory_pad = model.encode(batch["src"])
    x, pad = model.decoder_input(batch["src"], memory_pad, model.training_lengths(batch))
    states = model.run_transitions(x, pad, memory, memory_pad, count)
    return [model.outputs(states, pad, (i + 1,)) for i in range(count)]


@pytest.mark.parametrize("kind", sorted(FAMILY))
def test_one_iteration_inference_is_the_base_models(kind):
    torch.manual_seed(0)
    batch, d = small_batch()
    base_kind, base_settings = FAMILY[kind]
    base = tiny_model(base_kind, d, **base_settings).eval()
    model = diffglat_model(kind, d, iterations=1).eval()
    model.load_state_dict(base.state_dict())  # strict: the same parameter names, nothing added
    for settings in (DECODE, {**DECODE, "algorithm": "lookahead"}):
        expected = generate(base_kind, base, batch["src"], settings)
        assert torch.equal(generate(kind, model, batch["src"], settings), expected)
    if kind == "diffglat_glat":  # the NAT length beam decodes with the trained iterations only
        with pytest.raises(ValueError, match="iterations"):
            generate(kind, model, batch["src"], {**DECODE, "iterations": 2})
    lengths = batch["tgt_lengths"] if kind == "diffglat_glat" else model.decoder_lengths(batch["src"])
    assert torch.equal(model(batch["src"], lengths).logits, base(batch["src"], lengths).logits)


def test_iterations_run_that_many_decoder_passes_and_share_parameters():
    torch.manual_seed(0)
    batch, d = small_batch(2)
    base = tiny_model("dat", d, upsample=4)
    size = sum(p.numel() for p in base.parameters())
    for iterations in (1, 2, 3):
        model = diffglat_model("diffglat", d, iterations=iterations).eval()
        assert sum(p.numel() for p in model.parameters()) == size
        assert model.diffusion_steps == 2 * iterations  # 2 layers, 1 layer per transition
        calls = []
        for layer in model.decoder:
            layer.register_forward_hook(lambda module, args, out: calls.append(module))
        model(batch["src"], model.decoder_lengths(batch["src"]))
        assert len(calls) == 2 * iterations and all(calls.count(layer) == iterations for layer in model.decoder)
        calls.clear()
        generate("diffglat", model, batch["src"], {**DECODE, "iterations": 5})  # decoding may differ from training
        assert all(calls.count(layer) == 5 for layer in model.decoder)


def test_glance_ratio_falls_linearly_and_restarts_every_period():
    _, d = small_batch(2)
    model = diffglat_model("diffglat", d, glance_steps=100)
    assert [model.schedule.ratio(step) for step in (0, 50, 100, 1000)] == pytest.approx([0.5, 0.3, 0.1, 0.1])
    model.schedule = dataclasses.replace(model.schedule, period=150)  # sawtooth: 0.5 -> 0.1 over 100 steps, hold, restart at 150, 300, ...
    assert [model.schedule.ratio(step) for step in (100, 149, 150, 200, 300)] == pytest.approx([0.1, 0.1, 0.5, 0.3, 0.5])


def test_training_runs_the_transitions_up_to_the_trained_one_and_the_next():
    """Layer-wise glancing: transitions 1..s-1 once (shared by both passes), transition s twice
    (pass 1, pass 2), and transition s + 1 in pass 1 when the MDP reads its prediction. Glancing
    at the input (GLAT's): transitions 1..s in both passes."""
    torch.manual_seed(0)
    batch, d = small_batch(2)
    model = diffglat_model("diffglat", d, iterations=3)  # T = 6
    calls = []
    for layer in model.decoder:
        layer.register_forward_hook(lambda module, args, out: calls.append(module))
    for glancing in ("residual", "layerwise", "input"):
        model.glancing = glancing
        for s in range(1, 7):
            for warm in (True, False):
                model.diffusion_warmup = 10**9 if warm else 0
                calls.clear()
                model.train_transition(batch, s, step=1)
                next_one = 0 if warm or s == 6 else 1
                assert len(calls) == (2 * s if glancing == "input" else (s - 1) + 2) + next_one


def test_gradients_reach_the_transitions_before_the_trained_one():
    torch.manual_seed(0)
    batch, d = small_batch(2)
    model = diffglat_model("diffglat", d, iterations=1)  # transitions = decoder layers 1 and 2
    model.train_transition(batch, 2, step=0).logits.sum().backward()
    assert model.decoder[0].ffn.fc1.weight.grad.abs().sum() > 0
    assert model.encoder[0].ffn.fc1.weight.grad.abs().sum() > 0


def test_pass_two_reuses_pass_one_dropout():
    torch.manual_seed(1)
    batch, d = small_batch()
    model = diffglat_model("diffglat", d, iterations=2, glance_start=0.0, glance_end=0.0).train()  # nothing glanced
    rng = torch.get_rng_state()
    with torch.no_grad():
        expected = pass_one(model, batch, 3)[2].logits
        torch.set_rng_state(rng)
        output = model.train_transition(batch, 3, step=0)
    assert not output.glanced.any()
    assert torch.equal(output.logits, expected)


def rgs_setup(glancing, ratio=0.5):
    """A 2-transition NAT whose target agrees with transition 1's prediction on half the positions."""
    torch.manual_seed(2)
    batch, d = small_batch(16, seq_len=8)
    model = diffglat_model("diffglat_glat", d, glancing=glancing, glance_start=ratio, glance_end=ratio,
                           diffusion_warmup=10**9, warmup_transitions="sampled").eval()
    first, second = (output.logits.argmax(-1) for output in pass_one(model, batch, 2))
    g = torch.Generator().manual_seed(3)
    wrong = torch.rand(first.shape, generator=g) < 0.5
    batch["tgt"] = torch.where(wrong, (first - 6 + 1) % (len(d) - 6) + 6, first)  # another real token where wrong
    return model, batch, first, second


def test_rgs_glances_exactly_s_positions_where_the_previous_transition_is_wrong():
    model, batch, first, second = rgs_setup("residual")
    target = batch["tgt"]
    allowed = first != target
    S = torch.floor(0.5 * (second != target).sum(-1)).long()
    assert (S < allowed.sum(-1)).any()  # some sentences must choose among their allowed positions
    for _ in range(20):
        glanced = model.train_transition(batch, 2, step=0).glanced
        assert not (glanced & ~allowed).any()
        assert torch.equal(glanced.sum(-1), torch.minimum(S, allowed.sum(-1)))
    first_transition = model.train_transition(batch, 1, step=0).glanced  # no previous prediction: all allowed
    assert torch.equal(first_transition.sum(-1), torch.floor(0.5 * (first != target).sum(-1)).long())


@pytest.mark.parametrize("glancing", ["layerwise", "input"])
def test_without_the_residual_restriction_glancing_covers_all_positions(glancing):
    model, batch, first, second = rgs_setup(glancing)
    picked = torch.zeros_like(batch["tgt"], dtype=torch.bool)
    S = torch.floor(0.5 * (second != batch["tgt"]).sum(-1)).long()
    for _ in range(200):
        glanced = model.train_transition(batch, 2, step=0).glanced
        assert torch.equal(glanced.sum(-1), S)
        picked |= glanced
    has_glances = S > 0
    assert picked[has_glances].all()  # including the positions transition 1 already got right


@pytest.mark.parametrize("glancing", ["residual", "layerwise", "input"])
def test_glancing_feeds_the_tokens_at_the_trained_transition_or_only_at_the_decoder_input(glancing):
    """w/o RGS is GLAT's glancing: the target tokens replace the decoder input (transition 1's
    input) whatever transition trains; layer-wise glancing feeds them at transition s's input."""
    model, batch, _, _ = rgs_setup(glancing)
    where = []
    glance = model.glance
    model.glance = lambda s, *args: where.append(s) or glance(s, *args)
    output = model.train_transition(batch, 2, step=0)
    assert output.glanced.any() and where == [0 if glancing == "input" else 1]
    if glancing == "input":  # pass 2 is the eval-mode model run from the glanced decoder input
        memory, memory_pad = model.encode(batch["src"])
        x, pad = model.decoder_input(batch["src"], memory_pad, model.training_lengths(batch))
        x = glance(0, x, output.glanced, output.target)
        expected = model.project(model.run_transitions(x, pad, memory, memory_pad, 2)[-1])
        assert torch.allclose(output.logits, expected)


def test_mdp_target_of_the_model_is_eq24_on_its_own_predictions():
    """Transition s = 2 of T = 4 trains on ỹ_2: the chain ỹ_3 (from transition 2's prediction),
    ỹ_2 (from transition 3's, gamma picked on transition 1's agreement with y0)."""
    torch.manual_seed(7)
    batch, d = small_batch(32, seq_len=8)
    model = diffglat_model("diffglat_glat", d, iterations=2, max_length_offset=None).eval()
    with torch.no_grad():
        for layer in model.decoder:  # an untrained decoder barely changes its input: make transitions disagree
            layer.ffn.fc2.weight.mul_(10.0)
        logits = torch.stack([output.logits for output in pass_one(model, batch, 3)]).double()
    g = torch.Generator().manual_seed(8)
    real_argmax = logits[..., 6:].argmax(-1) + 6  # [3, B, n]
    random_tokens = torch.randint(6, len(d), real_argmax[0].shape, generator=g)
    candidates = torch.stack([real_argmax[0], real_argmax[2], random_tokens])
    choice = torch.randint(0, 3, batch["tgt"].shape, generator=g)
    batch["tgt"] = candidates.gather(0, choice[None])[0]  # y0 agrees with transition 1 or 3 here and there
    expected = brute_force_chain(logits, batch["tgt"], model.mdp_rule)[-1]
    target = model.train_transition(batch, 2, step=0).target
    assert torch.equal(target, expected)
    assert (target != batch["tgt"]).any() and (target == batch["tgt"]).any()


def test_dat_glanced_vertices_lie_on_the_best_path_and_are_force_aligned():
    torch.manual_seed(4)
    batch, d = small_batch(8, seq_len=6)
    model = diffglat_model("diffglat", d, iterations=2, glance_start=0.5, glance_end=0.5, diffusion_warmup=10**9,
                           warmup_transitions="sampled").eval()
    target = model.diffusion_target(batch)  # warm-up: ỹ = y0 = BOS y EOS
    for s in (1, 3):
        first = pass_one(model, batch, s)[s - 1]
        match = dag_match(first.logits, target, d.pad, first.decoder_pad)
        path = dag_best_alignment(match, first.links, target.ne(d.pad).sum(1), (~first.decoder_pad).sum(1))
        predicted = first.logits.argmax(-1).gather(1, path)
        S = torch.floor(0.5 * (predicted != target).sum(-1)).long()
        output = model.train_transition(batch, s, step=0)
        assert torch.equal(output.target, target)
        forced = output.forced_alignment
        assert torch.equal(forced >= 0, output.glanced)
        if s == 1:
            assert torch.equal(output.glanced.sum(-1), S)
        for b, v in output.glanced.nonzero().tolist():
            assert path[b, forced[b, v]] == v  # the glanced vertex is that target position's vertex


def test_ctc_alignment_maps_each_target_token_to_the_first_frame_of_its_run():
    torch.manual_seed(5)
    batch, d = small_batch(8, seq_len=4)
    model = diffglat_model("diffglat_ctc", d).eval()
    batch["tgt"][:, 1] = batch["tgt"][:, 2]  # repeated tokens need a blank between their runs
    output = pass_one(model, batch, 1)[0]
    positions, labels = model.align(output, batch["tgt"])
    assert (positions >= 0).all() and (positions[:, 1:] > positions[:, :-1]).all()
    assert torch.equal(labels.gather(1, positions), batch["tgt"])
    previous = labels.gather(1, (positions - 1).clamp(min=0))
    assert ((previous != batch["tgt"]) | (positions == 0)).all()


@pytest.mark.parametrize("diffusion", ["d3pm_absorbing", "d3pm_uniform"])
def test_d3pm_targets_replace_the_modality_diffusion(diffusion):
    torch.manual_seed(6)
    batch, d = small_batch(64, seq_len=8)
    model = diffglat_model("diffglat_glat", d, iterations=2, diffusion=diffusion)  # T = 4: ỹ_2 corrupts half the tokens
    target = model.train_transition(batch, 2, step=0).target
    changed = float((target != batch["tgt"]).double().mean())
    assert 0.35 < changed < 0.6
    if diffusion == "d3pm_absorbing":
        assert (target[target != batch["tgt"]] == d.mask).all()


@pytest.fixture
def one_thread():
    """Tiny models train faster on one thread (and do not fight a parallel test run for cores)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("kind", sorted(FAMILY))
def test_tiny_diffglat_overfits_a_few_pairs(kind, one_thread):
    """Half the steps warm up on y0, the other half train on the modality diffusion process."""
    torch.manual_seed(0)
    batch, d = small_batch(4, seq_len=4)
    steps = 400
    model = diffglat_model(kind, d, iterations=2, glance_steps=steps, diffusion_warmup=steps // 2)  # T = 4
    model.dropout.p = 0.0
    for layer in [*model.encoder, *model.decoder]:
        layer.dropout.p = 0.0
    criterion = build_criterion(kind, model, {"label_smoothing": 0.0})
    losses = [stats["loss"] for stats in fit(model, criterion, batch, steps)]
    assert np.mean(losses[-20:]) < 0.1 * np.mean(losses[:20])
    model.eval()
    tokens = generate(kind, model, batch["src"], DECODE)
    expected = torch.cat([torch.full((4, 1), d.bos), batch["tgt_eos"]], 1) if kind == "diffglat" else batch["tgt"]
    assert torch.equal(tokens[:, : expected.shape[1]], expected)


def test_warm_up_trains_every_unrolled_transition_on_the_target():
    """warmup_transitions: all: one step's output holds every transition of the unrolled model
    (iterations x transitions per pass), each trained against y0, and each receives gradient."""
    torch.manual_seed(3)
    batch, d = small_batch(4)
    model = diffglat_model("diffglat", d, iterations=2, diffusion_warmup=10)  # T = 4
    criterion = build_criterion("diffglat", model, {"label_smoothing": 0.0})
    output = model.forward_batch(batch, criterion.layers, step=0)
    assert sorted(output.logits_at) == [1, 2, 3, 4]
    assert torch.equal(output.target, model.diffusion_target(batch))
    for logits in output.logits_at.values():
        logits.retain_grad()
    loss, _ = criterion(output, batch)
    loss.backward()
    for k, logits in output.logits_at.items():
        assert logits.grad.abs().sum() > 0, f"transition {k} got no gradient"
    after = model.forward_batch(batch, criterion.layers, step=10)  # the diffusion phase: one transition
    assert len(after.logits_at) == 1


def test_progressive_warm_up_unrolls_one_more_pass_at_a_time():
    """warmup_transitions: progressive, 3 iterations of 2 transitions, a 9-step warm-up: pass p joins
    at step 3 (p - 1); each step trains every unrolled transition on y0, each with gradient."""
    torch.manual_seed(3)
    batch, d = small_batch(4)
    model = diffglat_model("diffglat", d, iterations=3, diffusion_warmup=9, warmup_transitions="progressive")
    criterion = build_criterion("diffglat", model, {"label_smoothing": 0.0})
    for step, depth in [(0, 2), (2, 2), (3, 4), (5, 4), (6, 6), (8, 6)]:
        output = model.forward_batch(batch, criterion.layers, step=step)
        assert sorted(output.logits_at) == list(range(1, depth + 1)), step
        assert torch.equal(output.target, model.diffusion_target(batch))
    for logits in output.logits_at.values():
        logits.retain_grad()
    criterion(output, batch)[0].backward()
    assert all(logits.grad.abs().sum() > 0 for logits in output.logits_at.values())
    assert len(model.forward_batch(batch, criterion.layers, step=9).logits_at) == 1
    long = diffglat_model("diffglat", d, iterations=3, diffusion_warmup=160, warmup_transitions="progressive")
    assert [long.warmup_depth(step) for step in (0, 53, 54, 106, 107, 159)] == [2, 2, 4, 4, 6, 6]  # ceil(160 p / 3)


def test_sampled_warm_up_trains_one_transition_on_the_target():
    torch.manual_seed(3)
    batch, d = small_batch(4)
    model = diffglat_model("diffglat", d, iterations=2, diffusion_warmup=10, warmup_transitions="sampled")
    output = model.forward_batch(batch, (), step=0)
    assert len(output.logits_at) == 1 and torch.equal(output.target, model.diffusion_target(batch))


def test_mdp_reads_each_transition_on_its_own_best_path():
    """Two transitions on a 5-vertex DAG: transition 1's links force the path 0-1-4, transition 2's
    0-3-4. Transition 2 predicts y0's token at vertex 1 and another token at vertex 3: read on its
    own path (vertex 3) the literal MDP target of transition 1 is that other token; read at
    transition 1's vertex it would be y0."""
    from diffglat.models.output import DecoderOutput

    d = small_batch(1)[1]
    model = diffglat_model("diffglat", d, iterations=1, empty_agreement="largest").eval()
    a, b, V = 7, 8, len(d)
    y0 = torch.tensor([[d.bos, a, d.eos]])

    def transition_output(path_vertex):
        links = torch.full((1, 5, 5), -100.0).triu(1).masked_fill(~torch.ones(5, 5, dtype=torch.bool).triu(1), -math.inf)
        links[0, 0, path_vertex] = links[0, path_vertex, 4] = 0.0
        logits = torch.zeros(1, 5, V)
        logits[0, 0, d.bos] = logits[0, 4, d.eos] = 10.0
        logits[0, 1, a] = 10.0  # y0's token at vertex 1
        logits[0, 3, b] = 10.0  # another token at vertex 3
        return DecoderOutput({1: logits}, torch.zeros(1, 5, dtype=torch.bool), {1: links})

    outputs = {1: transition_output(1), 2: transition_output(3)}
    model.outputs = lambda states, pad, layers: outputs[layers[0]]
    for k, vertex in ((1, 1), (2, 3)):
        assert model.align(outputs[k], y0)[0].tolist() == [[0, vertex, 4]]
    chain = model.mdp_chain([None, None], None, y0, s=1)
    assert chain[0].tolist() == [[d.bos, b, d.eos]]
