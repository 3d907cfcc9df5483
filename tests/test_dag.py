"""DAG loss, best alignment and decoding against brute-force enumeration of every path (float64), and the
float32 loss against a float64 oracle in the regimes where probability-space products underflow."""

import itertools
import math

import pytest
import torch

from diffglat.decoding import dag as decode
from diffglat.losses import dag as dag_module
from diffglat.alignment import dag_best_alignment, target_log_probs
from diffglat.losses.dag import dag_log_likelihood, dag_log_likelihood_reference, dag_loss

from dag_cases import NEG_INF, masked_links, masked_match, peaked_dag


def random_dag(B, T, L, target_lengths, graph_lengths, seed=0):
    g = torch.Generator().manual_seed(seed)
    links = masked_links(torch.randn(B, L, L, generator=g, dtype=torch.float64), graph_lengths)
    match = masked_match(-torch.rand(B, T, L, generator=g, dtype=torch.float64) * 3, target_lengths, graph_lengths)
    return match, links


def paths(T, L):
    """Every vertex sequence 0 = a_0 < ... < a_{T-1} = L-1."""
    if T == 1:
        return [(0,)] if L == 1 else []
    return [(0, *middle, L - 1) for middle in itertools.combinations(range(1, L - 1), T - 2)]


def path_score(match_b, links_b, path):
    score = sum(match_b[k, v] for k, v in enumerate(path))
    return score + sum(links_b[a, b] for a, b in zip(path, path[1:]))


CASES = [  # (target_lengths, graph_lengths) per sentence; T <= 4, L <= 7
    ([4, 3, 2, 4], [7, 5, 6, 4]),
    ([2, 4, 3, 1], [2, 7, 3, 1]),
]


@pytest.mark.parametrize("target_lengths, graph_lengths", CASES)
def test_loss_equals_brute_force(target_lengths, graph_lengths):
    tl, gl = torch.tensor(target_lengths), torch.tensor(graph_lengths)
    match, links = random_dag(len(tl), 4, 7, tl, gl)
    got = dag_log_likelihood(match, links, tl, gl)
    reference = dag_log_likelihood_reference(match, links, tl, gl)
    for b in range(len(tl)):
        scores = [path_score(match[b], links[b], p) for p in paths(int(tl[b]), int(gl[b]))]
        expected = torch.logsumexp(torch.stack(scores), 0)
        assert abs(float(got[b]) - float(expected)) < 1e-9
        assert abs(float(reference[b]) - float(expected)) < 1e-9


def test_gradients_match_reference_and_gradcheck():
    tl, gl = torch.tensor([4, 3, 2]), torch.tensor([7, 5, 6])
    g = torch.Generator().manual_seed(3)
    raw_links = torch.randn(3, 7, 7, generator=g, dtype=torch.float64, requires_grad=True)
    raw_match = torch.randn(3, 4, 7, generator=g, dtype=torch.float64, requires_grad=True)

    def objective(function):
        return lambda rl, rm: function(masked_match(rm, tl, gl), masked_links(rl, gl), tl, gl)

    assert torch.autograd.gradcheck(objective(dag_log_likelihood), (raw_links, raw_match))
    weights = torch.tensor([0.3, -1.2, 2.0], dtype=torch.float64)
    ours = torch.autograd.grad((objective(dag_log_likelihood)(raw_links, raw_match) * weights).sum(), (raw_links, raw_match))
    theirs = torch.autograd.grad((objective(dag_log_likelihood_reference)(raw_links, raw_match) * weights).sum(), (raw_links, raw_match))
    for a, b in zip(ours, theirs):
        assert torch.allclose(a, b, atol=1e-10)


def test_infeasible_graph_gives_inf_and_zero_loss_not_nan():
    tl, gl = torch.tensor([4, 3]), torch.tensor([3, 5])  # 4 tokens cannot fit on 3 vertices
    match, links = random_dag(2, 4, 5, tl, gl)
    match.requires_grad_(True)
    ll = dag_log_likelihood(match, links, tl, gl)
    assert ll[0] == NEG_INF and torch.isfinite(ll[1])
    loss, stats = dag_loss(match, links, tl, gl)
    assert stats["infeasible"] == 1
    assert torch.isclose(loss, -ll[1] / 3)
    loss.backward()
    assert torch.isfinite(match.grad).all()
    assert (match.grad[0] == 0).all()


