"""FINN.no slate dataset (Eide, Leslie & Frigessi, arXiv:2104.15046): marketplace slates with clicks.

The release (github.com/finn-no/recsys_slates_dataset, `data/`) is three files; what we read, as
its README and quickstart notebook describe them (and data/transform_data_to_numpy.py, which made
the npz from the original torch file):

- `data.npz`: `userId` (U,), `click` (U, T) the clicked item index at each interaction step,
  `slate` (U, T, S) the items shown (T = 20 steps, S = 25 slots in the release), `click_idx` (U, T)
  the click's slot, `slate_lengths` (U, T), `interaction_type` (U, T): 1 search, 2 recommendation,
  0 undefined. Item indices: **0 = padding** (an empty slot, or in `click` a step that did not
  happen), **1 = "no click"** (a pseudo-item present in every slate: the user may click none),
  **2 = unknown**; real items start at 3 (the repository's torch dataset samples candidates from 3).
- `itemattr.npz`: `category` (N,) the group of each item index (290 groups: category + location).
- `ind2val.json`: `{"category": {index: "BAP,antiques,Trøndelag", ...}, "interaction_type": {...}}`.

Mapping to the canonical schema:
- **Each (user, step) whose slate shows at least one real item (index >= 3) is one request**;
  its rows are those items, position = the slot in `slate` (the no-click item's slot is skipped,
  so positions may start at 1), clicked = effective = the item equals the step's `click`.
  Indices 0/1/2 are never items. A click on an item that is not in its slate (the release has a
  few) has no row to mark: it is counted in info.extra and dropped.
- **No timestamps**: ts = the step index (order only: `has_timestamps` is False, so there are no
  sessions and no global temporal split; leave-last-out works on the steps).
- `interaction_type` is kept per row (int8 code; names in info.extra). Item text = the item's
  group name from itemattr.npz + ind2val.json (FINN publishes no titles: flagged derived, and many
  items share a text); both files are optional (without them text is the index).

The full release is large (2.3 M users x 20 x 25 slots, ~400 M shown items): loading it needs tens
of GB of memory.

Licence: the repository publishes no licence file (its package metadata says "Use with
attribution", licence "tbd"); see the publisher's page. Cite the paper.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import polars as pl

from hgrec.data.adapters.base import Adapter
from hgrec.data.dataset import Dataset, DatasetInfo, build_dataset
from hgrec.data.errors import DataError
from hgrec.data.io import decode_text, read_bytes

FIRST_ITEM = 3  # 0 padding, 1 no click, 2 unknown
DATA_KEYS = {"userId": 1, "click": 2, "slate": 3}  # required arrays and their number of dimensions
OPTIONAL_KEYS = {"click_idx": 2, "slate_lengths": 2, "interaction_type": 2}


def read_npz(path: Path, required: dict[str, int], optional: dict[str, int] | None = None) -> dict[str, np.ndarray]:
    """The integer arrays `required` (+ `optional` where present) of an npz file, each with its
    number of dimensions checked; anything else -> DataError naming the file and the key."""
    if not path.exists():
        raise DataError("file not found", path)
    want = {**required, **(optional or {})}
    try:
        z = np.load(path, allow_pickle=False)
        if not isinstance(z, np.lib.npyio.NpzFile):
            raise DataError("expected an .npz archive, found a single .npy array", path)
        with z:
            missing = [k for k in required if k not in z.files]
            if missing:
                raise DataError(f"array '{missing[0]}' is missing; the archive has {sorted(z.files)}", path)
            arrays = {k: z[k] for k in want if k in z.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise DataError(f"not a readable .npz archive ({str(e).splitlines()[0] if str(e) else type(e).__name__})",
                        path) from e
    for k, a in arrays.items():
        if a.ndim != want[k]:
            raise DataError(f"array '{k}' has shape {a.shape}, expected {want[k]} dimension(s)", path)
        if not (np.issubdtype(a.dtype, np.integer) or (k == "category" and np.issubdtype(a.dtype, np.floating))):
            raise DataError(f"array '{k}' holds {a.dtype}, expected integers", path)
    return arrays


def check_data(path: Path) -> dict[str, np.ndarray]:
    """data.npz's arrays, with their shapes checked against each other."""
    a = read_npz(path, DATA_KEYS, OPTIONAL_KEYS)
    U, T = a["click"].shape
    expect = {"userId": (U,), "slate": (U, T, a["slate"].shape[-1])} | {k: (U, T) for k in OPTIONAL_KEYS}
    for k, arr in a.items():
        if k in expect and arr.shape != expect[k]:
            raise DataError(f"array '{k}' has shape {arr.shape}, expected {expect[k]} (users, steps[, slots]) "
                            f"to match 'click' {a['click'].shape}", path)
    if a["slate"].shape[-1] == 0 or U == 0:
        raise DataError("array 'slate' is empty", path)
    dup = np.unique(a["userId"], return_counts=True)
    if (dup[1] > 1).any():
        raise DataError(f"array 'userId' repeats user {dup[0][dup[1] > 1][0]}", path)
    return a


