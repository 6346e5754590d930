"""Session-structured and sparse attention pieces (HPGR, hgrec/models/hpgr.py). No Python loop over
sessions or rows anywhere: every operation is one mask, one gather or one SDPA call for the batch.

- `session_block_mask`: the block-diagonal mask of intra-session attention (a token sees only the
  tokens of its own session).
- `SessionPooling`: one summary per session by attention pooling with a learned query; all sessions
  of the batch in one SDPA call, each query masked to its session's tokens.
- `select_history`: Preference-Guided Sparse Attention's choice of keys for each candidate: the
  history tokens of the candidate's current session (at most `max_current`, the most recent) plus the
  top-`k` of the remaining tokens by a relevance score. A plain-Python reference is in the tests.
- `gather_tokens`: (B, L, d) states -> (B, W, d) states of the chosen positions.
- `TargetAttentionBlock`: one query token (the candidate) attends to a set of key tokens, then an FFN.
  It is permutation-invariant in its keys, so attending to "all tokens" through a gather equals
  dense attention over the full history (tested).
"""

from __future__ import annotations

import torch
from torch import nn

from hgrec.nn.attention import MultiHeadAttention
from hgrec.nn.blocks import FeedForward, make_norm


def session_block_mask(session: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """(B, L) session index per token, (B, L) True for real tokens -> (B, 1, L, L) bool, True = may attend.

    Query i may attend to key j iff both are real tokens of the same session.
    """
    same = session[:, :, None] == session[:, None, :]  # (B, L, L)
    return (same & valid[:, :, None] & valid[:, None, :])[:, None]


class SessionPooling(nn.Module):
    """Session summaries: s_k = Attn(q, {h_t : session(t) = k}) with one learned query q."""

    def __init__(self, d_model: int, n_heads: int, dropout: float = 0.0):
        super().__init__()
        self.query = nn.Parameter(torch.empty(d_model).normal_(0, 0.02))
        self.attn = MultiHeadAttention(d_model, n_heads, dropout)

    def forward(self, x: torch.Tensor, session: torch.Tensor, valid: torch.Tensor,
                num_sessions: int) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, L, d), session (B, L) in 0..num_sessions-1 -> summaries (B, S, d), (B, S) True = real session."""
        B, L, d = x.shape
        slots = torch.arange(num_sessions, device=x.device)
        member = (session[:, None, :] == slots[None, :, None]) & valid[:, None, :]  # (B, S, L)
        q = self.query.expand(B, num_sessions, d)  # (B, S, d): the same query for every session slot
        summary = self.attn(q, x, attn_mask=member[:, None])  # (B, S, d); empty slots come out as 0
        return summary, member.any(-1)


def select_history(scores: torch.Tensor, valid: torch.Tensor, current: torch.Tensor, k: int,
                   max_current: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Positions each candidate attends to under PGSA.

    scores  (B, L) relevance of each history token to the candidate (any finite values)
    valid   (B, L) True for real tokens (left padding False)
    current (B, L) True for tokens of the candidate's current session; histories are in time order,
            so these are a suffix of the real tokens
    Returns idx (B, W) positions and keep (B, W) True where idx is a chosen real token, with
    W = min(k, L) + min(max_current, L): the last min(n_current, max_current) positions, then the k
    highest-scoring real tokens among the rest (ties broken by torch.topk). With k >= L every real
    token is chosen exactly once, i.e. PGSA attends to the full history.
    """
    B, L = scores.shape
    C = min(max_current, L)
    n_cur = (current & valid).sum(1).clamp(max=C)  # (B,)
    cur_idx = torch.arange(L - C, L, device=scores.device).expand(B, C)  # the last C positions
    cur_keep = torch.arange(C, device=scores.device)[None, :] >= (C - n_cur)[:, None]  # (B, C)
    taken = torch.zeros_like(valid)
    taken[:, L - C:] = cur_keep
    rest = scores.float().masked_fill(~valid | taken, float("-inf"))
    K = min(k, L)
    top_val, top_idx = rest.topk(K, dim=1)  # (B, K): O(L) per row, independent of L afterwards
    idx = torch.cat([top_idx, cur_idx], 1)  # (B, W)
    keep = torch.cat([top_val > float("-inf"), cur_keep], 1)
    return idx, keep


def gather_tokens(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """(B, L, d), (B, W) -> (B, W, d)."""
    return x.gather(1, idx[..., None].expand(-1, -1, x.shape[-1]))


class TargetAttentionBlock(nn.Module):
    """q = q + Attn(Norm(q), NormK(C), NormV(C)); q = q + FFN(Norm(q)) for a (B, T, d) query and (B, W, d) keys."""

    def __init__(self, d_model: int, n_heads: int, d_ff: int, dropout: float = 0.0, ffn: str = "swiglu",
                 norm: str = "rms"):
        super().__init__()
        self.norm_q = make_norm(norm, d_model)
        self.norm_k = make_norm(norm, d_model)
        self.norm_v = make_norm(norm, d_model)
        self.attn = MultiHeadAttention(d_model, n_heads, dropout)
        self.norm_ffn = make_norm(norm, d_model)
        self.ffn = FeedForward(d_model, d_ff, ffn, dropout)
        self.dropout = nn.Dropout(dropout)

    def forward(self, q: torch.Tensor, context: torch.Tensor, key_padding: torch.Tensor | None = None) -> torch.Tensor:
        q = q + self.dropout(self.attn(self.norm_q(q), self.norm_k(context), self.norm_v(context),
                                       key_padding=key_padding))
        return q + self.dropout(self.ffn(self.norm_ffn(q)))
