"""Inference for users of the library: load a trained checkpoint once, ask for slates by user id."""

from hgrec.serving.recommend import Recommender

__all__ = ["Recommender"]
