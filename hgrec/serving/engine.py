"""Inference engine for online serving: one loaded checkpoint, requests batched as they arrive.

    engine = InferenceEngine.from_checkpoint("runs/kuairand-pure-higr-s0/best", max_batch=64, max_wait_ms=5)
    engine.slate(SlateQuery(user_id="4012", slate_size=5))        # blocking; thread-safe
    await engine.aslate(query)                                      # from an event loop (the HTTP app)

**Dynamic batching.** Requests go into a queue; one worker thread takes the first waiting request,
keeps collecting for at most `max_wait_ms` (or until `max_batch` are in hand), groups them by their
decoding settings (slate size, beam width, history exclusion: one decoder call per group) and runs
the model once per group under `torch.inference_mode`. With `batching=False` the worker takes one
request at a time (the baseline of `benchmarks/serving_load.py`). Torch runs its intra-op thread pool
inside that single worker: set `threads` (default: torch's, i.e. one per core) and leave the HTTP
server's own threads to I/O.

**Requests.** A slate is asked for by `user_id` (the context is what the dataset knows about the
user: their last `max_len` effective items and their features) or by an explicit `history` of
source item ids, oldest first (+ optional unix `timestamps` in seconds, the same length; without them
every gap is 0). Both given: the explicit history with the user's features. A history longer than
the model's `max_len` is truncated to its most recent `max_len` items and the answer says so.
Every problem is a `RequestError` naming it (unknown item ids listed, unknown user, empty history,
slate larger than the catalogue, timestamps of another length, NaN timestamps); the HTTP layer maps
it to a 4xx and never dies.

Click scores (`score`) need a CTR checkpoint (HPGR or a CTR baseline): the history's features
(sessions, positions in session, time-gap buckets, actions) are built by the training rule
(`hgrec.data.ctr_samples.request_batch`), so a user's logged exposures score exactly as in
evaluation. Slate checkpoints answer with a `RequestError` saying so.

**Limits** (`Limits`, docs/serving.md): a slate's work (slate size x beam width) and a score request's
candidates have ceilings (422 above them); every request has a deadline (504 when it passes: a queued job
whose deadline passed, or whose caller went away, is dropped by the worker without decoding); at most
`max_queue` slate requests wait (503 with Retry-After above it). The worker takes the cheapest waiting
requests first and puts at most `batch_work` of work into one decoder call, so heavy requests cannot hold
back light ones beyond one heavy decode.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import math
import queue
import threading
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Awaitable, Callable

import numpy as np
import torch

import hgrec
from hgrec.data.batch import context_batch
from hgrec.data.errors import DataError
from hgrec.data.feedback import feedback_scheme
from hgrec.decoding.slates import makes_slates, slate_generator
from hgrec.models.capabilities import ClickModel
from hgrec.serving.recommend import Recommender


class RequestError(ValueError):
    """A request the model cannot answer; `status` is the HTTP status the app returns (and `retry_after`, in
    seconds, its Retry-After header for a 503)."""

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
    max_queue: int = 1_024  # 503 + Retry-After: slate requests already waiting for the decoder
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
class _Job:
    key: tuple[int, int, bool]  # (slate size, beam, exclude history): one decoder call per key
    history: np.ndarray  # (max_len,)
    ts: np.ndarray  # (max_len,)
    features: np.ndarray | None  # (F,)
    meta: tuple[int, bool]
    future: Future
    deadline: float = math.inf  # time.monotonic() after which nobody waits for the answer

    @property
    def work(self) -> int:
        return self.key[0] * self.key[1]


class InferenceEngine:
    def __init__(self, rec: Recommender, max_batch: int = 64, max_wait_ms: float = 5.0, batching: bool = True,
                 threads: int | None = None, checkpoint: str | Path | None = None, limits: Limits | None = None):
        if max_batch < 1 or max_wait_ms < 0:
            raise ValueError(f"max_batch must be >= 1 and max_wait_ms >= 0, got {max_batch}, {max_wait_ms}")
        if threads is not None:
            torch.set_num_threads(threads)
        self.rec, self.checkpoint = rec, str(checkpoint) if checkpoint is not None else None
        self.max_batch, self.max_wait = (max_batch if batching else 1), max_wait_ms / 1000.0
        self.batching = batching
        self.limits = limits or Limits()
        self.max_len = rec.cfg.data.max_len
        self.num_items = rec.ds.num_items
        feats = rec.user_features
        self.n_features = 0 if feats is None else feats.shape[1]
        self.needs_history = not (self.n_features and getattr(getattr(rec.model, "config", None), "user_features", False))
        self.batches = 0  # decoder calls so far (tests and the load benchmark read it)
        self.dropped = 0  # queued jobs never decoded: their caller went away or their deadline passed
        self._closed = False
        self._model_lock = threading.Lock()  # click scores run in the caller's thread: one model call at a time
        self._seq = itertools.count()  # FIFO among requests of equal work
        self._queue: queue.PriorityQueue[tuple[float, int, _Job | None]] = queue.PriorityQueue()
        self._worker = threading.Thread(target=self._run, name="hgrec-engine", daemon=True)
        self._worker.start()

    @classmethod
    def from_checkpoint(cls, path, root=None, cache=None, device: str = "cpu", **kw) -> "InferenceEngine":
        return cls(Recommender.from_checkpoint(path, root=root, cache=cache, device=device), checkpoint=path, **kw)

    # ---- what the model is -------------------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        cfg = self.rec.cfg
        return {"model": cfg.model_name, "hgrec_version": hgrec.__version__, "checkpoint": self.checkpoint,
                "dataset": cfg.data.dataset, "catalogue_size": int(self.num_items),
                "users": int(self.rec.ds.num_users), "max_len": int(self.max_len),
                "default_beam_width": int(cfg.data.beam), "slates": self._makes_slates, "click_scores": self.is_ctr,
                "batching": {"enabled": self.batching, "max_batch": self.max_batch,
                             "max_wait_ms": self.max_wait * 1000},
                "limits": dataclasses.asdict(self.limits),
                "config": cfg.to_dict()}

    # ---- validation: a request -> one row of the model's batch ------------------------------------------------
    def _row(self, q: SlateQuery) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, int, bool]:
        rec, L = self.rec, self.max_len
        user = None
        if q.user_id is not None:
            try:
                user = int(rec.ds.user_map.to_dense([q.user_id], where="user_id")[0])
            except DataError as e:
                raise RequestError(str(e), 404) from e
        truncated = False
        if q.history is not None:
            items = list(q.history)
            if q.timestamps is not None and len(q.timestamps) != len(items):
                raise RequestError(f"timestamps: {len(q.timestamps)} values for a history of {len(items)} items")
            if len(items) > L:
                truncated, items = True, items[-L:]
            try:
                dense = rec.ds.item_map.to_dense(items, where="history") if items else np.zeros(0, np.int64)
            except DataError as e:
                raise RequestError(str(e)) from e
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
                               f"history; {self.rec.cfg.model_name} needs at least one")
        hist = np.zeros(L, dtype=np.int64)
        tss = np.zeros(L, dtype=np.int64)
        if len(dense):
            hist[-len(dense):], tss[-len(dense):] = dense, ts
        feats = None
        if self.n_features:
            feats = rec.user_features[user] if user is not None else np.zeros(self.n_features, dtype=np.int64)
        return hist, tss, feats, len(dense), truncated

    def _job(self, q: SlateQuery) -> _Job:
        if not self._makes_slates:
            raise RequestError(f"{self.rec.cfg.model_name} does not generate slates", 409)
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
        hist, ts, feats, used, truncated = self._row(q)
        return _Job((int(q.slate_size), int(beam), exclude), hist, ts, feats, (used, truncated), Future(),
                    time.monotonic() + self.limits.deadline_s)

    # ---- the API -------------------------------------------------------------------------------------------------
    def submit(self, q: SlateQuery) -> Future:
        """Validate now (raises RequestError), decode in the worker's next batch. Cancelling the future before
        the worker reaches it drops the job (a client that went away costs no decoding)."""
        job = self._job(q)
        if self._closed:
            raise RequestError("the server is shutting down", 503, retry_after=1)
        if self._queue.qsize() >= self.limits.max_queue:
            raise RequestError(f"{self._queue.qsize()} requests are already waiting (limit "
                               f"{self.limits.max_queue}); retry later", 503, retry_after=1)
        self._queue.put((job.work, next(self._seq), job))
        return job.future

    def slate(self, q: SlateQuery, timeout: float | None = 60.0) -> SlateAnswer:
        fut = self.submit(q)
        try:
            return fut.result(timeout)
        finally:
            fut.cancel()  # timed out: the worker drops the job

    async def aslate(self, q: SlateQuery, gone: Callable[[], Awaitable[bool]] | None = None,
                     poll_s: float = 0.1) -> SlateAnswer:
        """From an event loop: the answer, or RequestError(504) when the deadline passes. `gone()` is polled
        while waiting (the HTTP app asks whether the client disconnected); either way the job is cancelled."""
        fut = self.submit(q)
        waiter = asyncio.wrap_future(fut)
        end = time.monotonic() + self.limits.deadline_s
        try:
            while True:
                left = end - time.monotonic()
                if left <= 0:
                    raise RequestError(f"no answer within the deadline of {self.limits.deadline_s:g} s", 504)
                done, _ = await asyncio.wait({waiter}, timeout=min(left, poll_s) if gone else left)
                if done:
                    return waiter.result()
                if gone is not None and await gone():
                    raise RequestError("the client disconnected", 499)  # nobody reads it; the job is dropped
        finally:
            fut.cancel()  # no-op once answered; otherwise the worker drops the job

    def slates(self, queries: list[SlateQuery]) -> list[SlateAnswer]:
        """Many at once (batch inference): all submitted, then collected in order."""
        futures = [self.submit(q) for q in queries]
        return [f.result() for f in futures]

    @property
    def ready(self) -> bool:
        """Model loaded, worker alive and not shutting down (the HTTP /readyz)."""
        return self._worker.is_alive() and not self._closed

    @property
    def _makes_slates(self) -> bool:
        return makes_slates(self.rec.model)

    @property
    def is_ctr(self) -> bool:
        return isinstance(self.rec.model, ClickModel)

    def score(self, candidates, user_id=None, history=None, actions=None, timestamps=None,
              timestamp: float | None = None, tab: int | None = None) -> list[float]:
        """Click probabilities of `candidates` shown together at `timestamp` (unix s; default: the
        last history time), after the user's logged exposures (`user_id`) or an explicit `history`
        with its `actions` (feedback codes as in training, `hgrec.data.feedback`: click sources
        1 + clicked + 2 * long view, rating sources the rating; default: the strongest positive) and
        `timestamps` (default: all 0, one session). CTR checkpoints only (HPGR, DIN, HSTU-CTR, MTGR). A
        model trained with side features (`data.features`) gets them by the training code path
        (`CTRFeatures`): the user's profile and counters when `user_id` is known (default buckets
        otherwise, also next to an explicit history), the candidates' side features and counters at
        `timestamp`, and `tab`."""
        from hgrec.data.ctr_samples import request_batch

        cand = self._check_candidates(candidates)
        if history is not None:
            u, (items, act, labels, ts) = self._known_user(user_id), self._explicit_history(history, actions, timestamps)
        elif user_id is not None:
            u = self._known_user(user_id, required=True)
            items, act, labels, ts = self._logged_history(u)
        else:
            raise RequestError("give a user_id or a history")
        if timestamp is not None and not math.isfinite(timestamp):
            raise RequestError("timestamp: must be a finite number")
        data = self.rec.task.data
        try:
            b = request_batch(items, act, labels, ts, cand, None if timestamp is None else int(round(timestamp * 1000)),
                              data.session_gap_ms, data.max_len, data.features, u, tab)
        except DataError as e:
            raise RequestError(str(e)) from e
        return self._click_probabilities({k: torch.from_numpy(v).to(self.rec.device) for k, v in b.items()})

    def _check_candidates(self, candidates) -> np.ndarray:
        """The request's candidates as dense ids, on a CTR checkpoint, within the limits."""
        if len(candidates) > self.limits.max_candidates:
            raise RequestError(f"candidates: {len(candidates)} items is more than this server scores per request "
                               f"({self.limits.max_candidates})")
        if not self.is_ctr:
            raise RequestError(f"{self.rec.cfg.model_name} is a slate model and predicts no click probabilities; "
                               "serve a CTR checkpoint (HPGR, DIN, HSTU-CTR, MTGR) for /v1/score", 409)
        if not candidates:
            raise RequestError("candidates: give at least one item id")
        try:
            return self.rec.ds.item_map.to_dense(list(candidates), where="candidates")
        except DataError as e:
            raise RequestError(str(e)) from e

    def _known_user(self, user_id, required: bool = False) -> int | None:
        """Dense id of `user_id`; None for no id or (next to an explicit history) a new user: default profile."""
        if user_id is None:
            return None
        try:
            return int(self.rec.ds.user_map.to_dense([user_id], where="user_id")[0])
        except DataError as e:
            if required:
                raise RequestError(str(e), 404) from e
            return None

    def _explicit_history(self, history, actions, timestamps):
        """An explicit history -> (items, action codes, labels, times in ms), checked against the source's feedback."""
        rec = self.rec
        try:
            items = rec.ds.item_map.to_dense(list(history), where="history") if history else np.zeros(0, np.int64)
        except DataError as e:
            raise RequestError(str(e)) from e
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

    def _logged_history(self, u: int):
        """The user's logged exposures, exactly as training saw them."""
        data = self.rec.task.data
        rows, c = slice(data.offsets[u], data.offsets[u + 1]), data.columns
        return c["item"][rows], c["action"][rows], c["label"][rows], c["ts_ms"][rows]

    def _click_probabilities(self, batch) -> list[float]:
        if not self._model_lock.acquire(timeout=self.limits.deadline_s):
            raise RequestError(f"the model stayed busy for the deadline of {self.limits.deadline_s:g} s; "
                               "retry later", 503, retry_after=1)
        try:
            with torch.inference_mode():
                p = torch.sigmoid(self.rec.model.predict(batch).float())
        finally:
            self._model_lock.release()
        return [float(v) for v in p.cpu()]

    def close(self, timeout: float = 5.0) -> None:
        """Answer what is queued, then stop the worker (waiting at most `timeout` seconds for it)."""
        self._closed = True
        self._queue.put((math.inf, next(self._seq), None))
        self._worker.join(timeout=timeout)

    # ---- the worker ------------------------------------------------------------------------------------------------
    def _take(self, job: _Job) -> bool:
        """Whether to decode `job`: not if its caller cancelled it or its deadline passed (it is dropped)."""
        if not job.future.set_running_or_notify_cancel():  # cancelled: the client went away
            self.dropped += 1
            return False
        if time.monotonic() > job.deadline:
            job.future.set_exception(RequestError("the deadline passed while the request waited", 504))
            self.dropped += 1
            return False
        return True

    def _collect(self) -> list[_Job] | None:
        """The cheapest waiting jobs (FIFO among equals), for at most max_wait, up to max_batch jobs and
        batch_work of work (a job that would overflow it waits for the next call, unless it is alone)."""
        jobs, work, end = [], 0, None
        while len(jobs) < self.max_batch:
            try:
                if end is None:
                    item = self._queue.get()
                else:
                    left = end - time.perf_counter()
                    item = self._queue.get(timeout=left) if left > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            job = item[2]
            if job is None:
                if jobs:
                    self._queue.put(item)  # stop after this batch
                    break
                return None
            if jobs and work + job.work > self.limits.batch_work:
                self._queue.put(item)  # next call
                break
            if end is None:
                end = time.perf_counter() + self.max_wait
            if self._take(job):
                jobs.append(job)
                work += job.work
        return jobs

    def _run(self) -> None:
        while (jobs := self._collect()) is not None:
            groups: dict[tuple, list[_Job]] = {}
            for job in jobs:
                groups.setdefault(job.key, []).append(job)
            for key, group in sorted(groups.items(), key=lambda kv: kv[1][0].work):  # light work first
                try:
                    answers = self._decode(key, group)
                except Exception as e:  # noqa: BLE001 — the error goes to the callers, the worker lives on
                    for job in group:
                        job.future.set_exception(e)
                    continue
                for job, answer in zip(group, answers):
                    job.future.set_result(answer)

    def _decode(self, key: tuple[int, int, bool], group: list[_Job]) -> list[SlateAnswer]:
        size, beam, exclude = key
        rec = self.rec
        width = max(1, max(j.meta[0] for j in group))  # drop columns that are padding in every row
        batch = context_batch(np.stack([j.history[-width:] for j in group]), np.stack([j.ts[-width:] for j in group]),
                              np.stack([j.features for j in group]) if self.n_features else None, rec.device)
        gen = slate_generator(rec.model, rec.trie, size, beam, exclude, with_scores=True)
        with self._model_lock, torch.inference_mode():
            items, scores = gen(batch)
        self.batches += 1
        items, scores = items.cpu().numpy(), scores.float().cpu().numpy()
        out = []
        for j, row, sc in zip(group, items, scores):
            keep = row > 0
            out.append(SlateAnswer(rec.ds.item_map.to_raw(row[keep]).tolist(),
                                   [None if not math.isfinite(s) else float(s) for s in sc[keep]], *j.meta))
        return out
