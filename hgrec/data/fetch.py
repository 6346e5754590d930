"""`hgrec data fetch NAME`: download a dataset from its official source, verify it, unpack it into
`<cache>/raw/<name>/` where `load_dataset(name)` finds it without `--root`.

Verification: every download is checked against a SHA-256 (for the KuaiRand archive, the MD5 that
Zenodo publishes: its SHA-256 is not published), and files we know byte for byte — the members hgrec
parses — are checked against their SHA-256 after unpacking. The ML-100K zip has no published
checksum, so its three parsed members (u.data, u.item, u.user) are what is verified. MIND publishes no
checksum at all: its entry says so and each unpacked folder is parsed instead (`verify`: every line of
behaviors.tsv and news.tsv must have the published structure). The FINN.no files are pinned by the
SHA-256 in the repository's Git LFS pointers (an LFS oid is the file's SHA-256). A mismatch deletes the download
and raises DataError; nothing half-written is left in the cache (temp file + rename, temp dir +
rename). `mirror=` replaces the scheme and host of every URL, for a local copy (and for the tests,
which serve a small archive from 127.0.0.1).
"""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
import tarfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable
from pathlib import Path

from hgrec.data.errors import DataError
from hgrec.data.io import sha256_file
from hgrec.utils.atomic import atomic_dir, atomic_path


@dataclasses.dataclass(frozen=True)
class RemoteFile:
    url: str
    sha256: str | None = None
    md5: str | None = None  # only where the publisher gives no SHA-256
    extract: bool = False  # unpack a .zip / .tar.gz archive
    strip: str = ""  # leading folder inside the archive to drop
    members_sha256: dict[str, str] = dataclasses.field(default_factory=dict)  # checked after unpacking
    into: str = ""  # subfolder of the dataset folder to unpack into
    verify: Callable[[Path], None] | None = None  # structure check of the unpacked folder (raises DataError)
    no_checksum: str = ""  # why there is no checksum (then `verify` is required)

    @property
    def filename(self) -> str:
        return Path(urllib.parse.urlparse(self.url).path).name


_GITHUB = "https://raw.githubusercontent.com"
_FINN = "https://media.githubusercontent.com/media/finn-no/recsys_slates_dataset"


def _check_mind(folder: Path) -> None:
    from hgrec.data.adapters.mind import check_folder

    check_folder(folder)

