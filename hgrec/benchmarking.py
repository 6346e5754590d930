"""The one benchmark harness: run specs, reuse and collect, per-seed aggregation, results written after
every run. Each script under benchmarks/ declares its grid (a list of `RunSpec`) and the rows it makes of
each run; everything else is here.

    bench = Bench("slate_variants", out_dir=Path("/tmp/runs"), reuse=True)
    for spec in [RunSpec("configs/slates/ml-100k/higr.yaml", "ml-100k", "higr", "hybrid", seed,
                         {"model.item_ids": True}) for seed in (0, 1, 2)]:
        run = bench.run(spec)                 # trained, picked up (--reuse) or missing (--collect)
        if run.result:
            bench.rows.append({...})          # DESIGN §10 rows
        bench.save(done=False)                # a killed benchmark keeps what it measured ("Partial")
    bench.save(done=True, notes=seed_table(bench.rows, COLUMNS))

Markdown comes only from the JSON rows (`seed_table`, `hgrec.utils.results.render_markdown`).
"""

from __future__ import annotations

import dataclasses
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from hgrec.pipelines import load_config, train
from hgrec.training.checkpoint import finished_run
from hgrec.training.config import RunConfig
from hgrec.utils.results import write_results


def override_list(overrides: Mapping[str, Any]) -> list[str]:
    """{"model.item_ids": True, "trainer.lr": 2e-3} -> ["model.item_ids=true", "trainer.lr=0.002"] (YAML values)."""
    out = []
    for key, value in overrides.items():
        text = yaml.safe_dump(value, default_flow_style=True, width=10**6).strip()
        out.append(f"{key}={text.removesuffix('...').strip()}")
    return out


def parse_overrides(items: Iterable[str]) -> dict[str, Any]:
    """["model.item_ids=true"] -> {"model.item_ids": True}: the command line's overrides as a dict."""
    out = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise SystemExit(f"override {item!r}: expected key.path=value")
        out[key.strip()] = yaml.safe_load(text)
    return out


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """One training run of a benchmark: a config file, its row labels, a seed and overrides."""

    config: str | Path  # the run's YAML (configs/...)
    dataset: str
    model: str
    variant: str = "default"
    seed: int = 0
    overrides: Mapping[str, Any] = dataclasses.field(default_factory=dict)  # key.path -> value
    name: str | None = None  # the run's folder name; default `<dataset>-<model>-<variant>-s<seed>`

    @property
    def run_name(self) -> str:
        return self.name or f"{self.dataset}-{self.model}-{self.variant}-s{self.seed}"


@dataclasses.dataclass
class Run:
    spec: RunSpec
    cfg: RunConfig
    result: dict | None  # None: --collect and the run is not there
    seconds: float
    reused: bool
    dir: Path  # the run's folder (a reused run: the folder it was found in)


class Bench:
    """A benchmark in progress: its runs (trained, reused or missing), its rows, its results file."""

    def __init__(self, name: str, *, out_dir: Path, results_dir: Path = Path("benchmarks/results"),
                 reuse: bool = False, collect: bool = False, ignore: Mapping[str, set[str]] | None = None,
                 command: str | None = None):
        self.name, self.out_dir, self.results_dir = name, Path(out_dir), Path(results_dir)
        self.reuse, self.collect, self.ignore = reuse or collect, collect, ignore
        self.command = command or "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]])
        self.rows: list[dict[str, Any]] = []
        self.missing: list[str] = []

    def config(self, spec: RunSpec) -> RunConfig:
        return load_config(spec.config, [*override_list(spec.overrides), f"trainer.seed={spec.seed}",
                                         f"trainer.out_dir={self.out_dir}", f"trainer.run_name={spec.run_name}",
                                         "trainer.overwrite=true", "trainer.progress=false",
                                         "trainer.tensorboard=false"])

    def run(self, spec: RunSpec, fn: Callable[[RunConfig], dict] = train, elsewhere: Iterable[Path] = ()) -> Run:
        """Train `spec` (with `fn`: train, align, ...), or pick up its finished run with the same settings, in its
        own folder or, with `elsewhere`, in another (a grid point that another study already ran)."""
        cfg = self.config(spec)
        run_dir = Path(cfg.trainer.out_dir) / cfg.trainer.run_name
        if self.reuse:
            for where in dict.fromkeys([run_dir, *map(Path, elsewhere)]):
                if (done := finished_run(cfg, where, self.ignore)) is not None:
                    return Run(spec, cfg, done, float(done.get("train_seconds", float("nan"))), True, where)
        if self.collect:
            self.missing.append(f"{spec.dataset} {spec.model} {spec.variant} seed {spec.seed}")
            print("not run yet:", spec.run_name, flush=True)
            return Run(spec, cfg, None, float("nan"), False, run_dir)
        t0 = time.perf_counter()
        result = fn(cfg)
        return Run(spec, cfg, result, time.perf_counter() - t0, False, run_dir)

    def save(self, done: bool, notes: str = "", extra: dict[str, Any] | None = None) -> Path | None:
        """Write `<results_dir>/<name>.{json,md}` (atomic); before the end, marked partial."""
        if not self.rows:
            return None
        head = "" if done else "**Partial: the benchmark was still running when this was written.**\n\n"
        if self.collect:
            head += ("Collected (`--collect`) from the finished runs: the `seeds` column says how many seeds each "
                     "row holds; missing runs: " + (", ".join(self.missing) or "none") + ".\n\n")
        return write_results(self.name, self.rows, out_dir=self.results_dir, notes=head + notes,
                             command=self.command, extra=extra)


