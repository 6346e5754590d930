"""FINN.no slates: each (user, step) with a real item is one request; strict npz checks; fetch from 127.0.0.1."""

import dataclasses
import hashlib
import json

import numpy as np
import polars as pl
import pytest

from hgrec.data import DataError, load_dataset
from hgrec.data.views import slates

from .slate_logs import write_finn


@pytest.fixture
def finn(tmp_path):
    root = tmp_path / "finn"
    return root, write_finn(root)


def test_each_step_is_one_request(finn, tmp_path):
    root, a = finn
    ds = load_dataset("finn-slates", root, cache_dir=tmp_path / "c")
    df = ds.interactions.with_columns(user=pl.Series(ds.user_map.raw[ds.interactions["user_id"].to_numpy()]),
                                      item=pl.Series(ds.item_map.raw[ds.interactions["item_id"].to_numpy() - 1]))
    got = {(u, t): list(zip(items, clicked, pos)) for u, t, items, clicked, pos in df.group_by(
        "user", "ts", maintain_order=True).agg("item", "clicked", "position").iter_rows()}
    want = {}
    for u in range(len(a["userId"])):
        for t in range(a["click"].shape[1]):
            shown = [(int(i), bool(i == a["click"][u, t]), k) for k, i in enumerate(a["slate"][u, t]) if i >= 3]
            if shown:
                want[(int(a["userId"][u]), t)] = shown
    assert got == want  # slot order, per-item clicks, the step as time, no-click/padding never items
    assert ds.interactions["request_id"].n_unique() == len(want)
    assert ds.item_map.raw.min() >= 3 and not ds.info.has_timestamps
    assert ds.info.extra["clicks_outside_slate"] == 1  # user 0, step 2
    assert not df.filter((pl.col("user") == 100) & (pl.col("ts") == 2))["clicked"].any()
    assert ds.interactions["interaction_type"].to_list() == [
        int(a["interaction_type"][ds.user_map.raw[u] - 100, t])
        for u, t in ds.interactions.select("user_id", "ts").iter_rows()]
    # item text = the item's group from itemattr.npz + ind2val.json
    assert ds.items.filter(pl.col("raw_id") == 3)["text"].item() == "BAP, antiques, Trøndelag"
    assert ds.items.filter(pl.col("raw_id") == 4)["text"].item() == "MOTOR, Sogn og Fjordane"
    # leave-last-out on steps: each user's last real step is test, showing exactly that slate
    s = slates(ds, 5)
    test = s.filter(pl.col("split") == "test")
    for u, items in zip(test["user_id"].to_list(), test["impressions"].to_list()):
        raw = int(ds.user_map.raw[u])
        last = max(t for (uu, t) in want if uu == raw)
        assert [int(ds.item_map.raw[i - 1]) for i in items] == list(dict.fromkeys(i for i, _, _ in want[(raw, last)]))
    assert load_dataset("finn", root, cache_dir=tmp_path / "c").cache_hit  # alias, cached


def test_item_files_are_optional(finn):
    root, _ = finn
    (root / "itemattr.npz").unlink()
    (root / "ind2val.json").unlink()
    ds = load_dataset("finn-slates", root, use_cache=False)
    assert ds.items["text"].to_list() == [str(r) for r in ds.items["raw_id"].to_list()]


def _resave(path, **change):
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    arrays.update(change)
    for k in [k for k, v in change.items() if v is None]:
        del arrays[k]
    np.savez_compressed(path, **arrays)


@pytest.mark.parametrize("change,message", [
    ({"slate": None}, r"data\.npz: array 'slate' is missing; the archive has \["),
    ({"slate": np.zeros((8, 20), np.int32)}, r"data\.npz: array 'slate' has shape \(8, 20\), expected 3 dimension"),
    ({"slate": np.zeros((8, 19, 25), np.int32)},
     r"data\.npz: array 'slate' has shape \(8, 19, 25\), expected \(8, 20, 25\)"),
    ({"click": np.zeros((8, 20), np.float32)}, r"data\.npz: array 'click' holds float32, expected integers"),
    ({"interaction_type": np.zeros((7, 20), np.int32)}, r"data\.npz: array 'interaction_type' has shape \(7, 20\)"),
    ({"userId": np.zeros(8, np.int32)}, r"data\.npz: array 'userId' repeats user 0"),
    ({"slate": np.ones((8, 20, 25), np.int32)}, r"data\.npz: array 'slate' shows no real item"),
])
def test_bad_data_npz_names_file_and_key(finn, change, message):
    root, _ = finn
    _resave(root / "data.npz", **change)
    with pytest.raises(DataError, match=message) as e:
        load_dataset("finn-slates", root, use_cache=False)
    assert "\n" not in str(e.value)


def test_bad_side_files(finn):
    root, _ = finn
    (root / "data.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match=r"data\.npz: not a readable \.npz archive"):
        load_dataset("finn-slates", root, use_cache=False)
    write_finn(root)
    np.savez_compressed(root / "itemattr.npz", group=np.zeros(3))
    with pytest.raises(DataError, match=r"itemattr\.npz: array 'category' is missing"):
        load_dataset("finn-slates", root, use_cache=False)
    write_finn(root)
    (root / "ind2val.json").write_text(json.dumps({"category": ["PAD", "noClick"]}))
    with pytest.raises(DataError, match=r"ind2val\.json: key 'category' must map integer indices to names"):
        load_dataset("finn-slates", root, use_cache=False)


def test_fetch_finn_checks_the_published_sha256(server, finn, tmp_path):
    """The registry's URLs (served from 127.0.0.1) with this fixture's SHA-256 in place of the LFS oids."""
    from hgrec.data.fetch import SOURCES, fetch

    www, url = server
    root, _ = finn
    entries = SOURCES["finn-slates"]
    assert [rf.filename for rf in entries] == ["data.npz", "itemattr.npz", "ind2val.json"]
    assert all(len(rf.sha256) == 64 and "/finn-no/recsys_slates_dataset/" in rf.url for rf in entries)
    spec = {"finn-slates": []}
    for rf in entries:
        blob = (root / rf.filename).read_bytes()
        target = www / rf.url.split("://", 1)[1].split("/", 1)[1]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(blob)
        spec["finn-slates"].append(dataclasses.replace(rf, sha256=hashlib.sha256(blob).hexdigest()))
    cache = tmp_path / "cache"
    fetch("finn-slates", cache / "raw", mirror=url, sources=spec, progress=False)
    assert load_dataset("finn", cache_dir=cache).interactions.height > 100
    with pytest.raises(DataError, match="checksum mismatch"):  # the real pins do not match the fixture
        fetch("finn-slates", tmp_path / "raw2", mirror=url, progress=False)