def float64_oracle(match, links, tl, gl, weights):
    """log P(y) and the gradients of sum(weights * log P(y)) by autograd through the log-space recursion."""
    match, links = (t.double().requires_grad_() for t in (match, links))
    ll = dag_log_likelihood_reference(match, links, tl, gl)
    return (ll.detach(), *torch.autograd.grad((ll * weights.double()).sum(), (match, links)))


REGIMES = {  # scale, gold, wrong (the former products in probability space gave NaN at x3, x6, x10)
    "x1": (1, 0, 0), "x3": (3, 0, 0), "x6": (6, 0, 0), "x10": (10, 0, 0),
    "gold path +10, noise x8": (8, 10, 0),
    "confident wrong path": (1, 10, 8), "confident wrong path x6": (6, 10, 8),
}


@pytest.mark.parametrize("regime", list(REGIMES))
def test_float32_loss_and_gradients_match_a_float64_oracle_in_peaked_regimes(regime):
    scale, gold, wrong = REGIMES[regime]
    match, links, tl, gl = peaked_dag(6, 30, 95, scale, gold, wrong, seed=len(regime))
    weights = torch.linspace(0.5, 1.5, 6)
    expected = float64_oracle(match, links, tl, gl, weights)
    match, links = match.requires_grad_(), links.requires_grad_()
    ll = dag_log_likelihood(match, links, tl, gl)
    got = (ll.detach(), *torch.autograd.grad((ll * weights).sum(), (match, links)))
    for tensor in got:
        assert not torch.isnan(tensor).any()
    assert ((got[0].double() - expected[0]).abs() / expected[0].abs()).max() < 1e-4  # per sentence
    for ours, oracle in zip(got[1:], expected[1:]):
        assert (ours.double() - oracle).abs().max() / oracle.abs().max() < 1e-4


def test_exact_fallback_runs_and_float64_stays_exact():
    match, links, tl, gl = peaked_dag(4, 16, 40, scale=10, seed=5)
    before = dict(dag_module.FALLBACKS)
    match32, links32 = match.clone().requires_grad_(), links.clone().requires_grad_()
    dag_log_likelihood(match32, links32, tl, gl).sum().backward()
    assert dag_module.FALLBACKS["forward"] > before["forward"]  # x10 needs the log-space fallback
    assert dag_module.FALLBACKS["backward"] > before["backward"]
    weights = torch.ones(4, dtype=torch.float64)
    expected = float64_oracle(match, links, tl, gl, weights)
    match64, links64 = match.double().requires_grad_(), links.double().requires_grad_()
    ll = dag_log_likelihood(match64, links64, tl, gl)
    got = (ll.detach(), *torch.autograd.grad(ll.sum(), (match64, links64)))
    assert torch.allclose(got[0], expected[0], rtol=1e-12, atol=0)
    for ours, oracle in zip(got[1:], expected[1:]):
        assert (ours - oracle).abs().max() / oracle.abs().max() < 1e-10


@pytest.mark.parametrize("target_lengths, graph_lengths", CASES)
def test_best_alignment_equals_brute_force(target_lengths, graph_lengths):
    tl, gl = torch.tensor(target_lengths), torch.tensor(graph_lengths)
    match, links = random_dag(len(tl), 4, 7, tl, gl, seed=1)
    path = dag_best_alignment(match, links, tl, gl)
    for b in range(len(tl)):
        candidates = paths(int(tl[b]), int(gl[b]))
        best = max(candidates, key=lambda p: float(path_score(match[b], links[b], p)))
        assert path[b, : tl[b]].tolist() == list(best)
        assert (path[b, tl[b]:] == -1).all()


def all_paths(L):
    """Every path from vertex 0 to L-1, of any length."""
    if L == 1:
        return [(0,)]
    return [(0, *middle, L - 1) for m in range(L - 1) for middle in itertools.combinations(range(1, L - 1), m)]


