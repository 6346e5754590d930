"""`item_vectors`: the vectors a tokenizer quantises — text, collaborative, or both concatenated."""

from __future__ import annotations

import numpy as np

from hgrec.data.dataset import Dataset
from hgrec.items.collaborative import cooccurrence_embeddings
from hgrec.items.text import DEFAULT_TEXT_MODEL, item_text_embeddings


def item_vectors(ds: Dataset, sources: tuple[str, ...] = ("text",), text_model: str = DEFAULT_TEXT_MODEL,
                 collab_dim: int = 64, collab_weight: float = 1.0, cache_dir=None, seed: int = 0) -> np.ndarray:
    """(N+1, d) float32; with several sources each block is L2-normalised, the collaborative one
    scaled by `collab_weight`, then concatenated. Row 0 is padding."""
    blocks = []
    for s in sources:
        if s == "text":
            blocks.append(item_text_embeddings(ds, text_model, cache_dir))
        elif s == "collab":
            blocks.append(collab_weight * cooccurrence_embeddings(ds, collab_dim, seed=seed))
        else:
            raise ValueError(f"unknown item vector source {s!r}: use 'text' and/or 'collab'")
    if not blocks:
        raise ValueError("item_vectors needs at least one source")
    return np.concatenate(blocks, axis=1).astype(np.float32)
