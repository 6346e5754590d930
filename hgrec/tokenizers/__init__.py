"""Semantic IDs: residual quantisers (RQ-KMeans, RQ-VAE, CRQ-VAE), collision handling, the prefix
trie used by constrained decoding, and the quality metrics of HiGR Table 1."""

from hgrec.tokenizers.codes import read_codes
from hgrec.tokenizers.collisions import disambiguate
from hgrec.tokenizers.metrics import codebook_stats, collision_rate, concentration, consistency
from hgrec.tokenizers.rq_kmeans import RQKMeans, RQKMeansConfig
from hgrec.tokenizers.trie import PrefixTrie

__all__ = ["PrefixTrie", "RQKMeans", "RQKMeansConfig", "codebook_stats", "collision_rate", "concentration",
           "consistency", "disambiguate", "read_codes"]
