"""HPGR: Hierarchical and Preference-aware Generative Recommender (Qin et al., "Beyond the Flat Sequence:
Hierarchical and Preference-Aware Generative Recommendations", WWW 2026, arXiv 2603.00980).

Two stages over exposure histories segmented into sessions (hgrec/data/ctr_samples.py):
1. Structure-aware pre-training (`stage: pretrain`): tokens -> Session Enhancement Module (SEM) ->
   session-based Masked Item Modeling (MIM): whole sessions and spans inside sessions are replaced by
   [MASK] and predicted over the catalogue (full or sampled softmax, tied item embeddings).
2. Preference-aware fine-tuning (`stage: finetune`): the pre-trained tokens + SEM encode the history;
   for each candidate, Preference-Guided Sparse Attention (PGSA) scores the history items with the
   pre-trained item representations, keeps the top-K plus the current session, and the candidate
   attends only to those; a click head predicts the click.

We have only a summary of the paper (shared/papers/hpgr-2603.00980-summary.txt): it names these
components but gives no equations, sizes or masking rates. Every concrete form below is ours, and
docs/hpgr.md lists each choice with its reason:
- Token = item (+ pooled semantic-ID) + action + position-in-session + session-index (counted back
  from the candidate's session) + time-gap-bucket embeddings (hgrec/models/ctr.py, ExposureTokens).
- SEM (eq. S1-S4 are our numbering): intra-session bidirectional blocks with a block-diagonal mask
  (S1); attention pooling with a learned query into one summary per session (S2); bidirectional
  blocks over the session summaries + session-index embeddings (S3); a gated residual adds each
  session's context back to its tokens (S4).
- MIM masks positions, not the feedback alone: a masked token's item *and* action are replaced (the
  action of an exposure says much about the item), its position, session and time gap stay (the
  structure the pre-training is about).
- PGSA's relevance score is the cosine between a history item's and the candidate's embeddings in a
  *frozen copy* of the pre-trained item table (the "pre-trained representations"; O(L d) per
  candidate, no attention); without a pre-training checkpoint the model's own item embeddings are
  used, detached. The candidate token attends (`pgsa_layers` target-attention blocks) to the SEM
  states of the chosen W = K + |current session| tokens: gather + batched SDPA, cost O(W d) per
  candidate instead of O(L d); with K >= L it equals dense attention over the history (tested).
- `attention: dense` is the "w/o PGSA" ablation (and the dense-attention HPGR baseline); `sem: false`
  is "w/o SEM" (flat bidirectional blocks of the same total depth, no session embeddings); no
  `pretrained` checkpoint is "w/o pre-training".
"""

from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn.functional as F
from torch import nn

from hgrec.models.ctr import ClickHead, CTRModel, ExposureTokens
from hgrec.models.registry import register
from hgrec.nn import TransformerBlock
from hgrec.nn.blocks import RMSNorm
from hgrec.nn.session import (SessionPooling, TargetAttentionBlock, gather_tokens, select_history,
                              session_block_mask)


