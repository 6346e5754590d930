"""Bad input: one clear DataError naming the file (and line); a failed cache write loses nothing."""

import gzip
import shutil

import numpy as np
import pytest

from hgrec.data import DataError, IdMap, load_dataset
from hgrec.data.dataset import Dataset


def _copy(src, dst, names):
    dst.mkdir(parents=True, exist_ok=True)
    for n in names:
        shutil.copy(src / n, dst / n)
    return dst


@pytest.fixture
def ml(tmp_path, data_root):
    return _copy(data_root / "ml-100k", tmp_path / "ml", ["u.data", "u.item", "u.user"])


@pytest.fixture
def kuai(tmp_path):
    from hgrec.data.loader import sample_root

    src = sample_root()
    return _copy(src, tmp_path / "kr", [p.name for p in src.iterdir()])


def _lines(path):
    return path.read_text(encoding="latin-1").split("\n")


def test_too_few_fields_names_file_and_line(ml):
    lines = _lines(ml / "u.data")
    lines[16] = "196\t242\t3"
    (ml / "u.data").write_text("\n".join(lines))
    with pytest.raises(DataError, match=r"u\.data:17: expected 4 tab-separated fields, got 3") as e:
        load_dataset("ml-100k", ml, use_cache=False)
    assert e.value.line == 17 and e.value.path.endswith("u.data")


def test_non_numeric_id(ml):
    lines = _lines(ml / "u.data")
    lines[41] = "abc\t242\t3\t881250949"
    (ml / "u.data").write_text("\n".join(lines))
    with pytest.raises(DataError, match=r"u\.data:42: column 'user': 'abc' is not a valid int64"):
        load_dataset("ml-100k", ml, use_cache=False)


def test_rating_out_of_range(ml):
    lines = _lines(ml / "u.data")
    lines[0] = "196\t242\t9\t881250949"
    (ml / "u.data").write_text("\n".join(lines))
    with pytest.raises(DataError, match=r"u\.data: rating 9 outside 1\.\.5"):
        load_dataset("ml-100k", ml, use_cache=False)


def test_empty_file(ml):
    (ml / "u.user").write_text("")
    with pytest.raises(DataError, match=r"u\.user: file is empty"):
        load_dataset("ml-100k", ml, use_cache=False)


def test_missing_file(ml):
    (ml / "u.item").unlink()
    with pytest.raises(DataError, match=r"no file matching u\.item"):
        load_dataset("ml-100k", ml, use_cache=False)


def test_truncated_gzip(kuai):
    log = next(kuai.glob("log_*.csv.gz"))
    data = log.read_bytes()
    log.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=r"log_standard_4_25_to_5_08_pure\.csv\.gz: truncated or corrupt \.gz"):
        load_dataset("sample", kuai, use_cache=False)


def test_missing_columns(kuai):
    log = next(kuai.glob("log_*.csv.gz"))
    text = gzip.decompress(log.read_bytes()).decode()
    header, rest = text.split("\n", 1)
    log.write_bytes(gzip.compress((header.replace("is_click,", "") + "\n" + rest).encode()))
    with pytest.raises(DataError, match=r"\.csv\.gz:1: missing column\(s\) \['is_click'\]"):
        load_dataset("sample", kuai, use_cache=False)


def test_bad_value_in_kuairand_log(kuai):
    log = next(kuai.glob("log_*.csv.gz"))
    lines = gzip.decompress(log.read_bytes()).decode().split("\n")
    fields = lines[5].split(",")
    fields[4] = "yesterday"
    lines[5] = ",".join(fields)
    log.write_bytes(gzip.compress("\n".join(lines).encode()))
    with pytest.raises(DataError, match=r"\.csv\.gz:6: column 'time_ms': 'yesterday' is not a valid int64"):
        load_dataset("sample", kuai, use_cache=False)


