"""KuaiRand-Pure (Gao et al., CIKM 2022; CC BY-SA 4.0): a short-video exposure log with negatives.

Reads the official layout (`log_standard_*_pure.csv[.gz]`, `user_features_pure.csv[.gz]`,
`video_features_basic_pure.csv[.gz]`, in `root` or `root/data`), so the same adapter loads the full
Zenodo release, the 14-day slice in shared/data and the slice embedded in hgrec.

Mapping to the canonical schema:
  clicked = is_click, effective = long_view (play >= min(duration, 18 s)),
  watch_ratio = play_time_ms / duration_ms (null where duration_ms == 0), ts = time_ms.
  Every exposure is kept, negatives included; exact duplicate rows (present upstream) are kept.
KuaiRand has no captions: item text is rendered from the basic video features (type, upload type,
tags, author, duration, music type) and is flagged as derived.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pyarrow as pa

from hgrec.data.adapters.base import Adapter
from hgrec.data.dataset import Dataset, DatasetInfo, build_dataset
from hgrec.data.io import read_delimited

LOG_COLUMNS = [
    "user_id", "video_id", "date", "hourmin", "time_ms", "is_click", "is_like", "is_follow", "is_comment",
    "is_forward", "is_hate", "long_view", "play_time_ms", "duration_ms", "profile_stay_time",
    "comment_stay_time", "is_profile_enter", "is_rand", "tab",
]  # fmt: skip
USER_FEATURES = [
    "user_active_degree", "is_lowactive_period", "is_live_streamer", "is_video_author",
    "follow_user_num_range", "fans_user_num_range", "friend_user_num_range", "register_days_range",
] + [f"onehot_feat{i}" for i in range(18)]  # fmt: skip
VIDEO_FEATURES = ["author_id", "video_type", "upload_dt", "upload_type", "visible_status", "video_duration",
                  "music_id", "music_type", "tag"]  # fmt: skip


class KuaiRandAdapter(Adapter):
    name = "kuairand-pure"
    version = "1"

    def source_files(self, root: Path) -> list[Path]:
        return (
            self._find(root, "log_standard_*_pure.csv", "log_standard_*_pure.csv.gz")
            + self._find(root, "user_features_pure.csv", "user_features_pure.csv.gz")
            + self._find(root, "video_features_basic_pure.csv", "video_features_basic_pure.csv.gz")
        )

    def read(self, root: Path) -> Dataset:
        root = Path(root)
        logs = self._find(root, "log_standard_*_pure.csv", "log_standard_*_pure.csv.gz")
        log = pl.concat(
            [read_delimited(p, columns={c: pa.int64() for c in LOG_COLUMNS}) for p in logs], how="vertical"
        )
        inter = log.select(
            user=pl.col("user_id"),
            item=pl.col("video_id"),
            ts=pl.col("time_ms"),
            clicked=pl.col("is_click") == 1,
            effective=pl.col("long_view") == 1,
            watch_ratio=pl.when(pl.col("duration_ms") > 0)
            .then(pl.col("play_time_ms") / pl.col("duration_ms"))
            .otherwise(None)
            .cast(pl.Float32),
            liked=pl.col("is_like") == 1,
            followed=pl.col("is_follow") == 1,
            commented=pl.col("is_comment") == 1,
            forwarded=pl.col("is_forward") == 1,
            hated=pl.col("is_hate") == 1,
            profile_entered=pl.col("is_profile_enter") == 1,
            play_time_ms=pl.col("play_time_ms"),
            duration_ms=pl.col("duration_ms"),
            tab=pl.col("tab").cast(pl.Int16),
        )
        # build_dataset sorts by (user, ts) and breaks ties by this file-order index.
        inter = inter.with_row_index("_row")

        users_path = self._find(root, "user_features_pure.csv", "user_features_pure.csv.gz")[0]
        users = read_delimited(
            users_path, columns={"user_id": pa.int64(), **{c: None for c in USER_FEATURES}}
        ).rename({"user_id": "raw_id"})
        videos_path = self._find(root, "video_features_basic_pure.csv", "video_features_basic_pure.csv.gz")[0]
        videos = read_delimited(
            videos_path,
            columns={"video_id": pa.int64(), **{c: None for c in VIDEO_FEATURES}, "tag": pa.string()},
        ).rename({"video_id": "raw_id"})
        videos = videos.with_columns(text=render_video_text(videos))

        info = DatasetInfo(
            name=self.name,
            source=str(root),
            has_timestamps=True,
            has_negatives=True,
            effective_definition="long_view (play >= min(duration, 18 s))",
            text_is_derived=True,
            text_note="KuaiRand has no captions; text is rendered from the basic video features",
            licence="CC BY-SA 4.0",
            citation="Gao et al., KuaiRand: An Unbiased Sequential Recommendation Dataset with Randomly "
            "Exposed Videos, CIKM 2022, doi:10.1145/3511808.3557624",
            extra={"log_files": [p.name for p in logs]},
        )
        return build_dataset(inter, info, items=videos, users=users, item_col="item", user_col="user",
                             order_col="_row")


def render_video_text(videos: pl.DataFrame) -> pl.Series:
    """'video type NORMAL, upload LongImport, tags 39 68, author 7349781, 87 s, music type 9'."""
    dur = (pl.col("video_duration") / 1000).round(0).cast(pl.Int64, strict=False)
    text = pl.concat_str(
        [
            pl.lit("video type ") + pl.col("video_type").cast(pl.Utf8).fill_null("unknown"),
            pl.lit(", upload ") + pl.col("upload_type").cast(pl.Utf8).fill_null("unknown"),
            pl.lit(", tags ") + pl.col("tag").fill_null("none").str.replace_all(",", " "),
            pl.lit(", author ") + pl.col("author_id").cast(pl.Utf8).fill_null("unknown"),
            pl.lit(", ") + dur.cast(pl.Utf8).fill_null("unknown") + pl.lit(" s"),
            pl.lit(", music type ") + pl.col("music_type").cast(pl.Int64, strict=False).cast(pl.Utf8).fill_null("unknown"),
        ]
    )
    return videos.select(text=text)["text"]
