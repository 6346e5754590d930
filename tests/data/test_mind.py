"""MIND: each impression is one request; history is one earlier request; strict parsing; fetch from 127.0.0.1."""

import datetime as dt
import io
import zipfile

import polars as pl
import pytest

from hgrec.data import DataError, load_dataset
from hgrec.data.views import slates

from .slate_logs import write_mind


def _ms(t: dt.datetime) -> int:
    return int(t.replace(tzinfo=dt.timezone.utc).timestamp() * 1000)


@pytest.fixture
def mind(tmp_path):
    root = tmp_path / "mind"
    return root, write_mind(root)


def _requests(ds):
    """(raw user, ts) -> [(raw news, clicked)] in position order, per logged request."""
    df = ds.interactions.with_columns(user=pl.Series(ds.user_map.raw[ds.interactions["user_id"].to_numpy()]),
                                      news=pl.Series(ds.item_map.raw[ds.interactions["item_id"].to_numpy() - 1]))
    out = {}
    for user, ts, news, clicked in df.select("user", "ts", "news", "clicked").iter_rows():
        out.setdefault((user, ts), []).append((news, clicked))
    return out


def test_each_impression_is_one_request(mind, tmp_path):
    root, imps = mind
    ds = load_dataset("mind", root, cache_dir=tmp_path / "c")
    got = _requests(ds)
    for imp in imps:
        assert got[(imp["user"], _ms(imp["time"]))] == imp["shown"]
    n_hist = sum(1 for u in {i["user"] for i in imps} if next(i for i in imps if i["user"] == u)["history"])
    assert ds.interactions["request_id"].n_unique() == len(imps) + n_hist
    assert (ds.interactions["effective"] == ds.interactions["clicked"]).all()
    assert ds.info.extra["parts"] == ["MINDsmall_train", "MINDsmall_dev"]
    # the slates are the impressions, in display order; dev (a later day) is every user's test request
    s = slates(ds, 5)
    test = s.filter(pl.col("split") == "test")
    dev = {i["user"]: [n for n, _ in i["shown"]] for i in imps if i["part"] == 1}
    assert test.height == len(dev)
    for u, items in zip(test["user_id"].to_list(), test["impressions"].to_list()):
        assert [ds.item_map.raw[i - 1] for i in items] == dev[ds.user_map.raw[u]]
    # reloading is a cache hit with the same tables
    again = load_dataset("mind", root, cache_dir=tmp_path / "c")
    assert again.cache_hit and again.interactions.equals(ds.interactions)


def test_history_is_one_request_before_the_first_impression(mind):
    root, imps = mind
    ds = load_dataset("mind", root, use_cache=False)
    first = min(i["time"] for i in imps if i["user"] == "U0")
    got = _requests(ds)
    assert got[("U0", _ms(first) - 1)] == [("N1003", True), ("N1007", True)]  # listed order, clicked
    assert not any(u == "U1" and ts < _ms(min(i["time"] for i in imps if i["user"] == "U1")) for u, ts in got)
    s = slates(ds, 5, min_history=0)
    u0 = ds.user_map.to_dense(["U0"])[0]
    mine = s.filter(pl.col("user_id") == u0)
    assert mine["hist_len"].to_list()[:2] == [0, 2]  # the history request, then the first impression
    assert slates(ds, 5).filter(pl.col("user_id") == u0)["hist_len"].min() == 2  # never a sample itself
    assert ds.info.extra["history_rows"] == sum(len(next(i for i in imps if i["user"] == u)["history"])
                                                for u in {i["user"] for i in imps})
    from hgrec.data.adapters import MINDAdapter

    bare = MINDAdapter(history=False).read(root)
    assert bare.interactions.height == sum(len(i["shown"]) for i in imps)


