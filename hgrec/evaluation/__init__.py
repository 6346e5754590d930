"""Metrics (DESIGN §8) and evaluators."""

from hgrec.evaluation.metrics import (
    auc, coverage, gauc, logloss, ranking_metrics, ranks_of_truth,
)

__all__ = ["auc", "coverage", "gauc", "logloss", "ranking_metrics", "ranks_of_truth"]
