"""What every CTR model shares (HPGR, HSTU-CTR, MTGR-style, DIN): token embeddings of an exposure history,
the click head, and `forward(batch) -> (BCE loss sum, n)` / `predict(batch) -> logits`.

Batches come from `hgrec.data.ctr_samples.CTRData.batch` (as tensors): left-padded (B, L) `items`,
`actions`, `session` (index counted back from the candidate's session), `pos` (position in session),
`gap` (time-gap bucket), `ts`, `hist_labels`, and the candidate's `cand_item`, `cand_pos`,
`cand_gap`, `cand_ts`, with `label` (B,) to predict, and, when the run uses side features
(`data.features`), `features` (B, F): the buckets of hgrec/data/ctr_features.py. Every model treats them
alike (`ExposureTokens.side`): one embedding per field, concatenated, projected into the candidate token
(so the sequence encoder reads a context-aware candidate) and fed whole to the click head.

Item ids: 0 = padding, 1..N items, N + 1 = [MASK] (used by HPGR's pre-training only; every CTR model
keeps the row so a pre-trained table loads without reshaping).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hgrec.data.ctr_samples import ACTION_CANDIDATE, ACTION_VOCAB, GAP_BUCKETS


class SideFeatures(nn.Module):
    """(B, F) feature buckets -> (B, F * d_field): one embedding table, each field at its own offset."""

    def __init__(self, sizes: list[int], d_field: int = 8):
        super().__init__()
        self.register_buffer("offsets", torch.tensor([0, *sizes[:-1]]).cumsum(0), persistent=False)
        self.emb = nn.Embedding(sum(sizes), d_field)
        self.dim = len(sizes) * d_field

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        return self.emb(codes + self.offsets).flatten(1)


class ExposureTokens(nn.Module):
    """token = item (+ semantic-ID) + action + position-in-session + session-index + time-gap embeddings;
    the candidate token also gets its projected side features."""

    def __init__(self, num_items: int, d_model: int, max_sessions: int = 64, max_session_pos: int = 64,
                 sid_vocab: list[int] | None = None, dropout: float = 0.0, sessions: bool = True,
                 feature_sizes: list[int] | None = None):
        super().__init__()
        self.num_items, self.max_sessions, self.max_session_pos = num_items, max_sessions, max_session_pos
        self.item_emb = nn.Embedding(num_items + 2, d_model, padding_idx=0)  # + [MASK] = num_items + 1
        self.action_emb = nn.Embedding(ACTION_VOCAB, d_model, padding_idx=0)
        self.gap_emb = nn.Embedding(GAP_BUCKETS, d_model, padding_idx=0)
        self.sessions = sessions
        if sessions:
            self.pos_emb = nn.Embedding(max_session_pos, d_model)
            self.session_emb = nn.Embedding(max_sessions, d_model)
        self.sid = None
        if sid_vocab:
            from hgrec.models.generative import SIDEmbedding

            self.sid = SIDEmbedding(sid_vocab, num_items, d_model)
        self.side_features = SideFeatures(feature_sizes) if feature_sizes else None
        self.side_dim = self.side_features.dim if feature_sizes else 0
        if feature_sizes:
            self.side_proj = nn.Linear(self.side_dim, d_model)
        for emb in self.modules():
            if isinstance(emb, nn.Embedding):
                nn.init.normal_(emb.weight, std=0.02)
                if emb.padding_idx is not None:
                    with torch.no_grad():
                        emb.weight[emb.padding_idx].zero_()
        self.drop = nn.Dropout(dropout)

    def items(self, ids: torch.Tensor) -> torch.Tensor:
        """Item (+ pooled semantic-ID) embedding; [MASK] and padding get no semantic-ID part."""
        e = self.item_emb(ids)
        if self.sid is not None:
            real = (ids > 0) & (ids <= self.num_items)
            e = e + self.sid.item(torch.where(real, ids, torch.zeros_like(ids)))
        return e

    def forward(self, items, actions, pos, session, gap) -> torch.Tensor:
        """(B, L) each -> (B, L, d) history tokens, zero at padding."""
        x = self.items(items) + self.action_emb(actions) + self.gap_emb(gap)
        if self.sessions:
            x = x + self.pos_emb(pos.clamp(max=self.max_session_pos - 1))
            x = x + self.session_emb(session.clamp(0, self.max_sessions - 1))
        return self.drop(x) * (items > 0)[..., None]

    def side(self, batch: dict[str, torch.Tensor]) -> torch.Tensor | None:
        """(B, F * d_field) embedded side features of the candidate exposure, or None without features."""
        if self.side_features is None:
            return None
        if "features" not in batch:
            raise ValueError("this model was trained with side features (data.features) but the batch has none")
        return self.drop(self.side_features(batch["features"]))

    def candidate(self, batch: dict[str, torch.Tensor], side: torch.Tensor | None = None) -> torch.Tensor:
        """(B, d): the candidate item with the [CANDIDATE] action, its place in the current session, its gap
        and (`side`, from `side(batch)`) its side features."""
        c = batch["cand_item"]
        x = self.items(c) + self.action_emb(torch.full_like(c, ACTION_CANDIDATE)) + self.gap_emb(batch["cand_gap"])
        if side is not None:
            x = x + self.side_proj(side)
        if self.sessions:
            x = x + self.pos_emb(batch["cand_pos"].clamp(max=self.max_session_pos - 1))
            x = x + self.session_emb(torch.zeros_like(c))
        return self.drop(x)


class ClickHead(nn.Module):
    """logit = MLP([c, z, c * z]): the candidate, what the model read from the history, their interaction."""

    def __init__(self, d_model: int, d_hidden: int, dropout: float = 0.0, d_extra: int = 0):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(3 * d_model + d_extra, d_hidden), nn.SiLU(), nn.Dropout(dropout),
                                 nn.Linear(d_hidden, d_hidden // 2), nn.SiLU(), nn.Linear(d_hidden // 2, 1))

    def forward(self, c: torch.Tensor, z: torch.Tensor, extra: torch.Tensor | None = None) -> torch.Tensor:
        parts = [c, z, c * z] + ([extra] if extra is not None else [])
        return self.net(torch.cat(parts, -1)).squeeze(-1)


class CTRModel(nn.Module):
    """Base of every click model: a subclass implements `predict(batch) -> (B,) logits`."""

    task = "ctr"

    def predict(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError

    def attended_tokens(self) -> float:
        """Mean history tokens the candidate attended to in the last `predict` (a cost probe; NaN = all)."""
        return float("nan")

    def forward(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Sum of binary cross-entropy over the batch and its size (the trainer normalises)."""
        logits = self.predict(batch).float()
        loss = F.binary_cross_entropy_with_logits(logits, batch["label"].float(), reduction="sum")
        return loss, torch.tensor(logits.shape[0], device=logits.device)