def test_amazon_bad_lines(tmp_path):
    root = tmp_path / "amz"
    root.mkdir()
    (root / "user_sequence.txt").write_text("U1 A B C\nU2\nU3 A\n")
    with pytest.raises(DataError, match=r"user_sequence\.txt:2: expected a key and at least 1 token"):
        load_dataset("amazon-beauty", root, use_cache=False)
    (root / "user_sequence.txt").write_text("U1 A B C\nU3 A\nU1 B\n")
    with pytest.raises(DataError, match=r"user_sequence\.txt:3: user 'U1' appears on more than one line"):
        load_dataset("amazon-beauty", root, use_cache=False)


def test_scientific_bad_json(tmp_path):
    root = tmp_path / "sci"
    root.mkdir()
    (root / "Scientific.inter.json").write_text('{"0": [1, 2],\n "1": [3, }')
    (root / "Scientific.item.json").write_text("{}")
    with pytest.raises(DataError, match=r"Scientific\.inter\.json:2: invalid JSON"):
        load_dataset("amazon-scientific", root, use_cache=False)


def test_unknown_ids_are_named():
    m = IdMap.build(np.array([10, 20, 30]), offset=1, kind="item")
    assert list(m.to_dense([30, 10])) == [3, 1]
    with pytest.raises(DataError, match=r"unknown item id\(s\) \[99, 7\]"):
        m.to_dense([10, 99, 7, 99])
    s = IdMap.build(np.array(["b", "a"]), offset=0, kind="user")
    assert list(s.to_dense(["a", "b"])) == [0, 1] and list(s.to_raw([1])) == ["b"]
    with pytest.raises(DataError, match=r"unknown user id\(s\) \['zz'\]"):
        s.to_dense(["zz"])
    # ids outside int64 (e.g. from a JSON request) are unknown ids, not an OverflowError
    with pytest.raises(DataError, match="64-bit integers"):
        m.to_dense([-(2**63) - 1])


def test_unknown_dataset_name():
    with pytest.raises(KeyError, match="unknown dataset 'nope'; known:"):
        load_dataset("nope", ".")


def test_second_load_is_a_cache_hit(tmp_path, data_root):
    cache = tmp_path / "c"
    a = load_dataset("ml-100k", data_root / "ml-100k", cache_dir=cache)
    b = load_dataset("ml-100k", data_root / "ml-100k", cache_dir=cache)
    assert not a.cache_hit and b.cache_hit
    assert a.interactions.equals(b.interactions) and a.items.equals(b.items) and a.users.equals(b.users)
    assert a.item_map == b.item_map and a.user_map == b.user_map and a.info == b.info


def test_changed_source_invalidates_cache(tmp_path, ml):
    cache = tmp_path / "c"
    load_dataset("ml-100k", ml, cache_dir=cache)
    lines = _lines(ml / "u.data")
    (ml / "u.data").write_text("\n".join(lines[:-2] + [""]))
    ds = load_dataset("ml-100k", ml, cache_dir=cache)
    assert not ds.cache_hit and ds.interactions.height == 99_999
    assert len(list((cache / "datasets" / "ml-100k").iterdir())) == 1  # the stale cache was removed


def test_failed_cache_write_keeps_previous_cache(tmp_path, ml, monkeypatch):
    cache = tmp_path / "c"
    first = load_dataset("ml-100k", ml, cache_dir=cache)
    key_dir = next((cache / "datasets" / "ml-100k").iterdir())
    before = {p.name: p.read_bytes() for p in key_dir.iterdir()}

    real = Dataset.save

    def dying_save(self, path):
        import polars as pl

        orig = pl.DataFrame.write_parquet
        calls = {"n": 0}

        def write(df, *a, **k):
            calls["n"] += 1
            if calls["n"] == 2:
                raise OSError("disk full (simulated)")
            return orig(df, *a, **k)

        monkeypatch.setattr(pl.DataFrame, "write_parquet", write)
        try:
            return real(self, path)
        finally:
            monkeypatch.setattr(pl.DataFrame, "write_parquet", orig)

    monkeypatch.setattr(Dataset, "save", dying_save)
    with pytest.raises(OSError, match="disk full"):
        load_dataset("ml-100k", ml, cache_dir=cache, refresh=True)
    after = {p.name: p.read_bytes() for p in key_dir.iterdir()}
    assert after == before  # untouched, byte for byte
    assert not [p for p in key_dir.parent.iterdir() if p.name.startswith(".")]  # no temp dir left behind
    monkeypatch.undo()
    again = load_dataset("ml-100k", ml, cache_dir=cache)
    assert again.cache_hit and again.interactions.equals(first.interactions)