def test_item_text_and_layouts(mind, tmp_path):
    root, imps = mind
    ds = load_dataset("mind", root, use_cache=False)
    items = ds.items.filter(pl.col("raw_id").is_in(["N1000", "N1001"])).sort("raw_id")
    assert items["text"].to_list() == ["Title 0 about sports", "Title 1 about news. What happened in story 1."]
    assert items["category"].to_list() == ["sports", "news"]
    # one behaviors.tsv + news.tsv in the root: just that log
    flat = tmp_path / "flat"
    flat.mkdir()
    for f in ("behaviors.tsv", "news.tsv"):
        (flat / f).write_bytes((root / "MINDsmall_dev" / f).read_bytes())
    assert load_dataset("mind", flat, use_cache=False).interactions["request_id"].n_unique() >= 10
    (root / "MINDlarge_train").mkdir()
    with pytest.raises(DataError, match="several MIND releases"):
        load_dataset("mind", root, use_cache=False)
    with pytest.raises(DataError, match="no MIND files"):
        load_dataset("mind", tmp_path / "flat" / "..", use_cache=False)


@pytest.mark.parametrize("edit,message", [
    (lambda f: f[:4] + [f[4].replace("-1", "-x", 1).replace("-0", "-x", 1)],
     r"impression 'N\d+-x' is not NEWSID-1 or NEWSID-0"),
    (lambda f: f[:4] + ["N1001 " + f[4]], r"impression 'N1001' is not NEWSID-1 or NEWSID-0"),
    (lambda f: f[:4] + [""], "empty impression"),
    (lambda f: f[:4], r"expected 5 tab-separated fields .*got 4"),
    (lambda f: f[:2] + ["2019-11-15 08:55:22"] + f[3:], r"time '2019-11-15 08:55:22' is not M/D/YYYY"),
    (lambda f: ["abc"] + f[1:], "impression id is not an integer"),
])
def test_bad_behaviors_line_is_named(mind, edit, message):
    root, _ = mind
    path = root / "MINDsmall_train" / "behaviors.tsv"
    lines = path.read_text().split("\n")
    lines[2] = "\t".join(edit(lines[2].split("\t")))
    path.write_text("\n".join(lines))
    with pytest.raises(DataError, match=r"MINDsmall_train/behaviors\.tsv:3: " + message) as e:
        load_dataset("mind", root, use_cache=False)
    assert "\n" not in str(e.value)


def test_bad_news_file_is_named(mind):
    root, _ = mind
    path = root / "MINDsmall_dev" / "news.tsv"
    lines = path.read_text().split("\n")
    lines[4] = "\t".join(lines[4].split("\t")[:5])
    path.write_text("\n".join(lines))
    with pytest.raises(DataError, match=r"MINDsmall_dev/news\.tsv:5: expected 8 tab-separated fields, got 5"):
        load_dataset("mind", root, use_cache=False)


def _zip(folder) -> bytes:
    """Like Microsoft's zips: behaviors.tsv and news.tsv at the top level."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for f in ("behaviors.tsv", "news.tsv"):
            z.writestr(f, (folder / f).read_bytes())
    return buf.getvalue()


def test_fetch_mind_parses_what_it_downloads(server, mind, tmp_path):
    """The real registry entry, served from 127.0.0.1: no checksum is published, so every line is parsed."""
    from hgrec.data.fetch import SOURCES, fetch

    www, url = server
    root, imps = mind
    (www / "release").mkdir()
    for part in ("MINDsmall_train", "MINDsmall_dev"):
        (www / "release" / f"{part}.zip").write_bytes(_zip(root / part))
    assert all(rf.no_checksum and rf.verify and not (rf.sha256 or rf.md5) for rf in SOURCES["mind"])
    cache = tmp_path / "cache"
    path = fetch("mind", cache / "raw", mirror=url, progress=False)
    assert sorted(p.name for p in path.iterdir()) == ["MINDsmall_dev", "MINDsmall_train"]
    ds = load_dataset("mind", cache_dir=cache)  # found without --root
    assert ds.interactions["request_id"].n_unique() >= len(imps)
    # a damaged download is refused and leaves the earlier copy intact
    bad = root / "MINDsmall_dev" / "behaviors.tsv"
    bad.write_text(bad.read_text().replace("-1", "-?", 1))
    (www / "release" / "MINDsmall_dev.zip").write_bytes(_zip(root / "MINDsmall_dev"))
    with pytest.raises(DataError, match=r"behaviors\.tsv:1: impression 'N\d+-\?'"):
        fetch("mind", cache / "raw", mirror=url, progress=False)
    assert (path / "MINDsmall_dev" / "behaviors.tsv").read_text() != bad.read_text()
