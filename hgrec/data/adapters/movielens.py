"""MovieLens-100K (GroupLens; research use only, no redistribution): explicit ratings 1-5.

Reads the original `u.data`, `u.item` (latin-1) and `u.user`. Canonical mapping: every rating is an
exposure with feedback; effective = rating >= 4; ts = unix seconds * 1000. u.data is in random
order, so ratings with the same timestamp keep that file order (never sorted by item id: that
would leak the answer in next-item evaluation). Item text = "title. Genres: a, b".
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pyarrow as pa

from hgrec.data.adapters.base import Adapter
from hgrec.data.dataset import Dataset, DatasetInfo, build_dataset
from hgrec.data.io import read_delimited

GENRES = ["unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
          "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western"]  # fmt: skip


class MovieLens100KAdapter(Adapter):
    name = "ml-100k"
    version = "1"

    def source_files(self, root: Path) -> list[Path]:
        return [self._find(root, f)[0] for f in ("u.data", "u.item", "u.user")]

    def read(self, root: Path) -> Dataset:
        data_p, item_p, user_p = self.source_files(root)
        ratings = read_delimited(
            data_p, sep="\t", header=False, names=["user", "item", "rating", "unix"],
            columns={"user": pa.int64(), "item": pa.int64(), "rating": pa.int64(), "unix": pa.int64()},
        )
        bad = ratings.filter(~pl.col("rating").is_between(1, 5))
        if bad.height:
            from hgrec.data.errors import DataError

            raise DataError(f"rating {bad['rating'][0]} outside 1..5", data_p)
        inter = ratings.select(
            user="user", item="item", ts=pl.col("unix") * 1000,
            rating=pl.col("rating").cast(pl.Int8), effective=pl.col("rating") >= 4,
        ).with_row_index("_row")

        names = ["raw_id", "title", "release_date", "video_release_date", "imdb_url"] + [f"g{i}" for i in range(19)]
        items = read_delimited(
            item_p, sep="|", header=False, names=names, encoding="latin-1",
            columns={"raw_id": pa.int64(), "title": pa.string(), "release_date": pa.string(),
                     **{f"g{i}": pa.int8() for i in range(19)}},
        )
        genre_list = pl.concat_list(
            [pl.when(pl.col(f"g{i}") == 1).then(pl.lit(g)).otherwise(None) for i, g in enumerate(GENRES)]
        ).list.drop_nulls()
        items = items.with_columns(genres=genre_list.list.join(", ")).drop([f"g{i}" for i in range(19)])
        items = items.with_columns(
            text=pl.col("title") + pl.lit(". Genres: ") + pl.col("genres"),
            year=pl.col("release_date").str.slice(-4).cast(pl.Int32, strict=False),
        )
        users = read_delimited(
            user_p, sep="|", header=False, names=["raw_id", "age", "gender", "occupation", "zip"],
            columns={"raw_id": pa.int64(), "age": pa.int64(), "gender": pa.string(), "occupation": pa.string(),
                     "zip": pa.string()},
        )
        info = DatasetInfo(
            name=self.name,
            source=str(root),
            has_timestamps=True,
            has_negatives=True,
            effective_definition="rating >= 4",
            licence="GroupLens research licence: no redistribution, no commercial use without permission",
            citation="Harper & Konstan, The MovieLens Datasets: History and Context, ACM TiiS 2015",
        )
        return build_dataset(inter, info, items=items, users=users, item_col="item", user_col="user",
                             order_col="_row")