def random_graph(B, L, V, graph_lengths, seed):
    g = torch.Generator().manual_seed(seed)
    links = masked_links(torch.randn(B, L, L, generator=g, dtype=torch.float64) * 2, graph_lengths)
    token_logprobs = torch.log_softmax(torch.randn(B, L, V, generator=g, dtype=torch.float64) * 2, -1)
    return token_logprobs, links


@pytest.mark.parametrize("joint", [False, True])
@pytest.mark.parametrize("beta", [0.0, 1.0, 1.5])
def test_viterbi_decoding_equals_brute_force(joint, beta):
    gl = torch.tensor([7, 5, 1, 6])
    token_logprobs, links = random_graph(4, 7, 5, gl, seed=int(beta * 10) + joint)
    node = token_logprobs.max(-1).values if joint else torch.zeros(4, 7, dtype=torch.float64)
    visited = decode.best_path_by_length(links, node, gl, beta)
    for b in range(4):
        def score(p):
            return float(sum(node[b, v] for v in p) + sum(links[b, x, y] for x, y in zip(p, p[1:]))) / len(p) ** beta
        best = max(all_paths(int(gl[b])), key=score)
        got = [v for v in visited[b].tolist() if v >= 0]
        assert math.isclose(score(tuple(got)), score(best), rel_tol=1e-12)


def test_lookahead_on_a_hand_built_graph():
    # 4 vertices; from 0 the link prefers vertex 1 (0.6 vs 0.4), but vertex 2's token is far more certain.
    def p(x):
        return math.log(x)
    links = torch.full((1, 4, 4), NEG_INF)
    links[0, 0, 1], links[0, 0, 2] = p(0.6), p(0.4)
    links[0, 1, 3] = links[0, 2, 3] = 0.0
    tokens = torch.full((1, 4, 6), p(0.01))
    tokens[0, 0, 3] = tokens[0, 3, 4] = p(0.95)
    tokens[0, 1, 5], tokens[0, 2, 1] = p(0.3), p(0.95)
    gl = torch.tensor([4])
    assert decode.greedy(tokens, links, gl, pad=0).tolist() == [[3, 5, 4]]
    # lookahead: 0->1 scores log .6 + log .3 = -1.71; 0->2 scores log .4 + log .95 = -0.97
    assert decode.lookahead(tokens, links, gl, pad=0, beta=1.0).tolist() == [[3, 1, 4]]
    assert decode.lookahead(tokens, links, gl, pad=0, beta=0.0).tolist() == [[3, 5, 4]]


def test_collapse_repeats():
    tokens = torch.tensor([[5, 5, 6, 6, 6, 5, 0], [7, 8, 8, 0, 0, 0, 0]])
    assert decode.collapse_repeats(tokens, pad=0).tolist() == [[5, 6, 5], [7, 8, 0]]


def test_target_log_probs_equal_log_softmax_gather_in_values_and_gradients():
    g = torch.Generator().manual_seed(4)
    logits = torch.randn(3, 7, 11, generator=g, dtype=torch.float64, requires_grad=True)
    target = torch.randint(0, 11, (3, 5), generator=g)
    target[0, 3] = target[0, 1]  # a repeated token: its gradients add up
    weights = torch.randn(3, 5, 7, generator=g, dtype=torch.float64)
    ours = target_log_probs(logits, target)  # [B, T, L]
    theirs = torch.log_softmax(logits, -1).gather(-1, target[:, None, :].expand(-1, 7, -1)).transpose(1, 2)
    assert ours.shape == (3, 5, 7) and torch.allclose(ours, theirs, atol=1e-12)
    ours_grad = torch.autograd.grad((ours * weights).sum(), logits)[0]
    theirs_grad = torch.autograd.grad((theirs * weights).sum(), logits)[0]
    assert torch.allclose(ours_grad, theirs_grad, atol=1e-12)
    assert target_log_probs(logits.detach().bfloat16(), target).dtype == torch.float32
    twice = target_log_probs(logits, target).sum()
    twice.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="second backward"):
        twice.backward()
