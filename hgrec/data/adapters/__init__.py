"""Dataset adapters: one module per source format, each turning raw files under a `root` into a Dataset.

An adapter is a small object with a `name`, a `version` (bump it when its output changes: it is part
of the cache key), `source_files(root)` (what the cache key hashes) and `read(root) -> Dataset`.
Nothing here knows where the files live: callers pass `root`.
"""

from __future__ import annotations

from hgrec.data.adapters.amazon import AmazonAdapter, ScientificAdapter
from hgrec.data.adapters.base import Adapter
from hgrec.data.adapters.custom import LogFolderAdapter, TableAdapter
from hgrec.data.adapters.finn import FinnSlatesAdapter
from hgrec.data.adapters.kuairand import KuaiRandAdapter
from hgrec.data.adapters.mind import MINDAdapter
from hgrec.data.adapters.movielens import MovieLens100KAdapter

ADAPTERS: dict[str, Adapter] = {
    "kuairand-pure": KuaiRandAdapter(),
    "ml-100k": MovieLens100KAdapter(),
    "amazon-beauty": AmazonAdapter("amazon-beauty", "Beauty"),
    "amazon-toys": AmazonAdapter("amazon-toys", "Toys_and_Games"),
    "amazon-sports": AmazonAdapter("amazon-sports", "Sports_and_Outdoors"),
    "amazon-scientific": ScientificAdapter(),
    "mind": MINDAdapter(),  # slate logs: one request per impression / per step
    "finn-slates": FinnSlatesAdapter(),
    "table": LogFolderAdapter(),  # your own feed log in canonical columns (configs: data.root = its folder)
}
# Short names users type.
ALIASES = {"kuairand": "kuairand-pure", "ml100k": "ml-100k", "movielens": "ml-100k", "beauty": "amazon-beauty",
           "toys": "amazon-toys", "sports": "amazon-sports", "scientific": "amazon-scientific",
           "mind-small": "mind", "finn": "finn-slates"}

__all__ = ["ADAPTERS", "ALIASES", "Adapter", "FinnSlatesAdapter", "LogFolderAdapter", "MINDAdapter", "TableAdapter",
           "get_adapter"]


def get_adapter(name: str) -> Adapter:
    key = ALIASES.get(name, name)
    if key not in ADAPTERS:
        known = ", ".join(sorted(ADAPTERS) + ["sample"])
        raise KeyError(f"unknown dataset {name!r}; known: {known} (or load your own file with TableAdapter)")
    return ADAPTERS[key]
