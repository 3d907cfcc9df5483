"""DiffGLAT's diffusion processes against their definitions: the MDP intermediate targets (Eq. 24 with
gamma selection and the monotone chain) and the D3PM absorbing/uniform corruption rates."""

import math

import pytest
import torch

from diffglat.data.dictionary import Dictionary
from diffglat.models.diffusion import (EMPTY_AGREEMENT, GAMMAS, MdpRule, d3pm_step, d3pm_target, differ_fraction,
                                       diffusable, modality_diffusion, read_positions)

RULES = [MdpRule(empty_agreement=empty, exact_keep=keep) for empty in EMPTY_AGREEMENT for keep in (False, True)]

V = 12  # ids 0..5 are specials


def random_chain(m=4, B=64, n=10, seed=0):
    """m + 1 random transition predictions and a target that some of them capture."""
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(m + 1, B, n, V, generator=g, dtype=torch.float64) * 2
    y0 = torch.randint(6, V, (B, n), generator=g)
    captured = torch.rand(m + 1, B, n, generator=g) < torch.linspace(0.3, 0.8, m + 1)[:, None, None]
    logits[captured] = logits[captured].scatter(-1, y0.expand(m + 1, B, n)[captured][:, None], 10.0)  # y0 the argmax
    y0[:, -2:] = Dictionary.pad  # padded tail
    y0[:, 0] = Dictionary.bos
    return logits, y0


def chain_inputs(logits, y0):
    """Per transition: prediction, margin, other (identity alignment); step j interpolates with
    transition j + 1 and checks agreement with transition j - 1 (none for j = 0)."""
    reads = [read_positions(level, torch.ones_like(y0, dtype=torch.bool), y0) for level in logits]
    margin = torch.stack([r[1] for r in reads[1:]])
    other = torch.stack([r[2] for r in reads[1:]])
    agree = torch.stack([torch.zeros_like(y0, dtype=torch.bool)] + [r[0] == y0 for r in reads[:-2]])
    return margin, other, agree


def brute_force_chain(logits, y0, rule: MdpRule):
    """Eq. 24 literally: for each gamma the argmax over real tokens of gamma P + (1 - gamma) P * onehot(y0);
    the largest gamma keeping >= keep_fraction of the agreement tokens. With none: every gamma
    qualifies ("largest"), the smallest positive one ("smallest_positive"), or the fraction counts
    every target token ("keep_target"). With exact_keep, what the previous target captured stays."""
    m = logits.shape[0] - 1
    probs = torch.softmax(logits, -1)
    onehot = torch.nn.functional.one_hot(y0, logits.shape[-1]).to(probs.dtype)
    changeable = diffusable(y0)
    targets, previous = [], None
    for j in range(m):
        P = probs[j + 1]
        agree = (probs[j - 1].argmax(-1) == y0) & changeable if j > 0 else torch.zeros_like(changeable)
        target = torch.empty_like(y0)
        for b in range(y0.shape[0]):
            counted = agree[b]
            candidates = sorted(rule.gammas, reverse=True)
            if not counted.any():
                if rule.empty_agreement == "smallest_positive":
                    candidates = [min(g for g in rule.gammas if g > 0)]
                elif rule.empty_agreement == "keep_target":
                    counted = changeable[b]
            for gamma in candidates:
                candidate = (gamma * P[b] + (1 - gamma) * P[b] * onehot[b])[:, 6:].argmax(-1) + 6
                if (candidate == y0[b])[counted].sum() >= rule.keep_fraction * counted.sum() - 1e-9:
                    break
            target[b] = candidate
        if rule.exact_keep and previous is not None:
            target = torch.where(previous == y0, y0, target)
        previous = torch.where(changeable, target, y0)
        targets.append(previous)
    return torch.stack(targets)


