"""`load_dataset`: find the raw files, read them once, and serve later loads from a parquet cache.

The cache is content-keyed: the key hashes the adapter's name, version and options, the canonical
schema version, and the bytes of every source file. Change a file or bump an adapter and the next
load rebuilds; otherwise it is a cache hit (`Dataset.cache_hit`). Caches are written atomically
(a directory built under a temporary name, then renamed), so a crash never leaves a half cache.

Cache root: `cache_dir` argument, else `$HGREC_CACHE`, else `~/.cache/hgrec`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from importlib import resources
from pathlib import Path

from hgrec.data.adapters import ALIASES, Adapter, get_adapter
from hgrec.data.adapters.kuairand import KuaiRandAdapter
from hgrec.data.dataset import SCHEMA_VERSION, Dataset
from hgrec.data.errors import DataError
from hgrec.data.io import sha256_file
from hgrec.utils.atomic import recover_dir

SAMPLE_NAME = "sample"


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    return Path(os.environ.get("HGREC_CACHE", "~/.cache/hgrec")).expanduser()


def sample_root() -> Path:
    """The KuaiRand-Pure slice that ships inside the package (see hgrec/data/sample/NOTICE.md)."""
    return Path(str(resources.files("hgrec.data") / "sample" / "kuairand-pure"))


class SampleAdapter(KuaiRandAdapter):
    name = SAMPLE_NAME


def resolve(name_or_adapter: str | Adapter, root: str | os.PathLike | None, cache_dir=None) -> tuple[Adapter, Path]:
    """Which adapter, and which folder its raw files are in."""
    if isinstance(name_or_adapter, Adapter):
        return name_or_adapter, Path(root) if root else Path(".")
    if name_or_adapter == SAMPLE_NAME:
        return SampleAdapter(), Path(root) if root else sample_root()
    adapter = get_adapter(name_or_adapter)
    if root is not None:
        return adapter, Path(root).expanduser()
    fetched = cache_root(cache_dir) / "raw" / adapter.name
    if fetched.is_dir():
        return adapter, fetched
    raise DataError(
        f"no data folder for {adapter.name}: pass --root PATH (the folder with its raw files) "
        f"or run `hgrec data fetch {adapter.name}`"
    )


def cache_key(adapter: Adapter, root: Path) -> str:
    h = hashlib.sha256()
    h.update(json.dumps([adapter.name, adapter.version, SCHEMA_VERSION, adapter.options], sort_keys=True,
                        default=str).encode())
    for path in adapter.source_files(root):
        h.update(path.name.encode())
        h.update(sha256_file(path).encode())
    return h.hexdigest()[:20]


def load_dataset(
    name: str | Adapter,
    root: str | os.PathLike | None = None,
    *,
    cache_dir: str | os.PathLike | None = None,
    use_cache: bool = True,
    refresh: bool = False,
) -> Dataset:
    """Load a dataset by registry name (`kuairand-pure`, `ml-100k`, `amazon-beauty`, ..., `sample`)
    or from an Adapter instance, reading from `root` (or the fetched copy) through the cache."""
    adapter, root = resolve(name, root, cache_dir)
    if not use_cache:
        return adapter.read(root)
    key = cache_key(adapter, root)
    base = cache_root(cache_dir) / "datasets" / adapter.name
    path = base / key
    recover_dir(path)  # finish a swap an earlier process died in
    if path.is_dir() and not refresh:
        try:
            return Dataset.load(path)
        except (DataError, OSError, ValueError):
            pass  # unreadable cache: rebuild it below
    ds = adapter.read(root)
    ds.save(path)
    for stale in base.iterdir():  # caches of older versions of the same source
        if stale.name != key and not stale.name.startswith("."):
            shutil.rmtree(stale, ignore_errors=True)
    return ds


def dataset_names() -> list[str]:
    from hgrec.data.adapters import ADAPTERS

    return sorted(ADAPTERS) + [SAMPLE_NAME]


__all__ = ["ALIASES", "cache_key", "cache_root", "dataset_names", "load_dataset", "resolve", "sample_root"]
