"""Requests to a served model, checked and mapped to its dense inputs: the one place source ids meet the model.

    mapper = RequestMapper(rec, Limits())
    row = mapper.slate_row(SlateQuery(user_id="4012", slate_size=5))   # RequestError if it cannot be answered
    row.key, row.history, row.ts, row.features                          # one row of the decoder's batch

**Slates.** Asked for by `user_id` (the context is what the dataset knows about the user: their last
`max_len` effective items and their features) or by an explicit `history` of source item ids, oldest
first (+ optional unix `timestamps` in seconds, the same length; without them every gap is 0). Both
given: the explicit history with the user's features. A history longer than the model's `max_len` is
truncated to its most recent `max_len` items and the answer says so. A slate's work (slate size x beam
width) has a ceiling, `Limits.max_work`.

**Click scores.** `candidates` (at most `Limits.max_candidates`), after the user's logged exposures
(`logged_history`) or an explicit history with its actions and timestamps (`explicit_history`), checked
against the source's feedback codes (`hgrec.data.feedback`).

Every problem is a `RequestError` naming it (unknown item ids listed, unknown user, empty history, slate
larger than the catalogue, work or candidates over the ceiling, timestamps or actions of another length,
NaN timestamps) with the HTTP status the app answers (422 unless said otherwise); the server never dies.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from hgrec.data.errors import DataError
from hgrec.data.feedback import feedback_scheme
from hgrec.serving.recommend import Recommender


class RequestError(ValueError):
    """A request the model cannot answer; `status` is the HTTP status the app returns (and `retry_after`, in
    seconds, its Retry-After header for a 429 or 503)."""

    def __init__(self, message: str, status: int = 422, retry_after: int | None = None):
        super().__init__(message)
        self.status, self.retry_after = status, retry_after


@dataclasses.dataclass
class Limits:
    """What one request may cost, and the status that answers it past the limit (docs/serving.md lists them)."""
    max_body_bytes: int = 1 << 20  # 413: larger request bodies (the HTTP layer: Content-Length, then counted)
    max_work: int = 1_000  # 422: slate_size x beam_width of one slate request
    max_candidates: int = 2_000  # 422: candidates of one /v1/score request
    deadline_s: float = 10.0  # 504: a request not answered within it (its queued work is dropped)
    max_queue: int = 1_024  # 429 + Retry-After: slate requests already waiting for the decoder
    max_wait_s: float = 0.5  # 429 + Retry-After: a new slate request's expected wait (queued work x decode time)
    max_in_flight: int = 512  # 429 + Retry-After: slate requests inside the server at once (arrived, not answered)
    batch_work: int = 4_000  # most work (sum of slate_size x beam_width) in one decoder call

    def __post_init__(self):
        for f in dataclasses.fields(self):
            if not getattr(self, f.name) > 0:
                raise ValueError(f"limits.{f.name} must be > 0, got {getattr(self, f.name)}")


@dataclasses.dataclass
class SlateQuery:
    user_id: str | int | None = None
    history: list | None = None  # source item ids, oldest first
    timestamps: list[float] | None = None  # unix seconds, same length as history
    slate_size: int = 5
    beam_width: int | None = None
    exclude_history: bool | None = None


@dataclasses.dataclass
class SlateAnswer:
    items: list  # source item ids, slate order
    scores: list[float | None]  # log-probability of each item under the model (None: not defined)
    history_used: int  # items of context the model read
    truncated: bool  # the explicit history was longer than max_len


@dataclasses.dataclass
class SlateRow:
    """A checked slate request as one row of the decoder's batch."""
    key: tuple[int, int, bool]  # (slate size, beam, exclude history): one decoder call per key
    history: np.ndarray  # (max_len,) dense item ids, left-padded with 0
    ts: np.ndarray  # (max_len,) unix seconds
    features: np.ndarray | None  # (F,) the user's features
    used: int  # items of context
    truncated: bool  # the explicit history was longer than max_len

    @property
    def work(self) -> int:
        return self.key[0] * self.key[1]


