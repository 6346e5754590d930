"""HiGR: Hierarchical Slate Decoder (Pang et al., "HiGR", arXiv 2512.24787, §3.3, eqs. 7-12).

    C     = ContextEncoder(u, S^u)                                   user features + history
    I_hat = SlatePlanner([BOS, i_1 .. i_{M-1}] | C)                  eq. (7)-(8), i_m = sum_d s_m^d
    s_m   = ItemGenerator([i_hat_m, s_m^1 .. s_m^{D-1}] | C)         eq. (9)-(11), shared over m
    L     = - sum_m sum_d log P(s_m^d | i_hat_m, s_m^{<d})           eq. (12)

The planner's blocks run cross-attention to C first (keys/values through their own RMSNorm_k /
RMSNorm_v), then causal self-attention, then the FFN — the order of eq. (8). The generator is
the shared `SIDDecoder`, run on all M items of all slates as one batch of B*M short sequences.
Inference is Greedy-Slate Beam-Item decoding (`hgrec.decoding.gsbi`). `slate_logprobs` scores
given slates teacher-forced, step by step, through the same path as the loss: the per-step
log-probabilities that preference alignment (§3.4, `hgrec.alignment`) turns into log-odds.

Switches for the paper's Table 3 ablations: `pooling` (sum | mean | max, how an item's D code
embeddings become i_m), `item_context: false` ("w/o CE": the generator does not cross-attend to
C) and `shared_generator: false` (one generator per slate position; position m >= M at inference
uses the last one).

Our choices where the paper is silent: the planner has no position embedding (causal attention
alone tells slots apart, so any slate length L can be decoded — the paper's Figure 4); the
context encoder is a bidirectional transformer over one token per user feature plus the history
(pooled SID embedding + right-aligned position + log time-gap bucket); the paper's sizes are
d=512, FFN 2048, l_slate=14, l_item=2 — the defaults here are a CPU-sized model.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from hgrec.models.generative import POOLING, ContextEncoder, SIDDecoder, SIDEmbedding, sid_loss
from hgrec.models.registry import register
from hgrec.nn import KVCache, StaticCaches, TransformerBlock
from hgrec.nn.blocks import decode_step, make_norm, prefill_cross


@dataclasses.dataclass
class HiGRConfig:
    d_model: int = 64  # paper: 512
    n_heads: int = 4
    d_ff: int = 256  # paper: 2048
    context_layers: int = 2
    slate_layers: int = 4  # l_slate, paper: 14
    item_layers: int = 2  # l_item, paper: 2
    dropout: float = 0.1
    ffn: str = "swiglu"
    pooling: str = "sum"  # Table 3: sum | mean | max
    item_context: bool = True  # Table 3 "w/o CE" = false
    shared_generator: bool = True  # Table 3 "Non-shared" = false
    user_features: bool = True
    time_embedding: bool = True
    item_ids: bool = False  # hybrid context: + item-ID embedding of history items (our addition)
    head_dim: int | None = None  # None: d_model / n_heads (set it to size the heads like TIGER's 6 x 64)

    def __post_init__(self):
        if self.pooling not in POOLING:
            raise ValueError(f"model.pooling must be one of {POOLING}, got {self.pooling!r}")
        if self.head_dim is None and self.d_model % self.n_heads:
            raise ValueError(f"model.d_model {self.d_model} is not divisible by n_heads {self.n_heads}")


class SlatePlanner(nn.Module):
    """Coarse-grained planner: [BOS, i_1..i_{M-1}] -> I_hat (M preference embeddings), eq. (7)-(8)."""

    def __init__(self, c: HiGRConfig):
        super().__init__()
        self.bos = nn.Parameter(torch.randn(c.d_model) * 0.02)
        self.blocks = nn.ModuleList(
            TransformerBlock(c.d_model, c.n_heads, c.d_ff, c.dropout, c.ffn, cross=True, cross_first=True,
                             head_dim=c.head_dim)
            for _ in range(c.slate_layers))
        self.norm = make_norm("rms", c.d_model)
        self.stepper = decode_step  # hgrec.decoding.step.compile_decoders swaps in a compiled copy

    def forward(self, items: torch.Tensor, context: torch.Tensor, context_pad: torch.Tensor) -> torch.Tensor:
        """items (B, M-1, d) ground-truth preference embeddings -> I_hat (B, M, d)."""
        h = torch.cat([self.bos.expand(items.shape[0], 1, -1), items], 1)  # eq. (7)
        for block in self.blocks:
            h = block(h, causal=True, context=context, context_padding=context_pad)
        return self.norm(h)

    def new_caches(self, static: tuple[int, int] | None = None) -> tuple[list, list[KVCache]]:
        """(self-attention, cross-attention) caches; `static` = (rows, steps) preallocates the former."""
        own = StaticCaches.for_blocks(self.blocks, *static) if static else [KVCache() for _ in self.blocks]
        return own, [KVCache() for _ in self.blocks]

    def step(self, x: torch.Tensor, context, context_pad, caches, cross_caches) -> torch.Tensor:
        """One planner step with KV caches: x (B, d) (BOS or the last chosen item) -> i_hat (B, d)."""
        prefill_cross(self.blocks, cross_caches, context, context_pad)
        return self.stepper(self.blocks, self.norm, x[:, None], caches, cross_caches, context_pad)


@register("higr", HiGRConfig)
class HiGR(nn.Module):
    task = "slate"

    def __init__(self, config: HiGRConfig, num_items: int, max_len: int, slate_size: int, sid_vocab: list[int],
                 feature_vocab: list[int] | None = None, has_timestamps: bool = True):
        super().__init__()
        c = self.config = config
        self.num_items, self.max_len, self.slate_size = num_items, max_len, slate_size
        self.sid = SIDEmbedding(sid_vocab, num_items, c.d_model, c.pooling)
        self.context = ContextEncoder(c.d_model, c.n_heads, c.d_ff, c.context_layers, c.dropout, max_len,
                                      feature_vocab if c.user_features else None,
                                      c.time_embedding and has_timestamps, c.ffn,
                                      num_items if c.item_ids else None, c.head_dim)
        self.planner = SlatePlanner(c)
        self.generators = nn.ModuleList(
            SIDDecoder(self.sid, c.d_model, c.n_heads, c.d_ff, c.item_layers, c.dropout, c.item_context, c.ffn,
                       c.head_dim)
            for _ in range(1 if c.shared_generator else slate_size))

    # the HierarchicalSlateGenerator capability (hgrec.models.capabilities), decoded by GSBI
    def generator(self, m: int) -> SIDDecoder:
        return self.generators[min(m, len(self.generators) - 1)]

    def plan_start(self, rows: int) -> torch.Tensor:
        return self.planner.bos.expand(rows, -1)

    def plan(self, items: torch.Tensor, context: torch.Tensor, context_pad: torch.Tensor) -> torch.Tensor:
        return self.planner(items, context, context_pad)

    def plan_caches(self, static: tuple[int, int] | None = None) -> tuple[list, list[KVCache]]:
        return self.planner.new_caches(static)

    def plan_step(self, x: torch.Tensor, context, context_pad, caches) -> torch.Tensor:
        return self.planner.step(x, context, context_pad, *caches)

    def encode_context(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        return self.context(self.sid, batch["history"], batch.get("history_ts"), batch.get("user_features"))

    def _teacher_forced(self, target: torch.Tensor, C: torch.Tensor, C_pad: torch.Tensor):
        """Planner over the ground-truth slates, then the generator(s) over every non-padding slot.
        target (R, M) item ids, C (R, S, d) -> yields (b, m, codes (n, D), D logits (n, K_d)) per generator."""
        M = target.shape[1]
        items = self.sid.item(target)  # (R, M, d), i_m = sum_d s_m^d
        I_hat = self.planner(items[:, :-1], C, C_pad)  # (R, M, d)
        codes = self.sid.codes[target]  # (R, M, D)
        for g, gen in enumerate(self.generators):
            # the shared generator takes every slot at once; non-shared ones take theirs (the last: the rest)
            slot = torch.zeros(M, dtype=torch.bool, device=target.device)
            slot[g:] = True
            if len(self.generators) > 1 and g < len(self.generators) - 1:
                slot[g + 1:] = False
            valid = (target > 0) & slot[None]  # (R, M)
            b, m = valid.nonzero(as_tuple=True)
            if len(b) == 0:
                continue
            yield b, m, codes[b, m], gen(self.sid, I_hat[b, m], codes[b, m], C[b], C_pad[b])

    def forward(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Teacher-forced eq. (12): (sum over slates, items and levels of -log P, number of code targets)."""
        target = batch["target"]  # (B, M) item ids, 0-padded on the right
        C, C_pad = self.encode_context(batch)
        loss = C.new_zeros(())
        n = 0
        for b, _, codes, logits in self._teacher_forced(target, C, C_pad):
            loss = loss + sid_loss(logits, codes)
            n += len(b) * self.sid.levels
        return loss, torch.tensor(n, device=target.device)

    def slate_logprobs(self, batch: dict[str, torch.Tensor], slates: torch.Tensor) -> torch.Tensor:
        """Teacher-forced per-step log-probabilities log pi(y_t | x, y_<t) of given slates, the
        t = (m, d) steps of eq. (12)-(13), through the same planner/generator path as `forward`.

        slates (B, M) or (B, S, M) item ids, 0-padded on the right (S slates per context, e.g. y+ and
        y-: the context C is encoded once) -> (B, M, D) or (B, S, M, D) float32, 0 at padding slots."""
        multi = slates.dim() == 3
        s = slates if multi else slates[:, None]
        B, S, M = s.shape
        C, C_pad = self.encode_context(batch)
        if S > 1:
            C, C_pad = C.repeat_interleave(S, 0), C_pad.repeat_interleave(S, 0)  # (B*S, F+L, d)
        flat = s.reshape(B * S, M)
        out = C.new_zeros(B * S, M, self.sid.levels, dtype=torch.float32)
        for b, m, codes, logits in self._teacher_forced(flat, C, C_pad):
            logp = torch.stack([torch.log_softmax(lg.float(), -1).gather(1, codes[:, d:d + 1])[:, 0]
                                for d, lg in enumerate(logits)], -1)  # (n, D)
            out = out.index_put((b, m), logp)
        out = out.view(B, S, M, self.sid.levels)
        return out if multi else out[:, 0]