@dataclasses.dataclass
class HPGRConfig:
    stage: str = "finetune"  # pretrain: session-based MIM | finetune: PGSA click model
    pretrained: str | None = None  # finetune: checkpoint folder of a pre-training run (its best/ or step_N/)
    d_model: int = 64  # the paper's sizes are not in the summary; CPU-sized like our other configs
    n_heads: int = 2
    d_ff: int = 256
    dropout: float = 0.1
    intra_layers: int = 1  # SEM intra-session blocks
    inter_layers: int = 1  # SEM inter-session blocks
    sem: bool = True  # false: the "w/o SEM" ablation (flat blocks, same depth)
    max_sessions: int = 64  # session-index embeddings; older sessions share the last one
    max_session_pos: int = 64  # position-in-session embeddings
    # fine-tuning: Preference-Guided Sparse Attention
    attention: str = "sparse"  # sparse (PGSA) | dense (every history token: the "w/o PGSA" ablation)
    top_k: int = 32  # K history tokens chosen by relevance (plus the current session)
    # adaptive budget (the paper's stated future work): "fixed" keeps K tokens for every candidate;
    # "threshold" keeps, per candidate, those of the K whose relevance is >= relevance_threshold,
    # and the gather shrinks to the batch's largest such count
    top_k_mode: str = "fixed"
    relevance_threshold: float = 0.5
    max_current: int = 16  # at most this many (most recent) tokens of the current session are always kept
    pgsa_layers: int = 1  # target-attention blocks of the candidate over the chosen tokens
    # pre-training: session-based Masked Item Modeling
    mask_ratio: float = 0.2  # expected share of masked tokens
    session_mask_share: float = 0.5  # share of that budget spent on whole sessions; the rest on spans
    span_len: int = 3  # tokens per span inside a session (cut at the session's end)
    mim_loss: str = "ce"  # ce: full softmax over the catalogue | sampled: uniform negatives
    num_negatives: int = 256

    def __post_init__(self):
        if self.stage not in ("pretrain", "finetune"):
            raise ValueError(f"stage must be pretrain or finetune, got {self.stage!r}")
        if self.attention not in ("sparse", "dense"):
            raise ValueError(f"attention must be sparse or dense, got {self.attention!r}")
        if self.top_k_mode not in ("fixed", "threshold"):
            raise ValueError(f"top_k_mode must be fixed or threshold, got {self.top_k_mode!r}")
        if not -1 <= self.relevance_threshold <= 1:
            raise ValueError(f"relevance_threshold is a cosine: in [-1, 1], got {self.relevance_threshold}")
        if self.mim_loss not in ("ce", "sampled"):
            raise ValueError(f"mim_loss must be ce or sampled, got {self.mim_loss!r}")
        if not 0 < self.mask_ratio < 1 or not 0 <= self.session_mask_share <= 1:
            raise ValueError("mask_ratio must be in (0, 1) and session_mask_share in [0, 1]")
        if min(self.top_k, self.span_len, self.pgsa_layers, self.max_sessions, self.max_session_pos) < 1:
            raise ValueError("top_k, span_len, pgsa_layers, max_sessions and max_session_pos must be >= 1")
        if self.max_current < 0 or self.intra_layers < 0 or self.inter_layers < 0:
            raise ValueError("max_current, intra_layers and inter_layers must be >= 0")
        if self.stage == "pretrain" and self.pretrained:
            raise ValueError("pretrained is a fine-tuning option (stage: finetune)")


def mim_mask(valid: torch.Tensor, session: torch.Tensor, ratio: float, session_share: float, span_len: int,
             generator: torch.Generator | None = None) -> torch.Tensor:
    """(B, L) positions to mask for session-based MIM (True = masked), vectorised over rows and sessions.

    Whole sessions are masked with probability ratio * session_share each; spans of `span_len` tokens
    start at a token with probability ratio * (1 - session_share) / span_len and stop at the session's
    end. A row with >= 2 tokens always keeps >= 1 visible token and masks >= 1; shorter rows mask nothing.
    """
    B, L = valid.shape
    dev = valid.device
    rand = lambda *shape: torch.rand(*shape, generator=generator, device=dev)  # noqa: E731
    S = int(session.max()) + 1 if L else 1
    whole = (rand(B, S) < ratio * session_share).gather(1, session.clamp(min=0))  # (B, L)
    start = (rand(B, L) < ratio * (1 - session_share) / span_len) & valid
    span = start.clone()
    for lag in range(1, span_len):  # span_len is a small constant: a loop over offsets, not sessions
        same = torch.zeros_like(valid)
        same[:, lag:] = session[:, lag:] == session[:, :-lag]
        shifted = torch.zeros_like(valid)
        shifted[:, lag:] = start[:, :-lag]
        span |= shifted & same
    mask = (whole | span) & valid
    n = valid.sum(1)
    pick = (rand(B, L) * valid).argmax(1)  # a random real token per row
    rows = torch.arange(B, device=dev)
    none = (mask.sum(1) == 0) & (n >= 2)
    mask[rows[none], pick[none]] = True
    full = (mask.sum(1) == n) & (n >= 2)
    mask[rows[full], pick[full]] = False
    return mask & (n >= 2)[:, None]


