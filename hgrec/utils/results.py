"""The one results schema every benchmark writes (docs/benchmarks.md, DESIGN §10).

`write_results` stamps the machine, commit and command, writes `<name>.json` atomically and
generates `<name>.md` from it. Nothing else writes a results file, and nobody edits one by hand.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import platform
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hgrec.utils.atomic import atomic_write_text

_KEY = re.compile(r"^[a-z_]+(@\d+)?$")
_ROW_KEYS = {"dataset": str, "model": str, "variant": str, "seed": int, "metrics": dict}


def machine_info() -> dict[str, Any]:
    """CPU model, core count, GPU (if torch sees one) and library versions of this machine."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info: dict[str, Any] = {
        "cpu": cpu,
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "gpu": None,
        "python": platform.python_version(),
        "os": platform.platform(),
    }
    try:
        import torch

        info["torch"] = torch.__version__
        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
    except ImportError:
        info["torch"] = None
    for mod in ("polars", "pyarrow", "numpy"):
        try:
            info[mod] = __import__(mod).__version__
        except ImportError:
            pass
    try:
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        info["memory_gib"] = round(mem / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        pass
    return info


def git_commit(cwd: str | os.PathLike | None = None) -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd, capture_output=True, text=True
        ).stdout.strip()
        return out + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def validate_rows(rows: Sequence[dict[str, Any]]) -> None:
    """Raise ValueError naming the first row that breaks the schema."""
    if not rows:
        raise ValueError("a results file needs at least one row")
    for i, row in enumerate(rows):
        for key, typ in _ROW_KEYS.items():
            if not isinstance(row.get(key), typ) or (typ is int and isinstance(row.get(key), bool)):
                raise ValueError(f"row {i}: '{key}' missing or not {typ.__name__}: {row.get(key)!r}")
        for section in ("metrics", "timing"):
            for name, value in (row.get(section) or {}).items():
                if not _KEY.match(name):
                    raise ValueError(f"row {i}: {section} key {name!r} is not lower-case name@k")
                if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
                    raise ValueError(f"row {i}: {section} {name!r} = {value!r} is not a finite number")


def write_results(
    name: str,
    rows: list[dict[str, Any]],
    out_dir: str | os.PathLike = "benchmarks/results",
    command: str | None = None,
    notes: str | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write `<out_dir>/<name>.json` (atomic) and the Markdown table generated from it."""
    validate_rows(rows)
    doc: dict[str, Any] = {
        "benchmark": name,
        "created": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        "git_commit": git_commit(Path(__file__).parent),
        "machine": machine_info(),
        "command": command or " ".join(["python"] + sys.argv),
        "rows": rows,
    }
    if notes:
        doc["notes"] = notes
    if extra:
        doc.update(extra)
    out = Path(out_dir)
    path = out / f"{name}.json"
    atomic_write_text(path, json.dumps(doc, indent=1) + "\n")
    atomic_write_text(out / f"{name}.md", render_markdown(doc))
    return path


def format_value(v: Any) -> str:
    """A number as the results tables print it (4 significant digits below 1, thousands separators above)."""
    if isinstance(v, float):
        if v == 0:
            return "0"
        if abs(v) >= 1000:
            return f"{v:,.0f}"
        if abs(v) >= 1:
            return f"{v:.3f}".rstrip("0").rstrip(".")
        return f"{v:.4g}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def render_markdown(doc: dict[str, Any]) -> str:
    """One Markdown table from a results document: a row per JSON row, a column per metric/timing key."""
    rows = doc["rows"]
    fixed = ["dataset", "model", "variant", "seed"] + (["truth"] if any("truth" in r for r in rows) else [])
    metric_keys: list[str] = []
    timing_keys: list[str] = []
    for r in rows:
        metric_keys += [k for k in r.get("metrics", {}) if k not in metric_keys]
        timing_keys += [k for k in r.get("timing", {}) if k not in timing_keys]
    header = fixed + metric_keys + [f"{k} (timing)" if k in metric_keys else k for k in timing_keys]
    lines = [
        f"# {doc['benchmark']}",
        "",
        "Generated from `" + doc["benchmark"] + ".json` by `hgrec.utils.results`; do not edit by hand.",
        "",
        f"- command: `{doc['command']}`",
        f"- created: {doc['created']}, commit `{doc['git_commit']}`",
        f"- machine: {doc['machine'].get('cpu')}, {doc['machine'].get('cores')} cores, "
        f"GPU: {doc['machine'].get('gpu') or 'none'}, torch {doc['machine'].get('torch')}",
    ]
    if doc.get("notes"):
        lines += ["", doc["notes"]]
    lines += ["", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        cells = [format_value(r.get(k, "")) for k in fixed]
        cells += [format_value(r["metrics"][k]) if k in r.get("metrics", {}) else "" for k in metric_keys]
        cells += [format_value(r["timing"][k]) if k in r.get("timing", {}) else "" for k in timing_keys]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