def test_read_positions_margin_is_log_ratio_to_the_best_other_token():
    g = torch.Generator().manual_seed(3)
    logits = torch.randn(2, 5, V, generator=g, dtype=torch.float64)
    y0 = torch.randint(6, V, (2, 3), generator=g)
    positions = torch.tensor([[4, 0, -1], [1, 1, 3]])
    at = logits.gather(1, positions.clamp(min=0)[..., None].expand(-1, -1, V))
    prediction, margin, other = read_positions(at, positions >= 0, y0)
    log_probs = torch.log_softmax(logits, -1)
    for b in range(2):
        for k in range(3):
            v = int(positions[b, k])
            if v < 0:
                assert prediction[b, k] == -1 and margin[b, k] == math.inf
                continue
            others = [(float(log_probs[b, v, w]), w) for w in range(6, V) if w != y0[b, k]]
            best, w = max(others)
            assert margin[b, k] == pytest.approx(float(log_probs[b, v, y0[b, k]]) - best, abs=1e-12)
            assert other[b, k] == w and prediction[b, k] == log_probs[b, v].argmax()


@pytest.mark.parametrize("rule", RULES, ids=lambda r: f"{r.empty_agreement}-keep{int(r.exact_keep)}")
@pytest.mark.parametrize("seed", [0, 1])
def test_mdp_chain_equals_eq24_by_brute_force(seed, rule):
    logits, y0 = random_chain(seed=seed)
    expected = brute_force_chain(logits, y0, rule)
    assert torch.equal(modality_diffusion(y0, *chain_inputs(logits, y0), rule), expected)


def test_the_empty_agreement_rules_differ_on_the_first_transition():
    """The first transition has no agreement: literal gamma = max (the next transition's argmax),
    the smallest positive gamma (y0 nearly everywhere) or 90% of y0 kept."""
    logits, y0 = random_chain(m=3, B=200, n=40, seed=4)
    inputs = chain_inputs(logits, y0)
    first = {empty: modality_diffusion(y0, *inputs, MdpRule(empty_agreement=empty))[0] for empty in EMPTY_AGREEMENT}
    best_other = logits[1, ..., 6:].argmax(-1) + 6
    assert torch.equal(first["largest"], torch.where(diffusable(y0), best_other, y0))
    differ = {empty: differ_fraction(target, y0) for empty, target in first.items()}
    assert 0 < differ["keep_target"] <= 0.1 < 0.3 < differ["largest"] and 0 < differ["smallest_positive"]
    kept = ((first["keep_target"] == y0) & diffusable(y0)).sum(-1)
    assert (kept >= 0.9 * diffusable(y0).sum(-1)).all()


def test_differ_fraction_counts_only_diffusable_positions():
    y0 = torch.tensor([[Dictionary.bos, 7, 8, 9, Dictionary.eos, Dictionary.pad]])
    target = torch.tensor([[Dictionary.bos, 7, 10, 11, Dictionary.eos, Dictionary.pad]])
    assert differ_fraction(target, y0) == pytest.approx(2 / 3)


def test_mdp_keeps_agreement_tokens_and_with_exact_keep_moves_monotonically_toward_the_target():
    logits, y0 = random_chain(m=5, B=200, seed=2)
    margin, other, agree = chain_inputs(logits, y0)
    changeable = diffusable(y0)
    for exact_keep in (False, True):
        targets = modality_diffusion(y0, margin, other, agree, MdpRule(exact_keep=exact_keep))
        assert ((targets != y0) & ~changeable).sum() == 0  # pad and BOS never move
        assert (targets != y0).any()  # a non-trivial process
        monotone = True
        for j in range(len(targets)):
            counted = agree[j] & changeable
            kept = ((targets[j] == y0) & counted).sum(-1)
            assert (kept >= 0.9 * counted.sum(-1)).all()
            if j > 0:  # ỹ_{t-1} keeps every target token of ỹ_t: Hamming(ỹ_{t-1}, y0) <= Hamming(ỹ_t, y0)
                monotone &= not ((targets[j - 1] == y0) & (targets[j] != y0)).any()
        assert monotone == exact_keep


