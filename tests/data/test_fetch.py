"""`hgrec data fetch` against a local HTTP server on 127.0.0.1 serving a small archive (never the internet)."""

import hashlib
import io
import tarfile
import zipfile

import pytest

from hgrec.data import DataError, load_dataset
from hgrec.data.fetch import SOURCES, RemoteFile, download, fetch


def _small_ml100k(data_root, n_lines=500) -> bytes:
    """A real but cut ML-100K zip: the first 500 ratings, full item and user files."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        udata = b"".join((data_root / "ml-100k/u.data").read_bytes().splitlines(keepends=True)[:n_lines])
        z.writestr("ml-100k/u.data", udata)
        z.writestr("ml-100k/u.item", (data_root / "ml-100k/u.item").read_bytes())
        z.writestr("ml-100k/u.user", (data_root / "ml-100k/u.user").read_bytes())
    return buf.getvalue()


def test_fetch_verify_unpack_and_load(server, tmp_path, data_root):
    www, url = server
    blob = _small_ml100k(data_root)
    (www / "datasets").mkdir()
    (www / "datasets/ml-100k.zip").write_bytes(blob)
    udata = b"".join((data_root / "ml-100k/u.data").read_bytes().splitlines(keepends=True)[:500])
    spec = {"ml-100k": [RemoteFile("https://example.invalid/datasets/ml-100k.zip",
                                   sha256=hashlib.sha256(blob).hexdigest(), extract=True, strip="ml-100k/",
                                   members_sha256={"u.data": hashlib.sha256(udata).hexdigest(),
                                                   "u.item": SOURCES["ml-100k"][0].members_sha256["u.item"]})]}
    cache = tmp_path / "cache"
    path = fetch("ml-100k", cache / "raw", mirror=url, sources=spec, progress=False)
    assert sorted(p.name for p in path.iterdir()) == ["u.data", "u.item", "u.user"]
    ds = load_dataset("ml-100k", cache_dir=cache)  # no --root: found in the cache
    assert ds.interactions.height == 500 and ds.num_items == 1682 - (1682 - ds.num_items)


def test_checksum_mismatch_leaves_nothing(server, tmp_path):
    www, url = server
    (www / "f.txt").write_bytes(b"hello")
    with pytest.raises(DataError, match=r"checksum mismatch: expected sha256 0+, got 2cf24dba"):
        download(f"{url}/f.txt", tmp_path / "f.txt", sha256="0" * 64)
    assert not (tmp_path / "f.txt").exists() and not list(tmp_path.glob(".f.txt*"))
    spec = {"x": [RemoteFile("https://example.invalid/f.txt", sha256="0" * 64)]}
    previous = tmp_path / "raw" / "x"
    previous.mkdir(parents=True)
    (previous / "keep").write_text("old copy")
    with pytest.raises(DataError, match="checksum mismatch"):
        fetch("x", tmp_path / "raw", mirror=url, sources=spec, progress=False)
    assert (previous / "keep").read_text() == "old copy"  # the earlier download is intact


def test_md5_and_member_checks(server, tmp_path):
    www, url = server
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        for name, data in (("Pkg/data/a.csv", b"a,b\n1,2\n"), ("Pkg/README", b"hi")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    (www / "pkg.tar.gz").write_bytes(buf.getvalue())
    md5 = hashlib.md5(buf.getvalue()).hexdigest()
    good = {"p": [RemoteFile("https://x/pkg.tar.gz", md5=md5, extract=True, strip="Pkg/",
                             members_sha256={"data/a.csv": hashlib.sha256(b"a,b\n1,2\n").hexdigest()})]}
    path = fetch("p", tmp_path / "raw", mirror=url, sources=good, progress=False)
    assert (path / "data/a.csv").read_bytes() == b"a,b\n1,2\n" and (path / "README").exists()
    bad = {"p": [RemoteFile("https://x/pkg.tar.gz", md5=md5, extract=True, strip="Pkg/",
                            members_sha256={"data/a.csv": "f" * 64})]}
    with pytest.raises(DataError, match=r"member 'data/a.csv': sha256 mismatch"):
        fetch("p", tmp_path / "raw2", mirror=url, sources=bad, progress=False)
    assert not (tmp_path / "raw2" / "p").exists()


def test_unreachable_and_unknown(tmp_path):
    with pytest.raises(DataError, match="download failed"):
        download("http://127.0.0.1:9/nothing", tmp_path / "n", sha256="0" * 64, timeout=2)
    with pytest.raises(KeyError, match="no download source for 'nope'"):
        fetch("nope", tmp_path)
    with pytest.raises(ValueError, match="without a checksum"):
        download("http://127.0.0.1:9/x", tmp_path / "x")


def test_every_registered_source_is_pinned():
    for name, files in SOURCES.items():
        for rf in files:
            # pinned, or (only where the publisher gives no checksum, said in the entry) parsed on arrival
            assert rf.sha256 or rf.md5 or (rf.extract and (rf.members_sha256 or (rf.verify and rf.no_checksum))), name
            assert rf.url.startswith("https://"), name


def test_cli_fetch_with_the_real_registry_entry(server, tmp_path, data_root):
    """`hgrec data fetch ml-100k --mirror` verifies the real u.data/u.item/u.user SHA-256s, then
    `hgrec data stats ml-100k` finds the download without --root."""
    from typer.testing import CliRunner

    from hgrec.cli import app

    www, url = server
    (www / "datasets/movielens").mkdir(parents=True)
    with zipfile.ZipFile(www / "datasets/movielens/ml-100k.zip", "w") as z:
        for name in ("u.data", "u.item", "u.user", "u.genre", "README"):
            z.write(data_root / "ml-100k" / name, f"ml-100k/{name}")
    cache = tmp_path / "cache"
    r = CliRunner().invoke(app, ["data", "fetch", "ml-100k", "--mirror", url, "--cache", str(cache)])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(app, ["data", "stats", "ml-100k", "--cache", str(cache), "--json"])
    assert r.exit_code == 0, r.output
    assert '"interactions": 100000' in r.output
    # a tampered file inside the archive is caught by the member check
    with zipfile.ZipFile(www / "datasets/movielens/ml-100k.zip", "w") as z:
        z.writestr("ml-100k/u.data", b"1\t1\t5\t1\n")
        for name in ("u.item", "u.user"):
            z.write(data_root / "ml-100k" / name, f"ml-100k/{name}")
    r = CliRunner().invoke(app, ["data", "fetch", "ml-100k", "--mirror", url, "--cache", str(cache)])
    assert r.exit_code == 2 and "member 'u.data': sha256 mismatch" in r.output
    assert (cache / "raw/ml-100k/u.data").stat().st_size == (data_root / "ml-100k/u.data").stat().st_size
