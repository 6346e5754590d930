"""Serving one loaded checkpoint: slates batched as they arrive, click scores in the caller's thread.

    engine = InferenceEngine.from_checkpoint("runs/kuairand-pure-higr-s0/best", max_batch=64, max_wait_ms=5)
    engine.slate(SlateQuery(user_id="4012", slate_size=5))        # blocking; thread-safe
    await engine.aslate(query)                                      # from an event loop (the HTTP app)
    engine.score(candidates, user_id="4012")                        # CTR checkpoints

`InferenceEngine` (what the app and the CLI use) builds one `RequestMapper` (hgrec/serving/requests.py: every
request is checked and mapped to dense ids there), a `SlateEngine` when the model makes slates and a
`ClickEngine` when it predicts clicks; both hold the same model lock, so the model runs one call at a time.

**Dynamic batching** (`SlateEngine`). Requests go into a queue; one worker thread takes the first waiting
request, keeps collecting for at most `max_wait_ms` (or until `max_batch` are in hand), groups them by their
decoding settings (slate size, beam width, history exclusion: one decoder call per group) and runs the model
once per group under `torch.inference_mode`. With `batching=False` the worker takes one request at a time
(the baseline of `benchmarks/serving_load.py`). Torch runs its intra-op thread pool inside that single worker:
set `threads` (default: torch's, i.e. one per core) and leave the HTTP server's own threads to I/O.

**Click scores** (`ClickEngine`) need a CTR checkpoint (HPGR or a CTR baseline): the history's features
(sessions, positions in session, time-gap buckets, actions) are built by the training rule
(`hgrec.data.ctr_samples.request_batch`), so a user's logged exposures score exactly as in evaluation.
Slate checkpoints answer score requests with a 409, CTR-only checkpoints slate requests too.

**Limits** (`Limits`, docs/serving.md): every request has a deadline (504 when it passes: a queued job whose
deadline passed, or whose caller went away, is dropped by the worker without decoding; a click score that
cannot get the model within it is a 503 with Retry-After). **Load shedding**: a slate request that would wait
longer than `max_wait_s` — the decoder calls needed for the jobs queued ahead of it (only those no heavier than
it count, since the cheapest go first; up to `max_batch` jobs and `batch_work` work per call) times the
measured seconds per call (a moving average over recent calls) — or find `max_queue` requests waiting
is refused at once with a 429 and a Retry-After of the expected wait, instead of queueing behind a backlog that
would only grow (`shed` counts them). **Admission** (`admit`, called by the HTTP layer when a slate request
arrives, before its body is read): a hard cap of `max_in_flight` slate requests inside the server (arrived and
not yet answered, wherever they wait: in the event loop, in validation, in the queue or in the decoder), which
the queue cannot see; a count only, since a request's work is unknown before its body is read (measured under
load in docs/serving.md, "Load"). The worker takes the cheapest waiting requests first and puts at most `batch_work` of
work into one decoder call, so heavy requests cannot hold back light ones beyond one heavy decode.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import math
import queue
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import numpy as np
import torch

import hgrec
from hgrec.data.batch import context_batch
from hgrec.data.errors import DataError
from hgrec.decoding.slates import makes_slates, slate_generator
from hgrec.decoding.step import MODES
from hgrec.models.capabilities import ClickModel
from hgrec.serving.recommend import Recommender
from hgrec.serving.requests import Limits, RequestError, RequestMapper, SlateAnswer, SlateQuery, SlateRow

__all__ = ["ClickEngine", "InferenceEngine", "Limits", "RequestError", "RequestMapper", "SlateAnswer", "SlateEngine",
           "SlateQuery"]


def _check_batching(max_batch: int, max_wait_ms: float) -> None:
    if max_batch < 1 or max_wait_ms < 0:
        raise ValueError(f"max_batch must be >= 1 and max_wait_ms >= 0, got {max_batch}, {max_wait_ms}")


@dataclasses.dataclass
class _Job:
    row: SlateRow
    future: Future
    deadline: float = math.inf  # time.monotonic() after which nobody waits for the answer

    @property
    def work(self) -> int:
        return self.row.work


class SlateEngine:
    """Slates of a slate model: validated on arrival (errors go straight back), decoded in batches by one worker."""

    def __init__(self, mapper: RequestMapper, max_batch: int = 64, max_wait_ms: float = 5.0, batching: bool = True,
                 model_lock: threading.Lock | None = None, compile: str | None = None):
        _check_batching(max_batch, max_wait_ms)
        if compile is not None and compile not in MODES:
            raise ValueError(f"compile must be one of {MODES}, got {compile!r}")
        self.compile = compile  # a mode of hgrec.decoding.step: the decoders run their compiled step
        self._warm = threading.Event()  # compiled: set once the worker has compiled the step (/readyz waits for it)
        if compile is None:
            self._warm.set()
        self.mapper, self.rec, self.limits = mapper, mapper.rec, mapper.limits
        self.max_batch, self.max_wait = (max_batch if batching else 1), max_wait_ms / 1000.0
        self.batching = batching
        self.batches = 0  # decoder calls so far (tests and the load benchmark read it)
        self.dropped = 0  # queued jobs never decoded: their caller went away or their deadline passed
        self.shed = 0  # requests refused with a 429 (load shedding)
        self._batch_seconds: float | None = None  # the decoder's recent seconds per call (None: not measured)
        self.in_flight = 0  # slate requests admitted by the HTTP layer and not yet answered (`admit`)
        self._work_lock = threading.Lock()
        self._closed = False
        self._model_lock = threading.Lock() if model_lock is None else model_lock
        self._seq = itertools.count()  # FIFO among requests of equal work
        self._queue: queue.PriorityQueue[tuple[float, int, _Job | None]] = queue.PriorityQueue()
        self._worker = threading.Thread(target=self._run, name="hgrec-engine", daemon=True)
        self._worker.start()

    # ---- the API -------------------------------------------------------------------------------------------------
    def submit(self, q: SlateQuery, shed: bool = True) -> Future:
        """Validate now (raises RequestError), decode in the worker's next batch. Cancelling the future before
        the worker reaches it drops the job (a client that went away costs no decoding). With `shed`, an
        overloaded engine refuses the request (RequestError 429 with Retry-After) instead of queueing it."""
        job = _Job(self.mapper.slate_row(q), Future(), time.monotonic() + self.limits.deadline_s)
        if self._closed:
            raise RequestError("the server is shutting down", 503, retry_after=1)
        with self._work_lock:
            wait = self.expected_wait(job.work)
            if self._queue.qsize() >= self.limits.max_queue:
                self.shed += 1
                raise RequestError(f"{self._queue.qsize()} requests are already waiting (limit "
                                   f"{self.limits.max_queue}); retry later", 429, retry_after=max(1, math.ceil(wait)))
            if shed and wait > self.limits.max_wait_s:
                self.shed += 1
                raise RequestError(f"the decoder is {wait:.2f} s behind (limit {self.limits.max_wait_s:g} s); "
                                   "retry later", 429, retry_after=max(1, math.ceil(wait)))
            self._queue.put((job.work, next(self._seq), job))
        return job.future

    def admit(self) -> None:
        """Count one more slate request inside the server, or refuse it (RequestError 429 with Retry-After) when
        `max_in_flight` are already inside. Only a count: the request's work is unknown until its body is read, and
        a light request must not be refused for heavy ones ahead of it (`submit` then applies the work-aware wait
        rule). Every admitted request must be `release`d once answered (the HTTP middleware does both)."""
        with self._work_lock:
            ahead = self.in_flight
            if ahead >= self.limits.max_in_flight:
                self.shed += 1
                wait = 0.0 if self._batch_seconds is None else math.ceil(ahead / self.max_batch) * self._batch_seconds
                raise RequestError(f"{ahead} slate requests are already in the server (limit "
                                   f"{self.limits.max_in_flight}); retry later", 429, retry_after=max(1, math.ceil(wait)))
            self.in_flight += 1

    def release(self) -> None:
        """One admitted request answered (whatever the answer)."""
        with self._work_lock:
            self.in_flight -= 1

    def expected_wait(self, work: int = 0) -> float:
        """Seconds a new request of `work` would wait in the queue: the worker takes the cheapest jobs first, so
        the decoder calls needed for the jobs no heavier than it (at most `max_batch` jobs and `batch_work` work
        per call) times the measured seconds per call (0 until the first decode; its own decoding is not waiting,
        so a request with nothing ahead of it is never shed)."""
        if self._batch_seconds is None:
            return 0.0
        with self._queue.mutex:
            ahead = [w for w, _, job in self._queue.queue if job is not None and w <= work]
        calls = max(math.ceil(len(ahead) / self.max_batch), math.ceil(sum(ahead) / self.limits.batch_work))
        return calls * self._batch_seconds

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
        futures = [self.submit(q, shed=False) for q in queries]  # the caller asked for all of them
        return [f.result() for f in futures]

    @property
    def ready(self) -> bool:
        """Worker alive, warmed up (compiled decoding: the step is compiled) and not shutting down."""
        return self._worker.is_alive() and self._warm.is_set() and not self._closed

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

    def _warm_up(self) -> None:
        """Compile the decoding step before the first request: decode for one user, then for two (with "default"
        the graph is dynamic in batch and context size, so the second call checks that nothing recompiles)."""
        rec = self.rec
        users = rec.ds.user_map.to_raw(np.flatnonzero(rec.seq.lengths > 0)[:2]).tolist()
        try:
            for n in (1, 2):
                rows = [self.mapper.slate_row(SlateQuery(user_id=u)) for u in users[:n]]
                self._decode(rows[0].key, [_Job(r, Future()) for r in rows])
        finally:
            self._warm.set()

    def _run(self) -> None:
        if not self._warm.is_set():
            self._warm_up()
        while (jobs := self._collect()) is not None:
            groups: dict[tuple, list[_Job]] = {}
            for job in jobs:
                groups.setdefault(job.row.key, []).append(job)
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
        rec, rows = self.rec, [j.row for j in group]
        width = max(1, max(r.used for r in rows))  # drop columns that are padding in every row
        batch = context_batch(np.stack([r.history[-width:] for r in rows]), np.stack([r.ts[-width:] for r in rows]),
                              np.stack([r.features for r in rows]) if self.mapper.n_features else None, rec.device)
        gen = slate_generator(rec.model, rec.trie, size, beam, exclude, with_scores=True, compile=self.compile or False)
        with self._model_lock, torch.inference_mode():
            t0 = time.perf_counter()
            items, scores = gen(batch)
            took = time.perf_counter() - t0
        self._batch_seconds = took if self._batch_seconds is None else 0.8 * self._batch_seconds + 0.2 * took
        self.batches += 1
        items, scores = items.cpu().numpy(), scores.float().cpu().numpy()
        out = []
        for r, row, sc in zip(rows, items, scores):
            keep = row > 0
            out.append(SlateAnswer(rec.ds.item_map.to_raw(row[keep]).tolist(),
                                   [None if not math.isfinite(s) else float(s) for s in sc[keep]], r.used, r.truncated))
        return out


class ClickEngine:
    """Click probabilities of a CTR model, computed in the caller's thread (one model call at a time)."""

    def __init__(self, mapper: RequestMapper, model_lock: threading.Lock | None = None):
        self.mapper, self.rec, self.limits = mapper, mapper.rec, mapper.limits
        self._model_lock = threading.Lock() if model_lock is None else model_lock

    def score(self, candidates, user_id=None, history=None, actions=None, timestamps=None,
              timestamp: float | None = None, tab: int | None = None) -> list[float]:
        """Click probabilities of `candidates` shown together at `timestamp` (unix s; default: the
        last history time), after the user's logged exposures (`user_id`) or an explicit `history`
        with its `actions` (feedback codes as in training, `hgrec.data.feedback`: click sources
        1 + clicked + 2 * long view, rating sources the rating; default: the strongest positive) and
        `timestamps` (default: all 0, one session). A model trained with side features (`data.features`)
        gets them by the training code path (`CTRFeatures`): the user's profile and counters when `user_id`
        is known (default buckets otherwise, also next to an explicit history), the candidates' side
        features and counters at `timestamp`, and `tab`."""
        from hgrec.data.ctr_samples import request_batch

        m = self.mapper
        cand = m.candidates(candidates)
        if history is not None:
            u, (items, act, labels, ts) = m.user(user_id), m.explicit_history(history, actions, timestamps)
        elif user_id is not None:
            u = m.user(user_id, required=True)
            items, act, labels, ts = m.logged_history(u)
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


