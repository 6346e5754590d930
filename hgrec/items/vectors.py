"""`item_vectors`: the vectors a tokenizer quantises — text, collaborative, a trained model's item
table, or several of them concatenated.

Sources:
- `text`: sentence embeddings of the item text (hgrec.items.text);
- `collab`: co-occurrence -> PPMI -> SVD vectors of the training part (hgrec.items.collaborative);
- `model`: the item-ID embedding table of a trained model checkpoint (e.g. a SASRec trained on the
  same split: its table is learned from training interactions only; validation chose the epoch).
  Read straight from `<checkpoint>/model.safetensors` (tensor `item_emb.weight`, one row per dense
  item id of the same dataset), so this layer needs no model code.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from hgrec.data.dataset import Dataset
from hgrec.data.errors import DataError
from hgrec.items.collaborative import cooccurrence_embeddings
from hgrec.items.text import DEFAULT_TEXT_MODEL, item_text_embeddings

SOURCES = ("text", "collab", "model")
ITEM_TABLE = "item_emb.weight"


def model_item_table(ds: Dataset, checkpoint: str | Path) -> np.ndarray:
    """(N+1, d) float32 item table of a checkpoint folder (best/ of a run), rows L2-normalised, row 0 zero."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    path = Path(checkpoint) / "model.safetensors"
    if not path.exists():
        raise DataError("checkpoint weights not found (items.model_checkpoint: a run's best/ folder)", path)
    cfg = Path(checkpoint) / "config.json"
    if cfg.exists():
        try:
            trained_on = json.loads(cfg.read_text()).get("data", {}).get("dataset")
        except (ValueError, UnicodeDecodeError) as e:
            raise DataError(f"not readable JSON ({e})", cfg) from e
        if trained_on and trained_on != ds.name:
            raise DataError(f"checkpoint was trained on {trained_on!r}, the items are {ds.name!r}", cfg)
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise DataError(f"not a readable safetensors file ({e})", path) from e
    if ITEM_TABLE not in tensors:
        raise DataError(f"no tensor {ITEM_TABLE!r} (a model with an item-ID table, e.g. sasrec / hstu); "
                        f"has {sorted(tensors)[:8]}", path)
    w = tensors[ITEM_TABLE].astype(np.float32)
    if w.ndim != 2 or w.shape[0] != ds.num_items + 1:
        raise DataError(f"{ITEM_TABLE} has shape {w.shape}, expected ({ds.num_items + 1}, d) for {ds.name}", path)
    w = w / np.maximum(np.linalg.norm(w, axis=1, keepdims=True), 1e-12)
    w[0] = 0.0
    return w


def item_vectors(ds: Dataset, sources: tuple[str, ...] = ("text",), text_model: str = DEFAULT_TEXT_MODEL,
                 collab_dim: int = 64, collab_weight: float = 1.0, cache_dir=None, seed: int = 0,
                 train: np.ndarray | None = None, model_checkpoint: str | Path | None = None,
                 text_words: int = 0) -> np.ndarray:
    """(N+1, d) float32; with several sources each block is L2-normalised, the collaborative ones
    (`collab`, `model`) scaled by `collab_weight`, then concatenated. Row 0 is padding. `train`: the
    interactions `collab` may count (hgrec.items.collaborative.training_mask; default next-item). `text_words` > 0:
    only the first that many words of each item's text are embedded."""
    blocks = []
    for s in sources:
        if s == "text":
            blocks.append(item_text_embeddings(ds, text_model, cache_dir, words=text_words))
        elif s == "collab":
            blocks.append(collab_weight * cooccurrence_embeddings(ds, collab_dim, seed=seed, train=train))
        elif s == "model":
            if model_checkpoint is None:
                raise ValueError("item vector source 'model' needs items.model_checkpoint (a run's best/ folder)")
            blocks.append(collab_weight * model_item_table(ds, model_checkpoint))
        else:
            raise ValueError(f"unknown item vector source {s!r}: use any of {SOURCES}")
    if not blocks:
        raise ValueError("item_vectors needs at least one source")
    return np.concatenate(blocks, axis=1).astype(np.float32)