class SessionEnhancementModule(nn.Module):
    def __init__(self, config: HPGRConfig):
        super().__init__()
        c = config
        block = lambda: TransformerBlock(c.d_model, c.n_heads, c.d_ff, c.dropout)  # noqa: E731
        self.use_sem = c.sem
        self.max_sessions = c.max_sessions
        if c.sem:
            self.intra = nn.ModuleList(block() for _ in range(c.intra_layers))
            self.pool = SessionPooling(c.d_model, c.n_heads, c.dropout)
            self.summary_session_emb = nn.Embedding(c.max_sessions, c.d_model)
            nn.init.normal_(self.summary_session_emb.weight, std=0.02)
            self.inter = nn.ModuleList(block() for _ in range(c.inter_layers))
            self.gate = nn.Linear(2 * c.d_model, c.d_model)
            self.context = nn.Linear(c.d_model, c.d_model, bias=False)
        else:
            self.flat = nn.ModuleList(block() for _ in range(c.intra_layers + c.inter_layers))
        self.norm = RMSNorm(c.d_model, eps=1e-6)

    def intra_session(self, x: torch.Tensor, session: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """(S1) intra-session attention: one SDPA call per block with a block-diagonal mask over the batch."""
        mask = session_block_mask(session, valid)  # (B, 1, L, L)
        for blk in self.intra:
            x = blk(x, causal=False, attn_mask=mask)
        return x

    def forward(self, x: torch.Tensor, session: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """x (B, L, d) tokens, session (B, L) >= 0, valid (B, L) -> (B, L, d) session-aware states."""
        if not self.use_sem:
            for blk in self.flat:
                x = blk(x, causal=False, key_padding=~valid)
            return self.norm(x) * valid[..., None]
        h = self.intra_session(x, session, valid)  # (S1)
        # (S2) session summaries: attention pooling of each session's tokens
        S = int(session.max()) + 1 if valid.any() else 1
        summary, real = self.pool(h, session, valid, S)  # (B, S, d), (B, S)
        slots = torch.arange(S, device=x.device).clamp(max=self.max_sessions - 1)
        g = summary + self.summary_session_emb(slots)[None]
        # (S3) inter-session attention over the summaries (bidirectional: every session is in the past)
        for blk in self.inter:
            g = blk(g, causal=False, key_padding=~real)
        # (S4) fuse each session's context back into its tokens with a gate
        ctx = gather_tokens(g, session.clamp(min=0))  # (B, L, d)
        gate = torch.sigmoid(self.gate(torch.cat([h, ctx], -1)))
        h = h + gate * self.context(ctx)
        return self.norm(h) * valid[..., None]


class PreferenceGuidedSparseAttention(nn.Module):
    """The candidate attends to the top-K history tokens by pre-trained relevance plus the current session."""

    def __init__(self, config: HPGRConfig):
        super().__init__()
        c = config
        self.sparse, self.top_k, self.max_current = c.attention == "sparse", c.top_k, c.max_current
        self.threshold = c.relevance_threshold if c.top_k_mode == "threshold" else None
        self.last_selected = float("nan")  # mean history tokens attended per candidate, last batch (cost probes)
        self.blocks = nn.ModuleList(TargetAttentionBlock(c.d_model, c.n_heads, c.d_ff, c.dropout)
                                    for _ in range(c.pgsa_layers))
        self.norm = RMSNorm(c.d_model, eps=1e-6)

    def forward(self, cand: torch.Tensor, states: torch.Tensor, valid: torch.Tensor, current: torch.Tensor,
                relevance: torch.Tensor | None) -> torch.Tensor:
        """cand (B, d), states (B, L, d), valid/current (B, L), relevance (B, L) -> (B, d)."""
        if self.sparse:
            idx, keep = select_history(relevance, valid, current, self.top_k, self.max_current)  # (B, W)
            if self.threshold is not None:
                # adaptive budget: the top-K columns come sorted by relevance, so the kept ones are a
                # prefix of them; the current session's columns (the last C) are always kept
                K = idx.shape[1] - min(self.max_current, valid.shape[1])
                rel_top = relevance.float().gather(1, idx[:, :K])
                keep[:, :K] &= rel_top >= self.threshold
                width = int(keep[:, :K].sum(1).max()) if K else 0
                idx = torch.cat([idx[:, :width], idx[:, K:]], 1)
                keep = torch.cat([keep[:, :width], keep[:, K:]], 1)
            self.last_selected = float(keep.sum(1).float().mean())
            context, padding = gather_tokens(states, idx), ~keep  # (B, W, d): cost grows with W, not L
        else:
            context, padding = states, ~valid  # dense: every history token
        z = cand[:, None]  # (B, 1, d)
        for blk in self.blocks:
            z = blk(z, context, padding)
        return self.norm(z[:, 0])


@register("hpgr", HPGRConfig)
class HPGR(CTRModel):
    def __init__(self, config: HPGRConfig, num_items: int, max_len: int, sid_vocab: list[int] | None = None,
                 feature_sizes: list[int] | None = None):
        super().__init__()
        c = self.config = config
        self.num_items, self.max_len, self.mask_id = num_items, max_len, num_items + 1
        self.tokens = ExposureTokens(num_items, c.d_model, c.max_sessions, c.max_session_pos, sid_vocab, c.dropout,
                                     sessions=c.sem, feature_sizes=feature_sizes if c.stage == "finetune" else None)
        self.sem = SessionEnhancementModule(c)
        if c.stage == "pretrain":
            self.mim_norm = RMSNorm(c.d_model, eps=1e-6)
        else:
            self.pgsa = PreferenceGuidedSparseAttention(c)
            self.head = ClickHead(c.d_model, c.d_ff, c.dropout, d_extra=self.tokens.side_dim)
            if c.pretrained:
                # the frozen pre-trained item space PGSA selects with (filled by load_pretrained_state)
                self.register_buffer("selector_emb", torch.zeros(num_items + 2, c.d_model))

    # ---- shared encoder ----
    def encode(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        items = batch["items"]
        valid = items > 0
        x = self.tokens(items, batch["actions"], batch["pos"], batch["session"], batch["gap"])  # (B, L, d)
        return self.sem(x, batch["session"], valid), valid

    # ---- stage 2: click prediction ----
    def relevance(self, items: torch.Tensor, cand: torch.Tensor) -> torch.Tensor:
        """(B, L) cosine between history items and the candidate in the selector's item space (no gradient)."""
        with torch.no_grad():
            table = self.selector_emb if hasattr(self, "selector_emb") else self.tokens.item_emb.weight
            h = F.normalize(table[items].float(), dim=-1)  # (B, L, d)
            c = F.normalize(table[cand].float(), dim=-1)  # (B, d)
            return (h @ c[:, :, None]).squeeze(-1)

    def predict(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        if self.config.stage != "finetune":
            raise RuntimeError("a stage=pretrain HPGR has no click head: fine-tune it (stage: finetune)")
        states, valid = self.encode(batch)
        side = self.tokens.side(batch)  # (B, F * d_field) or None
        cand = self.tokens.candidate(batch, side)  # (B, d)
        current = valid & (batch["session"] == 0)
        rel = self.relevance(batch["items"], batch["cand_item"]) if self.pgsa.sparse else None
        z = self.pgsa(cand, states, valid, current, rel)
        return self.head(cand, z, side)

    def attended_tokens(self) -> float:
        return self.pgsa.last_selected if self.config.stage == "finetune" and self.pgsa.sparse else float("nan")

    # ---- stage 1: session-based masked item modeling ----
    def mim_logits(self, h: torch.Tensor, ids: torch.Tensor | None = None) -> torch.Tensor:
        """(n, d) states -> (n, N+2) scores against the tied item table (or (n, k) against `ids`)."""
        w = self.tokens.item_emb.weight if ids is None else self.tokens.item_emb(ids)
        return self.mim_norm(h) @ w.T

    def forward(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        if self.config.stage == "finetune":
            return super().forward(batch)
        targets = batch["targets"]  # (B, L) the true item at masked positions, 0 elsewhere
        states, _ = self.encode(batch)
        at = targets > 0
        h, y = states[at], targets[at]  # (n, d), (n,)
        if self.config.mim_loss == "ce":
            logits = self.mim_logits(h)
            logits[:, 0] = -math.inf
            logits[:, self.mask_id] = -math.inf
            loss = F.cross_entropy(logits.float(), y, reduction="sum")
        else:
            neg = torch.randint(1, self.num_items + 1, (self.config.num_negatives,), device=h.device)
            pos = (self.mim_norm(h) * self.tokens.item_emb(y)).sum(-1, keepdim=True)  # (n, 1)
            neg_logits = self.mim_logits(h, neg).masked_fill(neg[None, :] == y[:, None], -math.inf)
            logits = torch.cat([pos, neg_logits], 1).float()
            loss = F.cross_entropy(logits, torch.zeros_like(y), reduction="sum")
        return loss, at.sum()

    @torch.no_grad()
    def score_masked(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """(n, N+1) scores of every item at each masked position (row order of batch['targets'] > 0)."""
        states, _ = self.encode(batch)
        scores = self.mim_logits(states[batch["targets"] > 0])[:, : self.num_items + 1].float()
        scores[:, 0] = -math.inf
        return scores

    # ---- stage 1 -> stage 2 ----
    def load_pretrained_state(self, state: dict[str, torch.Tensor]) -> list[str]:
        """Copy every pre-trained tensor this model also has (tokens, SEM); freeze the item table for PGSA."""
        own = self.state_dict()
        bad = [f"{k} {tuple(v.shape)} vs {tuple(own[k].shape)}" for k, v in state.items()
               if k in own and own[k].shape != v.shape]
        if bad:
            raise ValueError("pre-trained weights do not fit this model (same d_model, layers and dataset "
                             f"needed): {', '.join(bad[:3])}")
        shared = {k: v for k, v in state.items() if k in own and k != "selector_emb"}
        if "tokens.item_emb.weight" not in shared:
            raise ValueError("the pre-trained checkpoint has no item table (tokens.item_emb.weight): not an HPGR run")
        self.load_state_dict(shared, strict=False)
        if hasattr(self, "selector_emb"):
            self.selector_emb.copy_(state["tokens.item_emb.weight"])
        return sorted(shared)
