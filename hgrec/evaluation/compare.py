"""Is model B really better than model A? A paired comparison of two prediction files (DESIGN §8).

Ranking files hold one row per user (`user_id`, `truth`, `ranked`) for the same split; slate files add
`request` and hold one row per (user, request). Each row's hit/recall/NDCG@K is recomputed from the file
(the same definitions as hgrec/evaluation/metrics.py), the two are paired by user (and request), and the
difference of the means gets
- a percentile bootstrap confidence interval (users resampled with replacement, scipy.stats.bootstrap), and
- the two-sided p-value of a paired t-test (scipy.stats.ttest_rel; thousands of users make the mean
  difference close to normal even though each user's metric is mostly 0).
Where a user has several rows (slates of several requests), the rows of one user are not independent:
the interval comes from a user-cluster bootstrap instead (users drawn with replacement carry all their
rows; the statistic is the mean over the drawn rows, as the evaluation averages over requests), and the
p-value is the share of draws on the other side of 0, doubled.

CTR files hold one row per exposure (`user_id`, `item_id`, `ts`, `label`, `prob`). AUC, GAUC and log
loss are not means over users, so their interval comes from a cluster bootstrap: users are drawn with
replacement and carry all their exposures (a user drawn twice counts twice, as a sample weight), both
models on the same draw; the p-value is the share of draws on the other side of 0, doubled.

What this measures is the uncertainty from *which users* were evaluated. It says nothing about the
spread across training seeds, which is often as large: compare runs of several seeds for that.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import polars as pl
from scipy import stats

from hgrec.evaluation.metrics import per_user_auc, ranking_metrics

COLUMNS = ("user_id", "truth", "ranked")
CTR_COLUMNS = ("user_id", "item_id", "ts", "label", "prob")


@dataclasses.dataclass(frozen=True)
class Difference:
    metric: str
    a: float
    b: float
    diff: float  # b - a
    ci_low: float
    ci_high: float
    p_value: float

    @property
    def significant(self) -> bool:
        """The confidence interval excludes 0."""
        return self.ci_low > 0 or self.ci_high < 0


def read_predictions(path: str | Path, columns=COLUMNS) -> pl.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such predictions file")
    df = _read_parquet(path)
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; a predictions file has {list(columns)}")
    if columns == CTR_COLUMNS:
        bad = df["prob"].is_nan() | df["prob"].is_null() | (df["prob"] < 0) | (df["prob"] > 1)
        if bad.any():
            raise ValueError(f"{path}: {int(bad.sum())} probabilities are NaN or outside [0, 1] "
                             f"(first at row {int(bad.arg_true()[0])})")
        return df.select(columns)
    for c in ("truth", "ranked"):
        if not isinstance(df.schema[c], pl.List):
            raise ValueError(f"{path}: column {c!r} must be a list, got {df.schema[c]}")
    keys = ["user_id", "request"] if "request" in df.columns else ["user_id"]
    dup = df.select(keys).is_duplicated()
    if dup.any():
        raise ValueError(f"{path}: user {df['user_id'].filter(dup)[0]!r} has more than one row"
                         + (" for one request" if len(keys) > 1 else ""))
    return df.select([*columns, *keys[1:]])


def _read_parquet(path: Path, schema_only: bool = False):
    """A predictions file; damaged or not parquet -> DataError naming it (one line, no traceback)."""
    from hgrec.data.errors import DataError

    try:
        return pl.read_parquet_schema(path) if schema_only else pl.read_parquet(path)
    except (pl.exceptions.PolarsError, OSError) as e:
        raise DataError(f"not a readable parquet file ({str(e).splitlines()[0]}): damaged or cut-off?", path) from e


def kind_of(path: str | Path) -> str:
    """'ranking' or 'ctr', from a predictions file's columns."""
    names = _read_parquet(Path(path), schema_only=True).names() if Path(path).is_file() else []
    return "ctr" if "prob" in names and "label" in names else "ranking"


