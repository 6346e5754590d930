"""Small slate logs written in the exact published formats (MIND, FINN.no): the real sets are not on disk.

Each writer returns what it wrote (the requests, in display order, with their clicks), so tests can
compare the parsed dataset with the source.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np

MIND_T0 = dt.datetime(2019, 11, 9, 7, 5, 3)


def mind_time(t: dt.datetime) -> str:
    """MIND's time format: `11/15/2019 8:55:22 AM` (no zero padding of month, day, hour)."""
    clock = f"{(t.hour % 12) or 12}:{t.minute:02d}:{t.second:02d} {'AM' if t.hour < 12 else 'PM'}"
    return f"{t.month}/{t.day}/{t.year} {clock}"


def write_mind(root: Path, n_users: int = 10, n_news: int = 40, per_user: int = 5, seed: int = 0,
               parts=("MINDsmall_train", "MINDsmall_dev")) -> list[dict]:
    """MINDsmall_train/ + MINDsmall_dev/ (behaviors.tsv, news.tsv). Users have `per_user` impressions
    in train and one in dev (a day later); each impression shows 4-8 news, 1-2 clicked. Returns one
    dict per impression: part, impression_id, user, time, history, shown [(news, clicked)]."""
    rng = np.random.default_rng(seed)
    news = [f"N{1000 + i}" for i in range(n_news)]
    cats = ["sports", "news", "lifestyle", "finance"]
    history = {f"U{u}": [news[j] for j in rng.choice(n_news, size=int(rng.integers(0, 4)), replace=False)]
               for u in range(n_users)}
    history["U0"] = [news[3], news[7]]  # user U0 always has a history, U1 never
    history["U1"] = []
    out = []
    for k, part in enumerate(parts):
        folder = root / part
        folder.mkdir(parents=True)
        lines, imp_id = [], 0
        for u in range(n_users):
            for r in range(per_user if k == 0 else 1):
                imp_id += 1
                t = MIND_T0 + dt.timedelta(days=6 * k, hours=r * 3 + u % 5, minutes=u, seconds=r)
                shown_ids = rng.choice(n_news, size=int(rng.integers(4, 9)), replace=False)
                clicks = set(rng.choice(len(shown_ids), size=int(rng.integers(1, 3)), replace=False).tolist())
                shown = [(news[j], p in clicks) for p, j in enumerate(shown_ids)]
                user = f"U{u}"
                imps = " ".join(f"{n}-{int(c)}" for n, c in shown)
                lines.append(f"{imp_id}\t{user}\t{mind_time(t)}\t{' '.join(history[user])}\t{imps}")
                out.append({"part": k, "impression_id": imp_id, "user": user, "time": t, "history": history[user],
                            "shown": shown})
        (folder / "behaviors.tsv").write_text("\n".join(lines) + "\n")
        rows = []
        for i, n in enumerate(news):
            abstract = "" if i % 3 == 0 else f"What happened in story {i}."
            rows.append(f"{n}\t{cats[i % 4]}\t{cats[i % 4]}-sub\tTitle {i} about {cats[i % 4]}\t{abstract}\t"
                        f"https://assets.msn.com/labs/mind/AA{i}.html\t[]\t[]")
        (folder / "news.tsv").write_text("\n".join(rows) + "\n")
    return out


FINN_GROUPS = {0: "PAD", 1: "noClick", 2: "<UNK>", 3: "BAP,antiques,Trøndelag", 4: "MOTOR,,Sogn og Fjordane",
               5: "REAL_ESTATE,,Oppland"}


def write_finn(root: Path, n_users: int = 8, steps: int = 20, slots: int = 25, n_items: int = 60, seed: int = 0,
               dtype=np.int32) -> dict[str, np.ndarray]:
    """data.npz, itemattr.npz, ind2val.json as the release has them: slot 0 of a real step is the
    no-click item (1), then 3-8 items (indices >= 3), then padding 0; padded steps are all 0 (click 0).
    User 0's step 2 clicks an item that is not in its slate. Returns the arrays of data.npz."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    slate = np.zeros((n_users, steps, slots), dtype=dtype)
    click = np.zeros((n_users, steps), dtype=dtype)
    click_idx = np.zeros((n_users, steps), dtype=dtype)
    itype = np.zeros((n_users, steps), dtype=dtype)
    for u in range(n_users):
        for t in range(int(rng.integers(6, steps + 1))):
            k = int(rng.integers(3, 9))
            slate[u, t, 0] = 1
            slate[u, t, 1:k + 1] = rng.choice(np.arange(3, n_items), size=k, replace=False)
            c = int(rng.integers(0, k + 1))  # slot 0 = no click
            click[u, t], click_idx[u, t] = slate[u, t, c], c
            itype[u, t] = 1 + (t % 2)
    click[0, 2] = next(i for i in range(3, n_items) if i not in slate[0, 2])
    lengths = (slate > 0).sum(-1).astype(dtype)
    arrays = {"userId": np.arange(100, 100 + n_users, dtype=dtype), "click": click, "click_idx": click_idx,
              "slate_lengths": lengths, "slate": slate, "interaction_type": itype}
    np.savez_compressed(root / "data.npz", **arrays)
    category = np.array([min(i, 5) if i < 3 else 3 + i % 3 for i in range(n_items)], dtype=np.float64)
    np.savez_compressed(root / "itemattr.npz", category=category)
    (root / "ind2val.json").write_text(json.dumps(
        {"category": {str(k): v for k, v in FINN_GROUPS.items()},
         "interaction_type": {"1": "search", "2": "rec", "0": "<UNK>"}}, ensure_ascii=False))
    return arrays
