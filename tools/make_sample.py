"""Rebuild the KuaiRand-Pure slice embedded in hgrec (hgrec/data/sample/kuairand-pure/).

    python tools/make_sample.py --source ../shared/data/kuairand-pure --users 2000

Keeps every log row of the `--users` users with the most exposures (ties: smaller user_id first),
in the source's row order and format, plus the feature rows of those users and their videos.
Deterministic: the same source gives byte-identical output (gzip mtime fixed at 0).
"""

from __future__ import annotations

import argparse
import gzip
import io
import shutil
from pathlib import Path

import polars as pl

OUT = Path(__file__).resolve().parents[1] / "hgrec" / "data" / "sample" / "kuairand-pure"


def write_gz_csv(df: pl.DataFrame, path: Path) -> None:
    buf = io.BytesIO()
    df.write_csv(buf)
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=9, mtime=0, filename="") as gz:
        gz.write(buf.getvalue())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--source", type=Path, default=Path("../shared/data/kuairand-pure"))
    ap.add_argument("--users", type=int, default=2000)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    out = args.out
    log_path = args.source / "log_standard_4_25_to_5_08_pure.csv.gz"
    log = pl.read_csv(log_path, infer_schema_length=0)  # all as strings: values written back verbatim
    counts = log.group_by("user_id").len().with_columns(uid=pl.col("user_id").cast(pl.Int64))
    top = counts.sort(["len", "uid"], descending=[True, False]).head(args.users)["user_id"]
    sample = log.filter(pl.col("user_id").is_in(top.implode()))
    videos = pl.read_csv(args.source / "video_features_basic_pure.csv", infer_schema_length=0)
    videos = videos.filter(pl.col("video_id").is_in(sample["video_id"].unique().implode()))
    users = pl.read_csv(args.source / "user_features_pure.csv", infer_schema_length=0)
    users = users.filter(pl.col("user_id").is_in(top.implode()))
    out.mkdir(parents=True, exist_ok=True)
    write_gz_csv(sample, out / log_path.name)
    write_gz_csv(videos, out / "video_features_basic_pure.csv.gz")
    write_gz_csv(users, out / "user_features_pure.csv.gz")
    shutil.copyfile(args.source / "LICENSE", out / "LICENSE")
    print(f"{sample.height} rows, {sample['user_id'].n_unique()} users, {sample['video_id'].n_unique()} videos -> {out}")


if __name__ == "__main__":
    main()
