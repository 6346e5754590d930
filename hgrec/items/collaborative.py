"""Collaborative item vectors for sources with little text (KuaiRand): co-occurrence -> PPMI -> SVD.

Two effective items co-occur when they are at most `window` positions apart in a user's positive
sequence (`scope="sequence"`, the default) or, with `scope="session"`, also within one session.
Why the default is the sequence: KuaiRand's 30-minute sessions hold 1.2 exposures on average, so
within-session pairs give a vector to only 21 % of the embedded sample's items (48 % with the
sequence window; the rest are never an effective training item); on order-only sources the two
are the same. Only the training part of
the log is used, so validation/test interactions never shape the codes: `training_mask` gives it
for the split the codes will serve — `next_item` (leave-last-out over each user's positives, the
sequential protocol), `slates` with `split: leave_last_out` (everything before the user's last two
requests) or `split: temporal` (everything before the validation cut time). Fitting on one split's
training part and evaluating on another's test leaks: the next-item training part of KuaiRand holds
the temporal test period's co-occurrences. The counts
form a symmetric sparse matrix; positive pointwise mutual information, then a truncated SVD
(scikit-learn), gives `dim`-d vectors U * sqrt(S), L2-normalised. Items that never co-occur get a
zero vector (the concatenation in `item_vectors` then relies on their text part).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.decomposition import TruncatedSVD

from hgrec.data.dataset import Dataset
from hgrec.data.views import DEFAULT_SESSION_GAP_MS, add_sessions, leave_last_out, request_index, temporal_cuts

REGIONS = ("next_item", "slates")


def training_mask(ds: Dataset, region: str = "next_item", split: str = "leave_last_out",
                  slate_size: int = 5) -> np.ndarray:
    """Per interaction (aligned with `ds.interactions`): True where it lies in the training part.

    region `next_item`: leave-last-out over each user's positives (hgrec.data.views.leave_last_out);
    region `slates`: the slate split in use — `temporal` keeps interactions before the validation
    cut (hgrec.data.views.temporal_cuts), `leave_last_out` keeps each user's requests before the
    last two (the validation and test requests of hgrec.data.views.slates)."""
    if region not in REGIONS:
        raise ValueError(f"region must be one of {REGIONS}, got {region!r}")
    if region == "next_item":
        return leave_last_out(ds).to_numpy() == "train"
    if split == "temporal":
        t_valid, _ = temporal_cuts(ds)
        return ds.interactions["ts"].to_numpy() < t_valid
    if split != "leave_last_out":
        raise ValueError(f"split must be leave_last_out or temporal, got {split!r}")
    req = request_index(ds, slate_size)
    u = ds.interactions["user_id"].to_numpy()
    n_req = np.zeros(ds.num_users + 1, dtype=np.int64)
    np.maximum.at(n_req, u, req + 1)
    return req < n_req[u] - 2


def cooccurrence_counts(ds: Dataset, window: int = 3, scope: str = "sequence",
                        session_gap_ms: int = DEFAULT_SESSION_GAP_MS, train: np.ndarray | None = None) -> sp.csr_matrix:
    """(N+1, N+1) symmetric co-occurrence counts over training positives (diagonal zero); `train`
    is `training_mask`'s output (default: the next-item training part)."""
    if scope not in ("sequence", "session"):
        raise ValueError(f"scope must be 'sequence' or 'session', got {scope!r}")
    df = add_sessions(ds, session_gap_ms)
    keep = training_mask(ds).copy() if train is None else np.asarray(train, dtype=bool).copy()
    if len(keep) != df.height:
        raise ValueError(f"train mask has {len(keep)} rows, the dataset {df.height}")
    if "effective" in df.columns:
        keep &= df["effective"].to_numpy()
    items = df["item_id"].to_numpy()[keep]
    sess = df["session_id" if scope == "session" else "user_id"].to_numpy()[keep]
    rows, cols = [], []
    for k in range(1, window + 1):  # a loop over window offsets (<= a few), not over interactions
        same = sess[k:] == sess[:-k]
        a, b = items[:-k][same], items[k:][same]
        diff = a != b
        rows += [a[diff], b[diff]]
        cols += [b[diff], a[diff]]
    n = ds.num_items + 1
    if not rows or sum(len(r) for r in rows) == 0:
        return sp.csr_matrix((n, n), dtype=np.float64)
    r, c = np.concatenate(rows), np.concatenate(cols)
    return sp.coo_matrix((np.ones(len(r)), (r, c)), shape=(n, n)).tocsr()


def ppmi(counts: sp.csr_matrix) -> sp.csr_matrix:
    counts = counts.tocoo()
    total = counts.sum()
    row = np.asarray(counts.sum(1)).ravel()
    col = np.asarray(counts.sum(0)).ravel()
    pmi = np.log(counts.data * total / (row[counts.row] * col[counts.col]))
    keep = pmi > 0
    return sp.coo_matrix((pmi[keep], (counts.row[keep], counts.col[keep])), shape=counts.shape).tocsr()


def cooccurrence_embeddings(ds: Dataset, dim: int = 64, window: int = 3, seed: int = 0,
                            scope: str = "sequence", train: np.ndarray | None = None) -> np.ndarray:
    """(N+1, dim) float32 vectors, L2-normalised; zero rows for padding and never-co-occurring items."""
    m = ppmi(cooccurrence_counts(ds, window, scope, train=train))
    dim = min(dim, m.shape[0] - 1)
    svd = TruncatedSVD(n_components=dim, random_state=seed, algorithm="randomized", n_iter=7)
    u = svd.fit_transform(m)  # U * S
    u = u / np.sqrt(np.maximum(svd.singular_values_, 1e-12))[None, :]  # -> U * sqrt(S)
    norm = np.linalg.norm(u, axis=1, keepdims=True)
    out = np.where(norm > 0, u / np.maximum(norm, 1e-12), 0.0).astype(np.float32)
    out[0] = 0.0
    return out