def test_mdp_with_gamma_zero_only_is_the_target():
    logits, y0 = random_chain(m=3, seed=4)
    margin, other, agree = chain_inputs(logits, y0)
    assert torch.equal(modality_diffusion(y0, margin, other, agree, MdpRule(gammas=(0.0,))), y0.expand(3, *y0.shape))


def test_mdp_rule_rejects_bad_settings():
    for bad in (dict(gammas=(0.1, 1.0)), dict(gammas=(0.0, 0.5, 0.2)), dict(empty_agreement="smallest"),
                dict(keep_fraction=1.5)):
        with pytest.raises(ValueError):
            MdpRule(**bad)


def test_mdp_without_agreement_tokens_stays_near_the_target_with_the_smallest_positive_gamma():
    """No agreement to keep (the first transition): the smallest positive gamma, so y0 stays wherever
    the next transition gives it at least gamma times the best other token's probability."""
    logits, y0 = random_chain(m=3, seed=4)
    margin, other, agree = chain_inputs(logits, y0)
    first = modality_diffusion(y0, margin, other, agree, MdpRule(empty_agreement="smallest_positive"))[0]
    log_probs = torch.log_softmax(logits[1], -1)
    y0_wins = log_probs.gather(-1, y0[..., None])[..., 0] >= math.log(GAMMAS[1]) + log_probs[..., 6:].max(-1).values
    best_other = log_probs.scatter(-1, y0[..., None], -math.inf)[..., 6:].argmax(-1) + 6
    assert (~y0_wins & diffusable(y0)).any() and (y0_wins & diffusable(y0)).any()
    assert torch.equal(first, torch.where(y0_wins | ~diffusable(y0), y0, best_other))


@pytest.mark.parametrize("process", ["d3pm_absorbing", "d3pm_uniform"])
def test_d3pm_step_corrupts_at_rate_beta(process):
    g = torch.Generator().manual_seed(5)
    N, n, V_big = 4000, 50, 1000
    tokens = torch.randint(6, V_big, (N, n), generator=g)
    tokens[:, -5:] = Dictionary.pad
    tokens[:, 0] = Dictionary.bos
    changeable = diffusable(tokens)
    for beta in (0.25, 1 / 3, 1.0):
        out = d3pm_step(tokens, changeable, beta, process, V_big, g)
        assert torch.equal(out[~changeable], tokens[~changeable])
        changed = (out != tokens)[changeable].double().mean()
        expected = beta if process == "d3pm_absorbing" else beta * (1 - 1 / (V_big - 6))
        sigma = math.sqrt(expected * (1 - expected) / changeable.sum()) + 1e-12
        assert abs(float(changed) - expected) < 5 * sigma
        if process == "d3pm_absorbing":
            assert (out[out != tokens] == Dictionary.mask).all()
        else:
            assert (out[changeable] >= 6).all() and (out[changeable] < V_big).all()


@pytest.mark.parametrize("process", ["d3pm_absorbing", "d3pm_uniform"])
def test_d3pm_chain_uses_beta_t_equal_one_over_T_minus_t_plus_one(process):
    """beta_s = 1/(T-s+1) per step gives the marginal corruption rate t/T at level t (y_T all corrupted)."""
    g = torch.Generator().manual_seed(6)
    T, N, n, V_big = 6, 3000, 40, 10006
    y0 = torch.randint(6, V_big, (N, n), generator=g)
    assert torch.equal(d3pm_target(y0, 0, T, process, V_big, g), y0)
    for level in (1, 3, T):
        out = d3pm_target(y0, level, T, process, V_big, g)
        rate = float((out != y0).double().mean())
        expected = level / T * (1 if process == "d3pm_absorbing" else 1 - 1 / (V_big - 6))
        assert abs(rate - expected) < 5 * math.sqrt(expected * (1 - expected) / (N * n)) + 1e-9
