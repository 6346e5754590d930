"""The HTTP service: `hgrec serve --checkpoint runs/kuairand-pure-higr-s0/best --port 8000`.

    POST /v1/slate   {"user_id": "4012", "slate_size": 5}                      -> a slate with scores
                     {"history": [101, 7, 33], "timestamps": [...], "beam_width": 5, "exclude_history": true}
    POST /v1/score   {"history": [...], "candidates": [...]}                   -> click probabilities
    GET  /healthz                                                              -> {"status": "ok"} (alive)
    GET  /readyz                                                               -> 200 ready / 503 not (yet)
    GET  /v1/model                                                             -> model, version, catalogue, config
    GET  /docs                                                                 -> the OpenAPI schema, browsable

Errors are JSON `{"detail": "..."}` with a 4xx status that names the problem: 404 unknown user,
409 a request the checkpoint cannot serve (click scores from a slate model), 422 everything else
that is wrong with the request (unknown item ids — listed —, empty history, slate larger than the
catalogue, oversize lists, malformed JSON, wrong types, NaN/inf, more work than `Limits.max_work`);
413 a body above `Limits.max_body_bytes`; 429 (with Retry-After) an overloaded decoder (load shedding: a full
queue, more than `Limits.max_in_flight` slate requests in the server, or an expected wait above `Limits.max_wait_s`,
checked when a request arrives (`Admission`) and again when it is queued); 503 (with Retry-After) shutting down or a click model
busy for a whole deadline; 504 a request not answered within its deadline. Validation errors name the field and the problem, never echo the input. An
unexpected failure answers 500 with its message and the server keeps serving.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import Annotated, Union

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from hgrec.serving.engine import InferenceEngine
from hgrec.serving.requests import RequestError, SlateQuery

MAX_LIST = 10_000  # longest history / candidate list a request may carry (histories are then cut to max_len)
ItemId = Union[int, str]


class SlateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # NaN/Infinity in the JSON: 422
    user_id: ItemId | None = Field(None, description="Source user id; the context is the user's logged history.")
    history: list[ItemId] | None = Field(None, max_length=MAX_LIST,
                                         description="Source item ids, oldest first (instead of, or with, user_id). "
                                                     "Longer than the model's max_len: the most recent are kept.")
    timestamps: list[float] | None = Field(None, max_length=MAX_LIST, description="Unix seconds, one per history item.")
    slate_size: int = Field(5, ge=1, le=1000)
    beam_width: int | None = Field(None, ge=1, le=256, description="Default: the model's configured beam.")
    exclude_history: bool | None = Field(None, description="Default: the model's configured data.mask_history.")


class SlateItem(BaseModel):
    rank: int
    item_id: ItemId
    score: float | None = Field(description="log-probability of the item under the model (null: not defined)")
    description: str


class SlateResponse(BaseModel):
    model: str
    user_id: ItemId | None
    items: list[SlateItem]
    history_used: int
    history_truncated: bool


class ScoreRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # NaN/Infinity in the JSON: 422
    user_id: ItemId | None = Field(None, description="Source user id; the history is the user's logged exposures.")
    history: list[ItemId] | None = Field(None, max_length=MAX_LIST, description="Source item ids, oldest first.")
    actions: list[int] | None = Field(None, max_length=MAX_LIST,
                                      description="Feedback per history item (click sources: 1 + clicked + 2 * long "
                                                  "view; rating sources: the rating). Default: the strongest positive.")
    timestamps: list[float] | None = Field(None, max_length=MAX_LIST, description="Unix seconds, one per history item.")
    timestamp: float | None = Field(None, description="When the candidates are shown (default: the last history time).")
    candidates: list[ItemId] = Field(min_length=1, max_length=MAX_LIST)
    tab: int | None = Field(None, ge=0, le=1000,
                            description="Request context: the app tab (KuaiRand `tab`) for models with side features.")


class ScoreResponse(BaseModel):
    model: str
    scores: list[Annotated[float, Field(ge=0, le=1)]]


class Health(BaseModel):
    status: str


class Problem(BaseModel):
    detail: str


ERRORS = {404: {"model": Problem}, 409: {"model": Problem}, 413: {"model": Problem}, 422: {"model": Problem},
          429: {"model": Problem}, 503: {"model": Problem}, 504: {"model": Problem}}


def validation_detail(errors: list[dict], shown: int = 5) -> str:
    """`body.slate_size: Input should be ...; ...`: where and what, never the input itself (which may be huge,
    or NaN, which JSON cannot carry back); field names are cut to 40 characters."""
    parts = []
    for e in errors[:shown]:
        loc = ".".join(str(x)[:40] for x in e.get("loc", ()))
        parts.append(f"{loc}: {e.get('msg', 'invalid')}" if loc else str(e.get("msg", "invalid")))
    more = f"; and {len(errors) - shown} more" if len(errors) > shown else ""
    return "; ".join(parts) + more


class BodyLimit:
    """ASGI middleware: a request body above `max_bytes` answers 413, by its Content-Length before reading and
    by counting while it streams in; the body is read before the app runs (at most `max_bytes` held)."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length", b"")
        if length.isdigit() and int(length) > self.max_bytes:
            return await self._too_large(send)
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_bytes:
                return await self._too_large(send)
            more = message.get("more_body", False)
        body, replayed = b"".join(chunks), False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # then the real channel: the app sees a disconnect

        await self.app(scope, replay, send)

    async def _too_large(self, send):
        await JSONResponse({"detail": f"request body larger than {self.max_bytes:,} bytes"}, status_code=413,
                           headers={"connection": "close"})({"type": "http"}, None, send)


