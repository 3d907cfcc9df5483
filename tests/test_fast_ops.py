"""The hand-written CPU paths of the training step against the torch functions they replace:
attention (vs F.scaled_dot_product_attention), dropout, the smoothed cross-entropy (vs two
F.cross_entropy calls) and best_tokens (vs argmax)."""

import pytest
import torch
import torch.nn.functional as F

from diffglat.losses.cross_entropy import SmoothedCrossEntropy
from diffglat.models.output import best_tokens
from diffglat.models.transformer import Dropout, attend


def attention_inputs(causal: bool, empty_row: bool):
    torch.manual_seed(0)
    B, H, T, S, d = 3, 2, 5, 7, 4
    q, k, v = (torch.randn(B, H, n, d, dtype=torch.float64, requires_grad=True) for n in (T, S, S))
    allowed = torch.ones(B, 1, 1, S, dtype=torch.bool)
    allowed[1, ..., 4:] = False  # padded keys
    if causal:
        allowed = allowed & torch.ones(T, S, dtype=torch.bool).tril(S - T)
    if empty_row:
        allowed = allowed.expand(B, 1, T, S).clone()
        allowed[2, 0, 3] = False  # a query that may see no key
    return q, k, v, allowed


@pytest.mark.parametrize("causal, empty_row", [(False, False), (True, False), (False, True)])
def test_attend_matches_sdpa_values_and_gradients(causal, empty_row):
    q, k, v, allowed = attention_inputs(causal, empty_row)
    grad = torch.randn(3, 2, 5, 4, dtype=torch.float64)
    ours = attend(q, k, v, allowed)
    ours_grads = torch.autograd.grad(ours, (q, k, v), grad)
    reference = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)
    reference_grads = torch.autograd.grad(reference, (q, k, v), grad)
    torch.testing.assert_close(ours, reference)
    for a, b in zip(ours_grads, reference_grads):
        torch.testing.assert_close(a, b)
    if empty_row:
        assert ours[2, :, 3].abs().max() == 0  # SDPA's convention: no key, zero output


def test_attend_in_bf16_autocast_stays_close_to_float32():
    q, k, v, allowed = attention_inputs(causal=True, empty_row=False)
    q, k, v = (x.detach().float() for x in (q, k, v))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = attend(q, k, v, allowed)
    assert low.dtype == torch.bfloat16
    torch.testing.assert_close(low.float(), attend(q, k, v, allowed), atol=0.03, rtol=0.03)


def test_dropout_zeroes_a_fraction_p_and_keeps_the_mean():
    torch.manual_seed(0)
    x = torch.ones(400, 500, requires_grad=True)
    layer = Dropout(0.1)
    y = layer(x)
    zeroed = float((y == 0).float().mean())
    assert abs(zeroed - 0.1) < 0.005
    assert abs(float(y.detach().mean()) - 1.0) < 0.01
    torch.testing.assert_close(y[y != 0], torch.full_like(y[y != 0], 1 / 0.9))
    y.sum().backward()
    torch.testing.assert_close(x.grad, (y != 0).float() / 0.9)  # gradient through the kept entries only
    layer.eval()
    assert layer(x) is x
    assert Dropout(0.0)(x) is x


@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_smoothed_cross_entropy_matches_two_cross_entropy_calls(eps):
    torch.manual_seed(0)
    pad = 1
    logits = torch.randn(40, 9, dtype=torch.float64, requires_grad=True)
    target = torch.randint(0, 9, (40,))
    target[::3] = pad
    loss, nll = SmoothedCrossEntropy.apply(logits, target, eps, pad)
    (grad,) = torch.autograd.grad(2.5 * loss, logits)
    reference = F.cross_entropy(logits, target, ignore_index=pad, label_smoothing=eps)
    (reference_grad,) = torch.autograd.grad(2.5 * reference, logits)
    torch.testing.assert_close(loss, reference)
    torch.testing.assert_close(nll, F.cross_entropy(logits.detach(), target, ignore_index=pad))
    torch.testing.assert_close(grad, reference_grad)
    assert grad[::3].abs().max() == 0  # padding rows get no gradient


def test_smoothed_cross_entropy_refuses_a_second_backward():
    logits = torch.randn(4, 5, requires_grad=True)
    loss, _ = SmoothedCrossEntropy.apply(logits, torch.tensor([0, 2, 3, 4]), 0.1, 1)
    loss.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="no second backward"):
        loss.backward()


def test_best_tokens_is_argmax_with_ties_to_the_first_index():
    logits = torch.tensor([[0.0, 2.0, 2.0, 1.0], [5.0, 5.0, 5.0, 5.0], [-1.0, -3.0, -0.5, -0.5]])
    assert best_tokens(logits).tolist() == [1, 0, 2]
    torch.manual_seed(0)
    random = torch.randn(6, 7, 300).to(torch.bfloat16)  # bf16 rounding makes ties common
    assert torch.equal(best_tokens(random), random.argmax(-1))