SOURCES: dict[str, list[RemoteFile]] = {
    "ml-100k": [
        RemoteFile(
            "https://files.grouplens.org/datasets/movielens/ml-100k.zip", extract=True, strip="ml-100k/",
            members_sha256={
                "u.data": "06416e597f82b7342361e41163890c81036900f418ad91315590814211dca490",
                "u.item": "553841ebc7de3a0fd0d6b62a204ea30c1e651aacfb2814c7a6584ac52f2c5701",
                "u.user": "f120e114da2e8cf314fd28f99417c94ae9ddf1cb6db8ce0e4b5995d40e90e62c",
            },
        )
    ],
    # MIND-small (Microsoft): two zips, unpacked into the official folder names. Microsoft publishes no
    # checksum for them (msnews.github.io): every line of behaviors.tsv/news.tsv is parsed instead.
    "mind": [
        RemoteFile(f"https://mind201910small.blob.core.windows.net/release/{part}.zip", extract=True, into=part,
                   strip=f"{part}/", verify=_check_mind,
                   no_checksum="Microsoft publishes no checksum for the MIND zips")
        for part in ("MINDsmall_train", "MINDsmall_dev")
    ],
    # FINN.no slates: the Git LFS objects of github.com/finn-no/recsys_slates_dataset (data/), pinned by
    # commit; the SHA-256s are the oids of the repository's LFS pointer files.
    "finn-slates": [
        RemoteFile(f"{_FINN}/df3cfb68c9d6dd62e09c93253cea8667e2ec4ef8/data/data.npz",
                   sha256="15b6e5d0430c783f4a5190e31a952ed2aabc61a4beef77aedc0aef1865cc0f3f"),
        RemoteFile(f"{_FINN}/13dee272d79dc9eb839d24a9106ba4edc369455a/data/itemattr.npz",
                   sha256="07e4834536f351246736824abe6847a6dd8019b8e5ca676b52ae24838aa71333"),
        RemoteFile(f"{_FINN}/13dee272d79dc9eb839d24a9106ba4edc369455a/data/ind2val.json",
                   sha256="b572ae5731f861b5f67944b3035abad62691d833368b9ec2b9f7295b2fe33269"),
    ],
    "kuairand-pure": [
        RemoteFile(
            "https://zenodo.org/records/10439422/files/KuaiRand-Pure.tar.gz", md5="0820331067a3784d9691136f772b35a7",
            extract=True, strip="KuaiRand-Pure/",
            members_sha256={
                "data/user_features_pure.csv": "dc729a656301b4c6d07f713fe41d05ec9bfaab670b90e531c70037caf033c011",
                "data/video_features_basic_pure.csv": "a6f7ee02684c5777422306cdc416e170302288aa89aca9dfea995edbd625bcc2",
            },
        )
    ],
    # The Amazon sequences are the community's preprocessed TIGER/P5 files, pinned by commit.
    "amazon-beauty": [
        RemoteFile(f"{_GITHUB}/skleee/GRAM/7ac4d9272a57beed9df35c27ea34221f6e4a8fb1/rec_datasets/Beauty/user_sequence.txt",
                   sha256="47197cbee7bdc1896926e10d96b807dce0aecb9a1f0c2ccc887c21090237c9b7"),
        RemoteFile(f"{_GITHUB}/agiresearch/IDGenRec/a297185aa5b6cd6de9dcf8b8182052ee8e0b3261/rec_datasets/Beauty/"
                   "item_generative_indexing_phase_0.txt",
                   sha256="1a90f934fe506747f094b181f791ece593e2f86bb15e5420d910e6de4882b456"),
    ],
    "amazon-toys": [
        RemoteFile(f"{_GITHUB}/skleee/GRAM/7ac4d9272a57beed9df35c27ea34221f6e4a8fb1/rec_datasets/Toys/user_sequence.txt",
                   sha256="9c2f2cce5323c5e5fd840896a68f0274aba4c241c54f0bc77ac9183094004071"),
        RemoteFile(f"{_GITHUB}/agiresearch/IDGenRec/a297185aa5b6cd6de9dcf8b8182052ee8e0b3261/rec_datasets/Toys/"
                   "item_generative_indexing_phase_0.txt",
                   sha256="bce5c0028efdb6ec87033021087c9251eb64d6dfc77d791c47837c830b9d7f19"),
    ],
    "amazon-scientific": [
        RemoteFile(f"{_GITHUB}/Nishikata97/CollisionGenRec/505d5be3166f7c38ae67957daf8a3b7ec7092577/data/Scientific/"
                   "Scientific.inter.json", sha256="32c6c01876ebecebdfabd2dbd358594be36655e9e7b168772a7a3aa3624ee1b4"),
        RemoteFile(f"{_GITHUB}/Nishikata97/CollisionGenRec/505d5be3166f7c38ae67957daf8a3b7ec7092577/data/Scientific/"
                   "Scientific.item.json", sha256="ad24200106868dac2b544d812305d61a11bf07fed78b2f7cdca41d66f3418e71"),
    ],
}


def _with_mirror(url: str, mirror: str | None) -> str:
    if not mirror:
        return url
    parts = urllib.parse.urlparse(url)
    return mirror.rstrip("/") + parts.path