def test_interrupted_swap_is_recovered(tmp_path, data_root):
    cache = tmp_path / "c"
    load_dataset("ml-100k", data_root / "ml-100k", cache_dir=cache)
    key_dir = next((cache / "datasets" / "ml-100k").iterdir())
    key_dir.rename(key_dir.with_name(key_dir.name + ".old"))  # died between the two renames
    ds = load_dataset("ml-100k", data_root / "ml-100k", cache_dir=cache)
    assert ds.cache_hit


# ---- text that is not UTF-8 (issue 21): one DataError naming file, line and column, never UnicodeDecodeError ----

def test_amazon_sequence_not_utf8_names_file_and_line(tmp_path):
    root = tmp_path / "amz"
    root.mkdir()
    (root / "user_sequence.txt").write_bytes(b"U1 A B C\nU2 A \xff\xfeB\n")
    with pytest.raises(DataError, match=r"user_sequence\.txt:2: not utf-8 text \(byte 0xff at column 6\)"):
        load_dataset("amazon-beauty", root, use_cache=False)


def test_amazon_indexing_file_not_utf8(tmp_path):
    root = tmp_path / "amz"
    root.mkdir()
    (root / "user_sequence.txt").write_text("U1 A B C\nU2 A B\n")
    (root / "item_generative_indexing_phase_0.txt").write_bytes(b"A red\nB caf\xe9\nC x\n")  # latin-1, not UTF-8
    with pytest.raises(DataError, match=r"item_generative_indexing_phase_0\.txt:2: not utf-8 text \(byte 0xe9"):
        load_dataset("amazon-beauty", root, use_cache=False)


def test_scientific_json_not_utf8(tmp_path):
    root = tmp_path / "sci"
    root.mkdir()
    (root / "Scientific.inter.json").write_bytes(b'{"0": [1, 2],\n "1": [3, 4]}')
    (root / "Scientific.item.json").write_bytes(b'{"1": {"title": "a"},\n "2": {"title": "\xc3\x28"}}')
    with pytest.raises(DataError, match=r"Scientific\.item\.json:2: not utf-8 text \(byte 0xc3 at column 18\)"):
        load_dataset("amazon-scientific", root, use_cache=False)


def test_kuairand_log_not_utf8(kuai):
    log = next(kuai.glob("log_*.csv.gz"))
    lines = gzip.decompress(log.read_bytes()).split(b"\n")
    fields = lines[3].split(b",")
    fields[4] = b"\xff\xff"
    lines[3] = b",".join(fields)
    log.write_bytes(gzip.compress(b"\n".join(lines)))
    with pytest.raises(DataError, match=r"\.csv\.gz:4: not utf-8 text \(byte 0xff"):
        load_dataset("sample", kuai, use_cache=False)


def test_damaged_cache_is_rebuilt(tmp_path, ml):
    cache = tmp_path / "c"
    first = load_dataset("ml-100k", ml, cache_dir=cache)
    key_dir = next((cache / "datasets" / "ml-100k").iterdir())
    data = (key_dir / "interactions.parquet").read_bytes()
    (key_dir / "interactions.parquet").write_bytes(data[: len(data) // 3])  # cut off
    again = load_dataset("ml-100k", ml, cache_dir=cache)
    assert not again.cache_hit and again.interactions.equals(first.interactions)
    with pytest.raises(DataError, match="damaged cache"):
        (key_dir / "meta.json").write_bytes(b'{"schema_version": 1, "info": {"na')
        Dataset.load(key_dir)