class RequestMapper:
    def __init__(self, rec: Recommender, limits: Limits | None = None):
        self.rec, self.limits = rec, limits or Limits()
        self.max_len = rec.cfg.data.max_len
        self.num_items = rec.ds.num_items
        feats = rec.user_features
        self.n_features = 0 if feats is None else feats.shape[1]
        self.needs_history = not (self.n_features and getattr(getattr(rec.model, "config", None), "user_features", False))

    def user(self, user_id, required: bool = False) -> int | None:
        """Dense id of `user_id`; None for no id or, unless `required` (then 404), an unknown one (a new user)."""
        if user_id is None:
            return None
        try:
            return int(self.rec.ds.user_map.to_dense([user_id], where="user_id")[0])
        except DataError as e:
            if required:
                raise RequestError(str(e), 404) from e
            return None

    # ---- slates ------------------------------------------------------------------------------------------------
    def slate_row(self, q: SlateQuery) -> SlateRow:
        if not 1 <= q.slate_size <= self.num_items:
            raise RequestError(f"slate_size {q.slate_size} must be between 1 and the catalogue size {self.num_items}")
        beam = q.beam_width or self.rec.cfg.data.beam
        if beam < 1:
            raise RequestError(f"beam_width must be >= 1, got {beam}")
        if q.slate_size * beam > self.limits.max_work:
            raise RequestError(f"slate_size x beam_width = {q.slate_size} x {beam} = {q.slate_size * beam} is more "
                               f"work than this server allows per request ({self.limits.max_work}); ask for a "
                               "smaller slate or beam")
        exclude = self.rec.cfg.data.mask_history if q.exclude_history is None else bool(q.exclude_history)
        return SlateRow((int(q.slate_size), int(beam), exclude), *self._context(q))

    def _context(self, q: SlateQuery) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, int, bool]:
        rec, L = self.rec, self.max_len
        user = self.user(q.user_id, required=True)
        truncated = False
        if q.history is not None:
            items = list(q.history)
            if q.timestamps is not None and len(q.timestamps) != len(items):
                raise RequestError(f"timestamps: {len(q.timestamps)} values for a history of {len(items)} items")
            if len(items) > L:
                truncated, items = True, items[-L:]
            dense = self._items(items, "history")
            ts = np.zeros(len(dense), dtype=np.int64)
            if q.timestamps is not None:
                t = np.asarray(q.timestamps[-len(dense):] if len(dense) else [], dtype=np.float64)
                if not np.isfinite(t).all():
                    raise RequestError("timestamps: must be finite numbers (got NaN or inf)")
                ts = t.astype(np.int64)
        elif user is not None:
            n = int(rec.seq.lengths[user])
            dense = rec.seq.history_batch([user], [n], L)[0]
            ts = rec.seq.history_batch([user], [n], L, column="ts_s")[0]
            dense, ts = dense[dense > 0], ts[dense > 0]
        else:
            raise RequestError("give a user_id or a history")
        if len(dense) == 0 and (self.needs_history or user is None):
            raise RequestError(f"{'user ' + repr(q.user_id) if q.history is None else 'history'}: no items of "
                               f"history; {rec.cfg.model_name} needs at least one")
        hist = np.zeros(L, dtype=np.int64)
        tss = np.zeros(L, dtype=np.int64)
        if len(dense):
            hist[-len(dense):], tss[-len(dense):] = dense, ts
        feats = None
        if self.n_features:
            feats = rec.user_features[user] if user is not None else np.zeros(self.n_features, dtype=np.int64)
        return hist, tss, feats, len(dense), truncated

    def _items(self, items, where: str) -> np.ndarray:
        try:
            return self.rec.ds.item_map.to_dense(list(items), where=where) if len(items) else np.zeros(0, np.int64)
        except DataError as e:
            raise RequestError(str(e)) from e

    # ---- click scores ------------------------------------------------------------------------------------------
    def candidate_limit(self, candidates) -> None:
        if len(candidates) > self.limits.max_candidates:
            raise RequestError(f"candidates: {len(candidates)} items is more than this server scores per request "
                               f"({self.limits.max_candidates})")

    def candidates(self, candidates) -> np.ndarray:
        """The request's candidates as dense ids, within the limits."""
        self.candidate_limit(candidates)
        if not candidates:
            raise RequestError("candidates: give at least one item id")
        return self._items(candidates, "candidates")

    def explicit_history(self, history, actions, timestamps):
        """An explicit history -> (items, action codes, labels, times in ms), checked against the source's feedback."""
        rec = self.rec
        items = self._items(history if history is not None else [], "history")
        scheme = feedback_scheme(rec.ds)
        top = scheme.strongest_action
        if actions is None:
            act = np.full(len(items), top, dtype=np.int64)
        else:
            if len(actions) != len(items):
                raise RequestError(f"actions: {len(actions)} values for a history of {len(items)} items")
            act = np.asarray(actions, dtype=np.int64)
            if len(act) and (act.min() < 1 or act.max() > top):
                raise RequestError(f"actions: codes must be in 1..{top} ({scheme.action_meaning})")
        if timestamps is None:
            ts = np.zeros(len(items), dtype=np.int64)
        else:
            if len(timestamps) != len(items):
                raise RequestError(f"timestamps: {len(timestamps)} values for a history of {len(items)} items")
            t = np.asarray(timestamps, dtype=np.float64)
            if not np.isfinite(t).all():
                raise RequestError("timestamps: must be finite numbers (got NaN or inf)")
            ts = np.round(t * 1000).astype(np.int64)  # request seconds -> stored milliseconds
        return items, act, scheme.labels(act, rec.task.data.label), ts

    def logged_history(self, u: int):
        """The user's logged exposures (dense user `u`), exactly as training saw them."""
        data = self.rec.task.data
        rows, c = slice(data.offsets[u], data.offsets[u + 1]), data.columns
        return c["item"][rows], c["action"][rows], c["label"][rows], c["ts_ms"][rows]
