"""Item features -> dense vectors: text embeddings (an offline sentence-transformers model) and
collaborative embeddings (session co-occurrence -> PPMI -> truncated SVD)."""

from hgrec.items.collaborative import cooccurrence_embeddings
from hgrec.items.text import DEFAULT_TEXT_MODEL, encode_texts, item_text_embeddings
from hgrec.items.vectors import item_vectors

__all__ = ["DEFAULT_TEXT_MODEL", "cooccurrence_embeddings", "encode_texts", "item_text_embeddings", "item_vectors"]
