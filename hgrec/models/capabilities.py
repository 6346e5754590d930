"""What a model can do, as `typing.Protocol`s. Decoding, serving, the CLI and the trainer ask a model
for a capability (`isinstance(model, NextItemScorer)`), never for its name: a new model that offers
`score_all` is served and evaluated like SASRec without touching any of them.

- `NextItemScorer`: scores of every catalogue item as the next one (SASRec, HSTU, BERT4Rec);
- `SemanticIDModel`: items as D-level semantic IDs (`sid`, with the codes copied in by the task) and a
  context encoder over the user's history;
- three ways of generating a slate from semantic IDs, each decoded by its own search in
  `hgrec.decoding`: `HierarchicalSlateGenerator` (HiGR: planner steps + a shared item generator, GSBI),
  `ItemCodeGenerator` (TIGER: one item's codes per beam, the top-L beams), `FlatSlateGenerator`
  (OneRec-style: the L*D codes as one sequence);
- `WholeSlateGenerator`: a slate at once from the model's own decoder (ListCVAE);
- `SlateScorer`: teacher-forced log-probabilities of given slates (preference alignment);
- `ClickModel`: click logits of candidates after a history (HPGR, DIN, HSTU-CTR, MTGR).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch

Batch = dict[str, torch.Tensor]


@runtime_checkable
class NextItemScorer(Protocol):
    def score_all(self, items: torch.Tensor, timestamps: torch.Tensor | None = None) -> torch.Tensor:
        """(B, L) left-padded histories -> (B, N + 1) scores of every item (column 0: padding)."""


@runtime_checkable
class SemanticIDModel(Protocol):
    sid: torch.nn.Module  # hgrec.models.generative.SIDEmbedding: codes (N + 1, D) and their embeddings

    def encode_context(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """-> the context C (R, S, d) the decoders cross-attend to, and its padding mask (R, S)."""


@runtime_checkable
class HierarchicalSlateGenerator(SemanticIDModel, Protocol):
    def plan_start(self, rows: int) -> torch.Tensor:
        """(rows, d): the planner's first input (BOS)."""

    def plan(self, items: torch.Tensor, context: torch.Tensor, context_pad: torch.Tensor) -> torch.Tensor:
        """Uncached planner: [BOS, items] (R, m, d) -> the preference embedding of every slot (R, m + 1, d)."""

    def plan_caches(self) -> tuple[list, list]:
        """Fresh KV caches (self-attention, cross-attention) for `plan_step`."""

    def plan_step(self, x: torch.Tensor, context: torch.Tensor, context_pad: torch.Tensor, caches) -> torch.Tensor:
        """One cached planner step: the last input (R, d) -> the next slot's preference embedding (R, d)."""

    def generator(self, m: int) -> torch.nn.Module:
        """The item generator (a `SIDDecoder`) of slot m (one shared by every slot in the paper)."""


@runtime_checkable
class ItemCodeGenerator(SemanticIDModel, Protocol):
    def item_start(self, rows: int) -> torch.Tensor:
        """(rows, d): the decoder's first input (BOS)."""

    def item_decoder(self) -> torch.nn.Module:
        """The `SIDDecoder` that generates one item's D codes."""


@runtime_checkable
class FlatSlateGenerator(SemanticIDModel, Protocol):
    def embed(self, tokens: torch.Tensor, start: int) -> torch.Tensor:
        """Codes of the flat sequence (BOS = 0) from position `start` -> their input embeddings."""

    def decode(self, x, context, context_pad, caches=None, cross_caches=None, group: int = 1) -> torch.Tensor:
        """The decoder over inputs x (with KV caches: the new positions only) -> hidden states."""

    def new_caches(self) -> tuple[list, list]:
        """Fresh KV caches (self-attention, cross-attention) for `decode`."""

    def code_logits(self, h: torch.Tensor, level: int) -> torch.Tensor:
        """Hidden states -> logits over the codebook of `level`."""


@runtime_checkable
class WholeSlateGenerator(Protocol):
    def generate_slates(self, batch: Batch, slate_size: int | None = None,
                        exclude_history: bool = False) -> torch.Tensor:
        """-> (R, slate_size) item ids, without semantic IDs or search."""


@runtime_checkable
class SlateScorer(Protocol):
    def slate_logprobs(self, batch: Batch, slates: torch.Tensor) -> torch.Tensor:
        """Slates (B, M) or (B, S, M) -> per-step log-probabilities (B, [S,] M, D)."""


@runtime_checkable
class ClickModel(Protocol):
    def predict(self, batch: Batch) -> torch.Tensor:
        """CTR samples -> click logits, one per candidate."""


SLATE_GENERATORS = (HierarchicalSlateGenerator, ItemCodeGenerator, FlatSlateGenerator, WholeSlateGenerator,
                    NextItemScorer)  # in the order decoding tries them (a HiGR also scores codes item by item)


def slate_capability(model) -> type | None:
    """The first of SLATE_GENERATORS that `model` offers (None: it makes no slates)."""
    return next((p for p in SLATE_GENERATORS if isinstance(model, p)), None)
