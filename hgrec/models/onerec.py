"""OneRec-style flat slate decoding (Deng et al., "OneRec", arXiv 2502.18965; HiGR's strongest baseline).

The same context encoder as HiGR; one decoder generates the whole slate as a flat sequence of
M*D semantic-ID tokens
    [BOS, s_1^1 .. s_1^D, s_2^1 .. s_M^{D-1}]  ->  s_1^1 .. s_M^D
with causal self-attention, cross-attention to C and one output head per code level. A slate
of M items therefore costs M*D decoder steps (HiGR: M planner steps + M*D steps of a much
shallower generator) — the efficiency gap HiGR's Figure/Table reports. Inference: beam search
over the flat sequence (each hypothesis keeps its own items; the trie constrains every item,
no item twice) or greedy (beam 1), with or without the KV cache (`hgrec.decoding.flat`).

Our choices: OneRec's encoder also reads user features and history; its MoE decoder and its
reward-model alignment are not part of this baseline (HiGR compares against the decoding
scheme); token position = learned slot embedding + level embedding, `max_slate` slots.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import nn

from hgrec.models.generative import ContextEncoder, SIDEmbedding
from hgrec.models.registry import register
from hgrec.nn import KVCache, StaticCaches, TransformerBlock
from hgrec.nn.blocks import decode_step, make_norm, prefill_cross


@dataclasses.dataclass
class OneRecConfig:
    d_model: int = 64
    n_heads: int = 4
    d_ff: int = 256
    context_layers: int = 2
    decoder_layers: int = 6  # = HiGR's l_slate + l_item for an equal-size comparison
    dropout: float = 0.1
    ffn: str = "swiglu"
    max_slate: int = 16  # longest slate the slot embeddings cover (the slate-length sweep goes to 10)
    user_features: bool = True
    time_embedding: bool = True
    item_ids: bool = False  # hybrid context: + item-ID embedding of history items (our addition)
    head_dim: int | None = None  # None: d_model / n_heads (set it to size the heads like TIGER's 6 x 64)


@register("onerec", OneRecConfig)
class OneRec(nn.Module):
    task = "slate"

    def __init__(self, config: OneRecConfig, num_items: int, max_len: int, slate_size: int, sid_vocab: list[int],
                 feature_vocab: list[int] | None = None, has_timestamps: bool = True):
        super().__init__()
        c = self.config = config
        if slate_size > c.max_slate:
            raise ValueError(f"slate_size {slate_size} exceeds model.max_slate {c.max_slate}")
        self.num_items, self.max_len, self.slate_size = num_items, max_len, slate_size
        self.sid = SIDEmbedding(sid_vocab, num_items, c.d_model)
        self.D = self.sid.levels
        self.context = ContextEncoder(c.d_model, c.n_heads, c.d_ff, c.context_layers, c.dropout, max_len,
                                      feature_vocab if c.user_features else None,
                                      c.time_embedding and has_timestamps, c.ffn,
                                      num_items if c.item_ids else None, c.head_dim)
        self.bos = nn.Parameter(torch.randn(c.d_model) * 0.02)
        self.slot_emb = nn.Embedding(c.max_slate, c.d_model)
        self.level_emb = nn.Embedding(self.D, c.d_model)
        nn.init.normal_(self.slot_emb.weight, std=0.02)
        nn.init.normal_(self.level_emb.weight, std=0.02)
        self.blocks = nn.ModuleList(TransformerBlock(c.d_model, c.n_heads, c.d_ff, c.dropout, c.ffn, cross=True,
                                                     head_dim=c.head_dim)
                                    for _ in range(c.decoder_layers))
        self.norm = make_norm("rms", c.d_model)
        self.heads = nn.ModuleList(nn.Linear(c.d_model, k, bias=False) for k in sid_vocab)
        self.stepper = decode_step  # hgrec.decoding.step.compile_decoders swaps in a compiled copy

    def encode_context(self, batch):
        return self.context(self.sid, batch["history"], batch.get("history_ts"), batch.get("user_features"))

    def embed(self, tokens: torch.Tensor, start: int) -> torch.Tensor:
        """(R, T) codes at flat positions start..start+T-1 (position p >= 1 holds slot (p-1)//D, level
        (p-1)%D; position 0 is BOS and needs no code) -> (R, T, d)."""
        R, T = tokens.shape
        pos = torch.arange(start, start + T, device=tokens.device)
        out = []
        if start == 0:
            out.append(self.bos.expand(R, 1, -1))
            tokens, pos = tokens[:, 1:], pos[1:]
        if len(pos):
            if int(pos[-1] - 1) // self.D >= self.config.max_slate:
                raise ValueError(f"slate longer than model.max_slate {self.config.max_slate}")
            level, slot = (pos - 1) % self.D, (pos - 1) // self.D
            e = self.sid.emb(tokens + self.sid.offsets[level]) + self.slot_emb(slot) + self.level_emb(level)
            out.append(e)
        return torch.cat(out, 1)

    def decode(self, x, context, context_pad, caches=None, cross_caches=None, group: int = 1) -> torch.Tensor:
        """`group` consecutive rows of x share one row of the context (beam search). With caches and one new
        position, the shared decoding step (`decode_step`: compiled by `compile_decoders`)."""
        if caches is not None and x.shape[1] == 1:
            prefill_cross(self.blocks, cross_caches, context, context_pad)
            return self.stepper(self.blocks, self.norm, x, caches, cross_caches, context_pad, group)[:, None]
        for i, block in enumerate(self.blocks):
            x = block(x, causal=True, context=context, context_padding=context_pad,
                      cache=None if caches is None else caches[i],
                      cross_cache=None if cross_caches is None else cross_caches[i], cross_group=group)
        return self.norm(x)

    def new_caches(self, static: tuple[int, int] | None = None):
        """(self-attention, cross-attention) caches; `static` = (rows, steps) preallocates the former."""
        own = StaticCaches.for_blocks(self.blocks, *static) if static else [KVCache() for _ in self.blocks]
        return own, [KVCache() for _ in self.blocks]

    def code_logits(self, h: torch.Tensor, level: int) -> torch.Tensor:
        """The FlatSlateGenerator capability (hgrec.models.capabilities): hidden states -> level's logits."""
        return self.heads[level](h)

    def forward(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        target = batch["target"]  # (B, M)
        B, M = target.shape
        C, C_pad = self.encode_context(batch)
        codes = self.sid.codes[target]  # (B, M, D)
        flat = codes.reshape(B, M * self.D)
        inp = torch.cat([flat.new_zeros(B, 1), flat[:, :-1]], 1)  # position 0 = BOS
        h = self.decode(self.embed(inp, 0), C, C_pad)  # (B, M*D, d)
        valid = target > 0  # padded slots sit at the end: valid targets never see them
        loss = h.new_zeros(())
        for d, head in enumerate(self.heads):
            logits = head(h[:, d::self.D][valid])  # outputs at positions m*D + d predict s_m^d
            loss = loss + F.cross_entropy(logits.float(), codes[..., d][valid], reduction="sum")
        return loss, valid.sum() * self.D