def per_user_metrics(df: pl.DataFrame, ks=(5, 10)) -> dict[str, np.ndarray]:
    """Per-user hit/recall/NDCG@K (one value per row of `df`, in its order) from the truth and ranked lists.

    A truth item outside the ranked list counts as a miss (a slate may hold fewer than K items), so K may
    not exceed the longest ranked list: the file holds nothing about ranks beyond it.
    """
    longest = int(df["ranked"].list.len().max()) if df.height else 0
    if df.height and max(ks) > longest:
        raise ValueError(f"K={max(ks)} but the longest ranked list has {longest} items")
    truth = df.select(pl.int_range(pl.len()).alias("row"), "truth").explode("truth").drop_nulls("truth")
    truth = truth.with_columns(col=pl.int_range(pl.len()).over("row"))
    ranked = (df.select(pl.int_range(pl.len()).alias("row"), "ranked").explode("ranked")
              .with_columns(rank=pl.int_range(1, pl.len() + 1).over("row")))
    # Rank of each truth item in its row's list; a repeat in the truth set counts once (its first column)
    # and stays padding (0), as in ranks_of_truth.
    found = (truth.filter(pl.col("truth").is_first_distinct().over("row"))
             .join(ranked, left_on=["row", "truth"], right_on=["row", "ranked"], how="left")
             .with_columns(pl.col("rank").fill_null(longest + 1)))
    width = int(truth["col"].max()) + 1 if truth.height else 1
    ranks = np.zeros((df.height, width), dtype=np.int64)  # (users, truth size), 0 = padding
    ranks[found["row"].to_numpy(), found["col"].to_numpy()] = found["rank"].to_numpy()
    return ranking_metrics(ranks, ks)


def compare_predictions(a: str | Path, b: str | Path, ks=(5, 10), resamples: int = 2000,
                        confidence: float = 0.95, seed: int = 0) -> tuple[list[Difference], int]:
    """Paired comparison of two prediction files of the same users and truth -> (differences, users)."""
    da, db = read_predictions(a), read_predictions(b)
    if ("request" in da.columns) != ("request" in db.columns):
        raise ValueError(f"one file has a request column and the other not ({a}, {b}): slates and next-item "
                         "predictions cannot be paired")
    keys = ["user_id", "request"] if "request" in da.columns else ["user_id"]
    only_a = da.join(db, on=keys, how="anti")
    only_b = db.join(da, on=keys, how="anti")
    if only_a.height or only_b.height:
        raise ValueError(f"the files evaluate different users: {only_a.height} only in {a}, {only_b.height} only in "
                         f"{b} (first: {(only_a if only_a.height else only_b)['user_id'][0]!r})")
    db = da.select(keys).join(db, on=keys, how="left")  # b in a's row order
    clusters = np.unique(da["user_id"].to_numpy(), return_inverse=True)[1] if len(keys) > 1 else None
    same = (da["truth"].list.sort() == db["truth"].list.sort())
    if not same.all():
        raise ValueError(f"truth differs for {int((~same).sum())} users (first: {da['user_id'].filter(~same)[0]!r})"
                         " - are both files from the same split of the same data?")
    if da.height < 2:
        raise ValueError(f"need at least 2 users to compare, got {da.height}")
    ma, mb = per_user_metrics(da, ks), per_user_metrics(db, ks)
    out = []
    for name in ma:
        if name == "mrr":  # the files hold the top K only: the full-ranking MRR cannot be rebuilt
            continue
        x, y = ma[name], mb[name]
        ok = ~(np.isnan(x) | np.isnan(y))  # users with an empty truth set have no value
        if not ok.any():
            raise ValueError("no user has a non-empty truth set: nothing to compare")
        d = y[ok] - x[ok]
        if np.all(d == d[0]):  # no spread: the interval is the point itself
            lo = hi = float(d[0])
            p = 1.0 if d[0] == 0 else 0.0
        elif clusters is not None and len(np.unique(clusters[ok])) < ok.sum():  # several rows per user
            lo, hi, p = _cluster_bootstrap(d, clusters[ok], resamples, confidence, seed)
        else:
            boot = stats.bootstrap((d,), np.mean, n_resamples=resamples, confidence_level=confidence,
                                   method="percentile", batch=100, rng=np.random.default_rng(seed))
            lo, hi = float(boot.confidence_interval.low), float(boot.confidence_interval.high)
            p = float(stats.ttest_rel(y[ok], x[ok]).pvalue)
        out.append(Difference(name, float(x[ok].mean()), float(y[ok].mean()), float(d.mean()), lo, hi, p))
    return out, da["user_id"].n_unique()


