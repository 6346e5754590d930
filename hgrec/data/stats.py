"""`hgrec data stats`: the figures that identify a dataset (and that the tests pin to the verified ones)."""

from __future__ import annotations

import datetime as dt

import numpy as np

from hgrec.data.dataset import Dataset
from hgrec.data.views import DEFAULT_SESSION_GAP_MS, num_sessions


def dataset_stats(ds: Dataset, session_gap_ms: int = DEFAULT_SESSION_GAP_MS) -> dict:
    df = ds.interactions
    lengths = np.bincount(df["user_id"].to_numpy(), minlength=ds.num_users)
    q = np.quantile(lengths, [0.25, 0.5, 0.75, 0.9])
    out = {
        "dataset": ds.name,
        "users": ds.num_users,
        "items": ds.num_items,
        "interactions": df.height,
        "density": df.height / (ds.num_users * ds.num_items),
        "seq_len": {"min": int(lengths.min()), "p25": float(q[0]), "median": float(q[1]), "mean": float(lengths.mean()),
                    "p75": float(q[2]), "p90": float(q[3]), "max": int(lengths.max())},
        "sessions": num_sessions(ds, session_gap_ms),
        "session_gap_min": session_gap_ms / 60000,
    }
    for col in ("effective", "clicked"):
        if col in df.columns:
            out[f"{col}_share"] = float(df[col].mean())
            out[f"{col}_count"] = int(df[col].sum())
    if ds.info.has_timestamps:
        t = df["ts"]
        fmt = lambda ms: dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")  # noqa: E731
        out["time_range"] = [fmt(t.min()), fmt(t.max())]
    else:
        out["time_range"] = None
    out["effective_definition"] = ds.info.effective_definition
    out["text"] = ds.info.text_note or ("derived" if ds.info.text_is_derived else "source text")
    return out


def format_stats(s: dict) -> list[tuple[str, str]]:
    """(label, value) pairs for a terminal table."""
    sl = s["seq_len"]
    rows = [
        ("users", f"{s['users']:,}"),
        ("items", f"{s['items']:,}"),
        ("interactions", f"{s['interactions']:,}"),
        ("density", f"{s['density']:.5f}"),
    ]
    if "effective_share" in s:
        rows.append(("positives (effective) share", f"{s['effective_share']:.4f} ({s['effective_count']:,})"))
    if "clicked_share" in s:
        rows.append(("clicked share", f"{s['clicked_share']:.4f} ({s['clicked_count']:,})"))
    rows += [
        ("sequence length min/p25/median/mean/p75/p90/max",
         f"{sl['min']} / {sl['p25']:g} / {sl['median']:g} / {sl['mean']:.2f} / {sl['p75']:g} / {sl['p90']:g} / {sl['max']}"),
        (f"sessions (gap > {s['session_gap_min']:g} min)", f"{s['sessions']:,}"),
        ("time range", " .. ".join(s["time_range"]) if s["time_range"] else "order only (no timestamps)"),
        ("effective means", s["effective_definition"]),
        ("item text", s["text"]),
    ]
    return rows
