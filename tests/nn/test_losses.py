"""chunked_softmax_ce equals the materialised cross-entropy, in value and gradients."""

import math

import pytest
import torch
import torch.nn.functional as F

from hgrec.nn.losses import chunked_softmax_ce


def _reference(h, W, y, tau):
    logits = h @ W.T / tau
    logits[:, 0] = -math.inf
    return F.cross_entropy(logits, y, reduction="sum")


@pytest.mark.parametrize("n, V, chunk, tau", [(37, 11, 8, 1.0), (5, 300, 1024, 0.5), (64, 50, 64, 2.0)])
def test_value_and_gradients_match_the_full_logits(n, V, chunk, tau):
    g = torch.Generator().manual_seed(n)
    h = torch.randn(n, 16, generator=g, dtype=torch.float64).float().requires_grad_()
    W = torch.randn(V, 16, generator=g).requires_grad_()
    y = torch.randint(1, V, (n,), generator=g)
    ref = _reference(h, W, y, tau)
    gh, gW = torch.autograd.grad(ref * 1.7, (h, W))
    out = chunked_softmax_ce(h, W, y, tau, chunk)
    ch, cW = torch.autograd.grad(out * 1.7, (h, W))
    assert torch.allclose(out, ref, rtol=1e-5, atol=1e-4)
    assert torch.allclose(ch, gh, rtol=1e-4, atol=1e-5) and torch.allclose(cW, gW, rtol=1e-4, atol=1e-5)
    assert cW[0].abs().max() == 0  # padding gets no gradient


def test_no_positions_is_a_zero_loss_with_gradients():
    h, W = torch.zeros(0, 4, requires_grad=True), torch.randn(6, 4, requires_grad=True)
    out = chunked_softmax_ce(h, W, torch.zeros(0, dtype=torch.long))
    out.backward()
    assert out.item() == 0 and W.grad is not None and W.grad.abs().max() == 0
