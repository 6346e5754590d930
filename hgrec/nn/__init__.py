"""Building blocks shared by every model: norms, attention with a KV cache, FFNs, transformer and HSTU blocks."""

from hgrec.nn.attention import KVCache, MultiHeadAttention, StaticCaches, StaticKVCache, advance_caches, reorder_caches
from hgrec.nn.blocks import FeedForward, RMSNorm, TransformerBlock
from hgrec.nn.hstu import HSTUBlock, RelativeBucketedBias

__all__ = ["FeedForward", "HSTUBlock", "KVCache", "MultiHeadAttention", "RMSNorm", "RelativeBucketedBias",
           "StaticCaches", "StaticKVCache", "TransformerBlock", "advance_caches", "reorder_caches"]