def _cluster_bootstrap(d: np.ndarray, cluster: np.ndarray, resamples: int, confidence: float,
                       seed: int) -> tuple[float, float, float]:
    """Percentile interval of mean(d) with whole clusters (users) resampled -> (low, high, two-sided p)."""
    _, c = np.unique(cluster, return_inverse=True)
    sums, counts = np.bincount(c, weights=d), np.bincount(c).astype(np.float64)
    n = len(sums)
    draws = np.random.default_rng(seed).multinomial(n, np.full(n, 1.0 / n), size=resamples)  # (B, users)
    means = (draws @ sums) / np.maximum(draws @ counts, 1.0)
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(means, [alpha, 1 - alpha])
    p = min(1.0, 2 * min((means <= 0).mean(), (means >= 0).mean()))
    return float(lo), float(hi), float(p)


def compare_ctr_predictions(a: str | Path, b: str | Path, resamples: int = 1000, confidence: float = 0.95,
                            seed: int = 0) -> tuple[list[Difference], int]:
    """Paired comparison of two CTR prediction files of the same exposures -> (AUC / GAUC / logloss, users)."""
    from sklearn.metrics import log_loss, roc_auc_score

    keys = ["user_id", "item_id", "ts", "label"]
    da = read_predictions(a, CTR_COLUMNS).sort(keys)
    db = read_predictions(b, CTR_COLUMNS).sort(keys)
    if da.height != db.height or not da.select(keys).equals(db.select(keys)):
        raise ValueError(f"the files hold different exposures or labels ({da.height:,} rows in {a}, {db.height:,} in "
                         f"{b}) - are both from the same split of the same data?")
    users, u = np.unique(da["user_id"].to_numpy(), return_inverse=True)  # u: (rows,) user index
    if len(users) < 2:
        raise ValueError(f"need at least 2 users to compare, got {len(users)}")
    y = da["label"].to_numpy().astype(np.int64)
    pa, pb = da["prob"].to_numpy().astype(np.float64), db["prob"].to_numpy().astype(np.float64)
    if y.min() == y.max():
        raise ValueError(f"every label is {y[0]}: AUC is undefined")
    # GAUC from per-user AUCs (users with both classes, NaN for the others), weighted by impressions
    n_u = np.bincount(u)

    def user_auc(p):
        per = per_user_auc(u, y, p)
        out = np.full(len(users), np.nan)
        out[per["u"].to_numpy()] = per["auc"].to_numpy()
        return out

    ua, ub = user_auc(pa), user_auc(pb)
    both = ~np.isnan(ua)

    def point(w_user):  # w_user: (users,) how often each user is drawn
        w = w_user[u]
        gw = w_user * n_u * both
        return {"auc": (roc_auc_score(y, pa, sample_weight=w), roc_auc_score(y, pb, sample_weight=w)),
                "gauc": (np.nansum(gw * ua) / gw.sum(), np.nansum(gw * ub) / gw.sum()),
                "logloss": (log_loss(y, np.clip(pa, 1e-7, 1 - 1e-7), sample_weight=w, labels=[0, 1]),
                            log_loss(y, np.clip(pb, 1e-7, 1 - 1e-7), sample_weight=w, labels=[0, 1]))}

    full = point(np.ones(len(users)))
    rng = np.random.default_rng(seed)
    draws = {k: [] for k in full}
    for _ in range(resamples):  # a loop over resamples; each one is vectorised over the exposures
        w_user = np.bincount(rng.integers(0, len(users), len(users)), minlength=len(users)).astype(np.float64)
        drawn = y[w_user[u] > 0]  # labels of the exposures in this draw
        if drawn.min() == drawn.max() or (w_user * both).sum() == 0:
            continue  # a draw with one class only has no AUC
        for k, (xa, xb) in point(w_user).items():
            draws[k].append(xb - xa)
    alpha = (1 - confidence) / 2
    out = []
    for k, (xa, xb) in full.items():
        d = np.asarray(draws[k])
        if d.size == 0:
            raise ValueError(f"every bootstrap draw held one class only: too few users ({len(users)}) for an interval")
        lo, hi = np.quantile(d, [alpha, 1 - alpha])
        p = min(1.0, 2 * min((d <= 0).mean(), (d >= 0).mean()))
        out.append(Difference(k, float(xa), float(xb), float(xb - xa), float(lo), float(hi), float(p)))
    return out, len(users)
