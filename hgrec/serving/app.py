"""The HTTP service: `hgrec serve --checkpoint runs/kuairand-pure-higr-s0/best --port 8000`.

    POST /v1/slate   {"user_id": "4012", "slate_size": 5}                      -> a slate with scores
                     {"history": [101, 7, 33], "timestamps": [...], "beam_width": 5, "exclude_history": true}
    POST /v1/score   {"history": [...], "candidates": [...]}                   -> click probabilities
    GET  /healthz                                                              -> {"status": "ok"}
    GET  /v1/model                                                             -> model, version, catalogue, config
    GET  /docs                                                                 -> the OpenAPI schema, browsable

Errors are JSON `{"detail": "..."}` with a 4xx status that names the problem: 404 unknown user,
409 a request the checkpoint cannot serve (click scores from a slate model), 422 everything else
that is wrong with the request (unknown item ids — listed —, empty history, slate larger than the
catalogue, oversize lists, malformed JSON, wrong types). An unexpected failure answers 500 with
its message and the server keeps serving.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import Annotated, Union

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from hgrec.serving.engine import InferenceEngine, RequestError, SlateQuery

MAX_LIST = 10_000  # longest history / candidate list a request may carry (histories are then cut to max_len)
ItemId = Union[int, str]


class SlateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
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
    model_config = ConfigDict(extra="forbid")
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


ERRORS = {404: {"model": Problem}, 409: {"model": Problem}, 422: {"model": Problem}}


def create_app(engine: InferenceEngine) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        engine.close()  # the worker thread ends with the server

    app = FastAPI(title="hgrec", version=engine.info()["hgrec_version"], lifespan=lifespan,
                  description="Slates from a HiGR (or baseline) checkpoint; click probabilities from a CTR checkpoint.")

    @app.exception_handler(RequestError)
    async def _request_error(request: Request, exc: RequestError):
        return JSONResponse({"detail": str(exc)}, status_code=exc.status)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):  # the server answers and lives on
        return JSONResponse({"detail": f"internal error: {type(exc).__name__}: {exc}"}, status_code=500)

    @app.get("/healthz", response_model=Health)
    async def healthz():
        return {"status": "ok"}

    @app.get("/v1/model")
    async def model_info() -> dict:
        return engine.info()

    @app.post("/v1/slate", response_model=SlateResponse, responses=ERRORS)
    async def slate(req: SlateRequest):
        ans = await engine.aslate(SlateQuery(req.user_id, req.history, req.timestamps, req.slate_size,
                                             req.beam_width, req.exclude_history))
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
