"""What a source's feedback means, in one place, read from the canonical columns it logs (DESIGN §3),
never from its name: preference pairs, the CTR action codes of a serving request and the graded gains
of the alignment benchmark all ask here.

- **watch** sources (KuaiRand: `clicked`, `effective` = long view, `watch_ratio`, like / follow / hate):
  action code 1 + clicked + 2 * long view (1..4); strength min(watch_ratio, 2) + 2 * (like + follow);
  negative = hate, or not a long view without a like or follow.
- **rating** sources (MovieLens): the action code is the rating (1..5); effective = rating >= 4;
  strength = the rating; negative = rating <= 2.
- **implicit** sources (Amazon reviews, your own logs with only `effective`): strength 1 (ties keep the
  logged order); negative = a logged exposure that is not effective, where the source logs negatives.
"""

from __future__ import annotations

import dataclasses

import numpy as np

WATCH_RATIO_CAP = 2.0  # watch strength: min(watch_ratio, cap) + LIKE_FOLLOW_BONUS * (like + follow)
LIKE_FOLLOW_BONUS = 2.0
LOW_RATING = 2  # rating sources: a rating <= 2 is negative feedback
EFFECTIVE_RATING = 4  # rating sources: a rating >= 4 is an effective (positive) interaction


@dataclasses.dataclass(frozen=True)
class FeedbackScheme:
    kind: str  # watch | rating | implicit

    @property
    def strongest_action(self) -> int:
        """The action code of the strongest positive feedback (a history given without actions gets it)."""
        return 5 if self.kind == "rating" else 4

    @property
    def action_meaning(self) -> str:
        return "the rating" if self.kind == "rating" else "1 + clicked + 2 * long view"

    def labels(self, actions: np.ndarray, label: str) -> np.ndarray:
        """Click (label clicked) or effective (label effective) labels of exposures known only by action code."""
        a = np.asarray(actions, dtype=np.int64)
        if self.kind == "rating":
            return (a >= EFFECTIVE_RATING).astype(np.int8)
        return (((a - 1) >> 1) & 1 if label == "effective" else (a - 1) & 1).astype(np.int8)


def feedback_scheme(ds) -> FeedbackScheme:
    cols = set(ds.interactions.columns)
    if "watch_ratio" in cols or "clicked" in cols:
        return FeedbackScheme("watch")
    if "rating" in cols:
        return FeedbackScheme("rating")
    return FeedbackScheme("implicit")


@dataclasses.dataclass
class Feedback:
    """Per-interaction signals, aligned with `ds.interactions`."""

    strength: np.ndarray  # (n,) float32: how strongly the user engaged (higher = better)
    negative: np.ndarray  # (n,) bool: an exposure with negative feedback
    description: str


def feedback_signals(ds) -> Feedback:
    """Feedback strength and negative-feedback flags of every interaction (module docstring)."""
    df = ds.interactions
    cols = set(df.columns)
    n = df.height
    eff = df["effective"].to_numpy() if "effective" in cols else np.ones(n, dtype=bool)
    if "watch_ratio" in cols:
        wr = np.clip(df["watch_ratio"].fill_null(0.0).fill_nan(0.0).to_numpy(), 0.0, WATCH_RATIO_CAP)
        explicit = np.zeros(n, dtype=bool)
        bonus = np.zeros(n, dtype=np.float32)
        for c in ("liked", "followed"):
            if c in cols:
                v = df[c].fill_null(False).to_numpy()
                bonus += LIKE_FOLLOW_BONUS * v
                explicit |= v
        negative = ~eff & ~explicit
        if "hated" in cols:
            negative |= df["hated"].fill_null(False).to_numpy()
        return Feedback((wr + bonus).astype(np.float32), negative,
                        f"strength = min(watch_ratio, {WATCH_RATIO_CAP:g}) + {LIKE_FOLLOW_BONUS:g}*(like + follow); "
                        "negative = is_hate or (not a long view and no like/follow)")
    if "rating" in cols:
        r = df["rating"].to_numpy().astype(np.float32)
        return Feedback(r, r <= LOW_RATING, f"strength = rating; negative = rating <= {LOW_RATING}")
    negative = ~eff if ds.info.has_negatives else np.zeros(n, dtype=bool)
    return Feedback(np.ones(n, dtype=np.float32), negative, "strength = 1 (logged order); negative = not effective")


def graded_gains(ds) -> np.ndarray:
    """Per-interaction graded relevance (in-slate ranking measures): the watch ratio capped at 2 where the
    source logs one, the rating where it has ratings, else 1."""
    df = ds.interactions
    if "watch_ratio" in df.columns:
        g = np.clip(df["watch_ratio"].fill_null(0.0).fill_nan(0.0).to_numpy(), 0, WATCH_RATIO_CAP)
    elif "rating" in df.columns:
        g = df["rating"].to_numpy()
    else:
        g = np.ones(df.height)
    return g.astype(np.float32)