class FinnSlatesAdapter(Adapter):
    name = "finn-slates"
    version = "1"

    def source_files(self, root: Path) -> list[Path]:
        return (self._find(root, "data.npz") + self._find(root, "itemattr.npz", required=False)
                + self._find(root, "ind2val.json", required=False))

    def read(self, root: Path) -> Dataset:
        data_path = self._find(root, "data.npz")[0]
        attr_path = self._find(root, "itemattr.npz", required=False)
        names_path = self._find(root, "ind2val.json", required=False)
        a = check_data(data_path)
        slate, click = a["slate"], a["click"]
        real = slate >= FIRST_ITEM
        if not real.any():
            raise DataError(f"array 'slate' shows no real item (indices >= {FIRST_ITEM})", data_path)
        uu, tt, kk = np.nonzero(real)  # C order: by user, step, slot
        item = slate[uu, tt, kk].astype(np.int64)
        clicked = item == click[uu, tt]
        hit = np.zeros(click.shape, dtype=bool)
        hit[uu[clicked], tt[clicked]] = True
        outside = int(((click >= FIRST_ITEM) & ~hit).sum())
        cols = {"user": a["userId"][uu].astype(np.int64), "item": item, "ts": tt.astype(np.int64),
                "request_id": tt.astype(np.int64), "position": kk.astype(np.int16), "clicked": clicked,
                "effective": clicked}
        if "interaction_type" in a:
            cols["interaction_type"] = a["interaction_type"][uu, tt].astype(np.int8)
        inter = pl.DataFrame(cols)

        names = self._names(names_path[0]) if names_path else {}
        items = None
        if attr_path:
            category = read_npz(attr_path[0], {"category": 1})["category"]
            idx = np.unique(item)
            idx = idx[idx < len(category)]
            code = category[idx].astype(np.int64)
            group = names.get("category", {})
            items = pl.DataFrame({"raw_id": idx, "category": code}).with_columns(
                text=pl.col("category").cast(pl.String).replace_strict(
                    {str(k): v for k, v in group.items()}, default=None)
                .str.split(",").list.eval(pl.element().str.strip_chars().filter(pl.element().str.strip_chars() != ""))
                .list.join(", ")
                .fill_null(pl.lit("item ") + pl.col("raw_id").cast(pl.String)))
        info = DatasetInfo(
            name=self.name,
            source=str(root),
            has_timestamps=False,
            has_negatives=True,
            effective_definition="clicked (the step's click is this item)",
            text_is_derived=True,
            text_note="FINN.no publishes no titles: text is the item's group (category + location)",
            licence="no licence file published (package metadata: 'Use with attribution', licence 'tbd'); "
                    "see the publisher's page",
            citation="Eide, Leslie & Frigessi, Dynamic Slate Recommendation with Gated Recurrent Units and "
                     "Thompson Sampling, arXiv:2104.15046",
            extra={"clicks_outside_slate": outside, "steps": int(click.shape[1]), "slots": int(slate.shape[2]),
                   "interaction_type_names": {str(k): v for k, v in names.get("interaction_type", {}).items()}},
        )
        return build_dataset(inter, info, items=items, item_col="item", user_col="user")

    @staticmethod
    def _names(path: Path) -> dict:
        """ind2val.json -> {"category": {int: str}, "interaction_type": {int: str}} (what is present)."""
        try:
            raw = json.loads(decode_text(read_bytes(path), path))
        except json.JSONDecodeError as e:
            raise DataError(f"invalid JSON: {e.msg} (column {e.colno})", path, e.lineno) from e
        if not isinstance(raw, dict):
            raise DataError("expected an object {\"category\": {index: name}, ...}", path)
        out = {}
        for key in ("category", "interaction_type"):
            if key in raw:
                m = raw[key]
                if not isinstance(m, dict) or not all(str(k).lstrip("-").isdigit() for k in m):
                    raise DataError(f"key '{key}' must map integer indices to names", path)
                out[key] = {int(k): str(v) for k, v in m.items()}
        return out