def tokenized(config: str | Path, dataset: str, data_root: str | Path | None, out: Path, sources: list[str] | None = None,
              method: str | None = None, checkpoint: str | None = None,
              overrides: Mapping[str, Any] | None = None) -> str:
    """The codes.parquet of `hgrec tokenize --config config` (seed 0 unless `overrides` say), made on first use and shared by every
    run of every benchmark with the same `out`. `sources` replaces the config's item-vector sources (e.g.
    collab; `model`: the item table of the trained run `checkpoint`), `method` its tokenizer (random: the
    random-ID control), `overrides` any other field of the tokenize config (e.g. {"items.train_region":
    "next_item"}); each combination gets its own folder."""
    from hgrec.pipelines import load_tokenize_config, tokenize

    if sources:
        out = out.with_name(out.name + "-" + "-".join(sources)
                            + (f"-{Path(checkpoint).parent.name}" if checkpoint else ""))
    if overrides:
        out = out.with_name(out.name + "-" + "-".join(f"{k.rsplit('.', 1)[-1]}_{v}" for k, v in overrides.items()))
    seed = (overrides or {}).get("tokenizer.seed", 0)
    path = out / f"{dataset}-{method or 'crq_vae'}-s{seed}" / "codes.parquet"
    if not path.exists():
        over = [f"items.sources=[{','.join(sources)}]"] if sources else []
        over += [f"tokenizer.method={method}"] if method else []
        over += [f"items.model_checkpoint={checkpoint}"] if checkpoint else []
        over += override_list(overrides or {})
        root = [f"data.root={data_root}"] if data_root is not None else []  # None: the embedded sample
        run = load_tokenize_config(config, [*root, f"out_dir={out}", *over])
        print("tokenizing", dataset, {k: round(v, 4) for k, v in tokenize(run, log=lambda s: None).items()
                                       if k in ("collision", "concentration", "consistency")}, flush=True)
    return str(path)


def mean_std(values: list[float], fmt: str = ".4f") -> str:
    """`.0123 ± .0004` over seeds; one value as it is; a count that every seed shares as `1,234,567`."""
    if len(set(values)) == 1 and float(values[0]).is_integer() and abs(values[0]) >= 10:
        return f"{int(values[0]):,}"
    if len(values) == 1:
        return f"{values[0]:{fmt}}"
    return f"{statistics.mean(values):{fmt}} ± {statistics.stdev(values):{fmt}}"


# (header, metric key, row fields it reads from, e.g. {"truth": ...}[, number format]); a key `timing:train_s`
# reads the row's timing instead of its metrics.
Column = tuple[str, str, Mapping[str, Any]] | tuple[str, str, Mapping[str, Any], str]


def _value(row: dict[str, Any], key: str) -> Any:
    part, _, name = key.rpartition(":") if key.startswith("timing:") else ("metrics", "", key)
    return (row.get(part) or {}).get(name)


def seed_table(rows: list[dict[str, Any]], columns: list[Column],
               group: tuple[str, ...] = ("dataset", "model", "variant")) -> str:
    """A Markdown table from JSON rows: one line per `group` (in first-seen order), each column the mean ±
    std over seeds of its metric in the rows matching its fields, and the number of seeds."""
    keys: list[tuple] = []
    for r in rows:
        if tuple(r[g] for g in group) not in keys:
            keys.append(tuple(r[g] for g in group))
    lines = ["| " + " | ".join([*group, *(c[0] for c in columns), "seeds"]) + " |",
             "|" + "---|" * (len(group) + len(columns) + 1)]
    for key in keys:
        mine = [r for r in rows if tuple(r[g] for g in group) == key]
        cells, seeds = [], set()
        for _, metric, where, *fmt in columns:
            vals = {r["seed"]: _value(r, metric) for r in mine
                    if _value(r, metric) is not None and all(r.get(k) == v for k, v in where.items())}
            if not metric.startswith("timing:"):
                seeds |= set(vals)
            cells.append(mean_std([vals[s] for s in sorted(vals)], *fmt) if vals else "")
        if seeds:
            lines.append("| " + " | ".join([*map(str, key), *cells, str(len(seeds))]) + " |")
    return "\n".join(lines)
