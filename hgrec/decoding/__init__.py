"""Inference over semantic IDs: trie-constrained beam search, HiGR's GSBI, flat slate decoding."""

from hgrec.decoding.beam import Beams, item_beam_search
from hgrec.decoding.gsbi import gsbi

__all__ = ["Beams", "gsbi", "item_beam_search"]