def download(url: str, dest: Path, *, sha256: str | None = None, md5: str | None = None, timeout: float = 60,
             progress: bool = False, members_checked: bool = False) -> Path:
    """Stream `url` to `dest` (atomically), hashing as it goes; raise DataError on a bad checksum.

    `members_checked=True` allows an archive without a published checksum of its own, when the
    caller verifies the files inside it (ML-100K: GroupLens publishes none for the zip).
    """
    if sha256 is None and md5 is None and not members_checked:
        raise ValueError(f"refusing to download {url} without a checksum")
    h = hashlib.md5() if md5 and not sha256 else hashlib.sha256()
    want = (sha256 or md5 or "").lower()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp, atomic_path(dest) as tmp:
            total = int(resp.headers.get("Content-Length") or 0) or None
            bar = None
            if progress:
                from tqdm import tqdm

                bar = tqdm(total=total, unit="B", unit_scale=True, desc=Path(dest).name)
            with open(tmp, "wb") as f:
                while block := resp.read(1 << 20):
                    h.update(block)
                    f.write(block)
                    if bar:
                        bar.update(len(block))
            if bar:
                bar.close()
            got = h.hexdigest()
            if want and got != want:
                raise DataError(f"checksum mismatch: expected {'sha256' if sha256 else 'md5'} {want}, got {got}", url)
    except (urllib.error.URLError, TimeoutError, ConnectionError) as e:
        raise DataError(f"download failed ({e})", url) from e
    return dest


def fetch(name: str, dest_root: Path, *, mirror: str | None = None, sources: dict | None = None,
          progress: bool = True) -> Path:
    """Download, verify and unpack dataset `name` into `dest_root/name` (replacing it atomically)."""
    table = SOURCES if sources is None else sources
    if name not in table:
        raise KeyError(f"no download source for {name!r}; known: {', '.join(sorted(table))}")
    target = Path(dest_root) / name
    with atomic_dir(target) as tmp:
        downloads = tmp / ".downloads"
        downloads.mkdir()
        for rf in table[name]:
            if rf.no_checksum and not rf.verify:
                raise ValueError(f"{rf.url}: a source without a checksum needs a structure check (verify)")
            path = download(_with_mirror(rf.url, mirror), downloads / rf.filename, sha256=rf.sha256, md5=rf.md5,
                            progress=progress,
                            members_checked=bool(rf.extract and (rf.members_sha256 or rf.verify)))
            dest = tmp / rf.into if rf.into else tmp
            dest.mkdir(parents=True, exist_ok=True)
            if rf.extract:
                _extract(path, dest, rf.strip)
                path.unlink()
            else:
                shutil.move(str(path), dest / rf.filename)
            if rf.verify:
                rf.verify(dest)
            for member, digest in rf.members_sha256.items():
                got_path = tmp / member
                if not got_path.exists():
                    raise DataError(f"archive has no member {member!r}", rf.url)
                if sha256_file(got_path) != digest:
                    raise DataError(f"member {member!r}: sha256 mismatch (expected {digest})", rf.url)
        downloads.rmdir()
    return target


def _extract(archive: Path, into: Path, strip: str) -> None:
    """Unpack a zip or tar archive, dropping the `strip` prefix; refuse paths that escape `into`."""
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as z:
                members = [(m.filename, m) for m in z.infolist() if not m.is_dir()]
                for name, m in members:
                    out = _safe_target(into, name, strip)
                    if out:
                        out.parent.mkdir(parents=True, exist_ok=True)
                        with z.open(m) as src, open(out, "wb") as dst:
                            shutil.copyfileobj(src, dst)
        else:
            with tarfile.open(archive) as t:
                for m in t.getmembers():
                    if not m.isfile():
                        continue
                    out = _safe_target(into, m.name, strip)
                    if out:
                        out.parent.mkdir(parents=True, exist_ok=True)
                        with t.extractfile(m) as src, open(out, "wb") as dst:
                            shutil.copyfileobj(src, dst)
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as e:
        raise DataError(f"cannot unpack archive ({e})", archive) from e


def _safe_target(into: Path, name: str, strip: str) -> Path | None:
    if strip and name.startswith(strip):
        name = name[len(strip):]
    if not name:
        return None
    out = (into / name).resolve()
    if into.resolve() not in out.parents:
        raise DataError(f"archive member {name!r} escapes the target folder")
    return out