class Admission:
    """ASGI middleware: every POST /v1/slate is admitted by the engine when it arrives, before its body is read or
    validated (`SlateEngine.admit`: a 429 with Retry-After when the server already holds more slate requests than
    the decoder can answer within `Limits.max_wait_s`), and released when its answer has been sent. Refusing
    costs no parsing, so a burst is shed for about the price of reading its headers."""

    def __init__(self, app, engine: InferenceEngine):
        self.app, self.engine = app, engine

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] != "/v1/slate" or scope["method"] != "POST":
            return await self.app(scope, receive, send)
        try:
            self.engine.admit()
        except RequestError as exc:
            headers = {"retry-after": str(exc.retry_after)} if exc.retry_after is not None else None
            return await JSONResponse({"detail": str(exc)}, status_code=exc.status, headers=headers)(scope, receive, send)
        try:
            await self.app(scope, receive, send)
        finally:
            self.engine.release()


def create_app(engine: InferenceEngine) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        engine.close(timeout=1.0)  # after uvicorn's graceful drain: the worker ends with the server

    app = FastAPI(title="hgrec", version=engine.info()["hgrec_version"], lifespan=lifespan,
                  description="Slates from a HiGR (or baseline) checkpoint; click probabilities from a CTR checkpoint.")

    app.add_middleware(BodyLimit, max_bytes=engine.limits.max_body_bytes)
    app.add_middleware(Admission, engine=engine)  # added last: runs first, before the body is read

    @app.exception_handler(RequestError)
    async def _request_error(request: Request, exc: RequestError):
        headers = {"retry-after": str(exc.retry_after)} if exc.retry_after is not None else None
        return JSONResponse({"detail": str(exc)}, status_code=exc.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        return JSONResponse({"detail": validation_detail(list(exc.errors()))}, status_code=422)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):  # the server answers and lives on
        return JSONResponse({"detail": f"internal error: {type(exc).__name__}: {exc}"}, status_code=500)

    @app.get("/healthz", response_model=Health)
    async def healthz():  # liveness: the process answers
        return {"status": "ok"}

    @app.get("/readyz", response_model=Health, responses={503: {"model": Health}})
    async def readyz():  # readiness: model loaded, decoder worker alive, not shutting down
        ok = engine.ready
        return JSONResponse({"status": "ready" if ok else "not ready"}, status_code=200 if ok else 503)

    @app.get("/v1/model")
    async def model_info() -> dict:
        return engine.info()

    @app.post("/v1/slate", response_model=SlateResponse, responses=ERRORS)
    async def slate(req: SlateRequest, request: Request):
        ans = await engine.aslate(SlateQuery(req.user_id, req.history, req.timestamps, req.slate_size,
                                             req.beam_width, req.exclude_history), gone=request.is_disconnected)
        texts = engine.rec.describe(ans.items) if ans.items else []
        return {"model": engine.rec.cfg.model_name, "user_id": req.user_id, "history_used": ans.history_used,
                "history_truncated": ans.truncated,
                "items": [{"rank": r, "item_id": i, "score": s, "description": t}
                          for r, (i, s, t) in enumerate(zip(ans.items, ans.scores, texts), 1)]}

    @app.post("/v1/score", response_model=ScoreResponse, responses=ERRORS)
    def score(req: ScoreRequest):  # sync: FastAPI runs it in its thread pool
        return {"model": engine.rec.cfg.model_name,
                "scores": engine.score(req.candidates, req.user_id, req.history, req.actions, req.timestamps,
                                       req.timestamp, req.tab)}

    return app
