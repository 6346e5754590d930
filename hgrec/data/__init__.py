"""Data layer: canonical tables, adapters for real datasets, derived views and splits.

    from hgrec.data import load_dataset
    ds = load_dataset("ml-100k", root="path/to/ml-100k")   # or "sample" (ships with hgrec)
    ds.interactions, ds.items, ds.users                    # polars DataFrames, dense ids
"""

from hgrec.data.adapters import ADAPTERS, TableAdapter
from hgrec.data.dataset import Dataset, DatasetInfo, build_dataset
from hgrec.data.errors import DataError
from hgrec.data.idmap import IdMap
from hgrec.data.loader import cache_root, dataset_names, load_dataset, sample_root

__all__ = [
    "ADAPTERS", "DataError", "Dataset", "DatasetInfo", "IdMap", "TableAdapter", "build_dataset", "cache_root",
    "dataset_names", "load_dataset", "sample_root",
]  # fmt: skip