class InferenceEngine:
    """One checkpoint served: a slate engine and/or a click engine over one request mapper and one model lock."""

    def __init__(self, rec: Recommender, max_batch: int = 64, max_wait_ms: float = 5.0, batching: bool = True,
                 threads: int | None = None, checkpoint: str | Path | None = None, limits: Limits | None = None,
                 compile: str | None = None):
        _check_batching(max_batch, max_wait_ms)
        if threads is not None:
            torch.set_num_threads(threads)
        self.rec, self.checkpoint = rec, str(checkpoint) if checkpoint is not None else None
        self.max_batch, self.max_wait = (max_batch if batching else 1), max_wait_ms / 1000.0
        self.batching = batching
        self.mapper = RequestMapper(rec, limits)
        self.limits, self.max_len, self.num_items = self.mapper.limits, self.mapper.max_len, self.mapper.num_items
        self._closed = False
        self._model_lock = threading.Lock()  # decoding and click scores: one model call at a time
        self.slate_engine = (SlateEngine(self.mapper, max_batch, max_wait_ms, batching, self._model_lock, compile)
                             if makes_slates(rec.model) else None)
        self.click_engine = ClickEngine(self.mapper, self._model_lock) if isinstance(rec.model, ClickModel) else None

    @classmethod
    def from_checkpoint(cls, path, root=None, cache=None, device: str = "cpu", **kw) -> InferenceEngine:
        return cls(Recommender.from_checkpoint(path, root=root, cache=cache, device=device), checkpoint=path, **kw)

    # ---- what the model is -------------------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        cfg = self.rec.cfg
        return {"model": cfg.model_name, "hgrec_version": hgrec.__version__, "checkpoint": self.checkpoint,
                "dataset": cfg.data.dataset, "catalogue_size": int(self.num_items),
                "users": int(self.rec.ds.num_users), "max_len": int(self.max_len),
                "default_beam_width": int(cfg.data.beam), "slates": self.slate_engine is not None,
                "click_scores": self.is_ctr,
                "batching": {"enabled": self.batching, "max_batch": self.max_batch,
                             "max_wait_ms": self.max_wait * 1000},
                "compiled_decoding": self.slate_engine.compile if self.slate_engine is not None else None,
                "limits": dataclasses.asdict(self.limits),
                "config": cfg.to_dict()}

    @property
    def is_ctr(self) -> bool:
        return self.click_engine is not None

    @property
    def ready(self) -> bool:
        """Model loaded, worker alive (slate models) and not shutting down (the HTTP /readyz)."""
        return not self._closed and (self.slate_engine is None or self.slate_engine.ready)

    @property
    def batches(self) -> int:
        return self.slate_engine.batches if self.slate_engine is not None else 0

    @property
    def dropped(self) -> int:
        return self.slate_engine.dropped if self.slate_engine is not None else 0

    @property
    def shed(self) -> int:
        return self.slate_engine.shed if self.slate_engine is not None else 0

    # ---- slates -----------------------------------------------------------------------------------------------
    def _slates(self) -> SlateEngine:
        if self.slate_engine is None:
            raise RequestError(f"{self.rec.cfg.model_name} does not generate slates", 409)
        return self.slate_engine

    def submit(self, q: SlateQuery, shed: bool = True) -> Future:
        return self._slates().submit(q, shed)

    def slate(self, q: SlateQuery, timeout: float | None = 60.0) -> SlateAnswer:
        return self._slates().slate(q, timeout)

    async def aslate(self, q: SlateQuery, gone: Callable[[], Awaitable[bool]] | None = None,
                     poll_s: float = 0.1) -> SlateAnswer:
        return await self._slates().aslate(q, gone, poll_s)

    def slates(self, queries: list[SlateQuery]) -> list[SlateAnswer]:
        return self._slates().slates(queries)

    def admit(self) -> None:
        """`SlateEngine.admit` (a no-op for CTR-only checkpoints: their slate requests answer 409)."""
        if self.slate_engine is not None:
            self.slate_engine.admit()

    def release(self) -> None:
        if self.slate_engine is not None:
            self.slate_engine.release()

    # ---- click scores -----------------------------------------------------------------------------------------
    def score(self, candidates, user_id=None, history=None, actions=None, timestamps=None,
              timestamp: float | None = None, tab: int | None = None) -> list[float]:
        """`ClickEngine.score`; CTR checkpoints only (HPGR, DIN, HSTU-CTR, MTGR)."""
        if self.click_engine is None:
            self.mapper.candidate_limit(candidates)  # over the ceiling is a 422 before anything else
            raise RequestError(f"{self.rec.cfg.model_name} is a slate model and predicts no click probabilities; "
                               "serve a CTR checkpoint (HPGR, DIN, HSTU-CTR, MTGR) for /v1/score", 409)
        return self.click_engine.score(candidates, user_id, history, actions, timestamps, timestamp, tab)

    def close(self, timeout: float = 5.0) -> None:
        """Answer what is queued, then stop the worker (waiting at most `timeout` seconds for it)."""
        self._closed = True
        if self.slate_engine is not None:
            self.slate_engine.close(timeout)
