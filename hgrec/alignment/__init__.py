"""Listwise preference alignment of slate generators (HiGR §3.4): preference pairs built from
logged feedback (`pairs`), ORPO / DPO / SimPO as pure functions of per-step log-probabilities
(`losses`), and `PreferenceModel`, which puts a policy and a loss behind the Trainer's interface.
See docs/alignment.md."""

from hgrec.alignment.losses import dpo_loss, log1mexp, log_odds, orpo_loss, simpo_loss
from hgrec.alignment.model import METHODS, PreferenceModel
from hgrec.alignment.pairs import KINDS, PairSet, feedback_signals, preference_pairs, sid_neighbours

__all__ = ["KINDS", "METHODS", "PairSet", "PreferenceModel", "dpo_loss", "feedback_signals", "log1mexp", "log_odds",
           "orpo_loss", "preference_pairs", "sid_neighbours", "simpo_loss"]
