"""Full-catalogue softmax cross-entropy without the (n x V) logits tensor (issue 24).

`F.cross_entropy(h @ W.T, y)` materialises n x V logits (12,800 positions x 12k items = 600 MB per
step on Amazon), and its gradient another tensor of that size: glibc hands such blocks to the kernel
and back on every step, so a third of the training time went to page faults. `chunked_softmax_ce`
computes the same sum of -log softmax(h W^T / tau)[y] chunk by chunk in one reused buffer: forward keeps
only the n log-sum-exps, backward recomputes each chunk's logits into the same buffer and turns them
into the softmax gradient in place. Column 0 (padding) is excluded, as the models do with -inf.
"""

from __future__ import annotations

import math

import torch

_BUFFERS: dict[tuple, torch.Tensor] = {}  # (device, dtype) -> the reused chunk buffer (grows, never shrinks)


def _buffer(rows: int, cols: int, like: torch.Tensor) -> torch.Tensor:
    key = (like.device, like.dtype)
    buf = _BUFFERS.get(key)
    if buf is None or buf.numel() < rows * cols:
        buf = _BUFFERS[key] = torch.empty(rows * cols, device=like.device, dtype=like.dtype)
    return buf[: rows * cols].view(rows, cols)


def _logits(h: torch.Tensor, W: torch.Tensor, scale: float, out: torch.Tensor) -> torch.Tensor:
    torch.mm(h, W.T, out=out)
    if scale != 1.0:
        out.mul_(scale)
    out[:, 0] = -math.inf  # padding is never a target nor a candidate
    return out


class _ChunkedSoftmaxCE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, h, W, y, scale: float, chunk: int):
        n = h.shape[0]
        lse = torch.empty(n, device=h.device, dtype=h.dtype)
        for lo in range(0, n, chunk):
            hi = min(lo + chunk, n)
            lse[lo:hi] = torch.logsumexp(_logits(h[lo:hi], W, scale, _buffer(hi - lo, W.shape[0], h)), 1)
        target = (h * W[y]).sum(-1) * scale
        ctx.save_for_backward(h, W, y, lse)
        ctx.scale, ctx.chunk = scale, chunk
        return (lse - target).sum()

    @staticmethod
    def backward(ctx, grad):
        h, W, y, lse = ctx.saved_tensors
        scale, chunk = ctx.scale, ctx.chunk
        grad_h = torch.empty_like(h) if ctx.needs_input_grad[0] else None
        grad_W = torch.zeros_like(W) if ctx.needs_input_grad[1] else None
        g = grad * scale
        for lo in range(0, h.shape[0], chunk):
            hi = min(lo + chunk, h.shape[0])
            p = _logits(h[lo:hi], W, scale, _buffer(hi - lo, W.shape[0], h))
            p.sub_(lse[lo:hi, None]).exp_()  # softmax, in place (exp(-inf) = 0 at padding)
            p[torch.arange(hi - lo, device=p.device), y[lo:hi]] -= 1.0  # d(-log p_y)/d logits = p - onehot
            p.mul_(g)
            if grad_h is not None:
                torch.mm(p, W, out=grad_h[lo:hi])
            if grad_W is not None:
                grad_W.addmm_(p.T, h[lo:hi])
        return grad_h, grad_W, None, None, None


def chunked_softmax_ce(h: torch.Tensor, W: torch.Tensor, y: torch.Tensor, temperature: float = 1.0,
                       chunk: int = 1024) -> torch.Tensor:
    """sum_i -log softmax(h_i W^T / temperature)[y_i] over items 1..V-1 (column 0 is padding), in float32,
    equal to `F.cross_entropy(logits with logits[:, 0] = -inf, y, reduction="sum")` in value and gradients."""
    if h.shape[0] == 0:
        return (h.sum() + W.sum()) * 0.0
    return _ChunkedSoftmaxCE.apply(h.float(), W.float(), y, 1.0 / temperature, chunk)
