"""One way to ask any model for slates: `slate_generator(model, trie, ...)(batch) -> (R, L) item ids`.

- HiGR: Greedy-Slate Beam-Item decoding (`gsbi`);
- TIGER and other single-item SID decoders: the top-L beams of one trie-constrained beam search
  (width max(B, L));
- OneRec-style flat decoders: their own `generate_slates` (M*D tokens);
- next-item models (SASRec, HSTU, BERT4Rec): the top-L items of their full-catalogue scores.
`exclude_history` removes the items of the context history from every slate.
"""

from __future__ import annotations

import math

import torch

from hgrec.decoding.gsbi import gsbi
from hgrec.utils.ranking import top_k
from hgrec.tokenizers.trie import PrefixTrie


def slate_generator(model, trie: PrefixTrie | None, slate_len: int, beam: int = 5, exclude_history: bool = False,
                    use_cache: bool = True):
    name = getattr(model, "registry_name", type(model).__name__.lower())
    if name == "higr":
        return lambda batch: gsbi(model, batch, trie, slate_len, beam, exclude_history, use_cache)
    if hasattr(model, "generate_slates"):
        return lambda batch: model.generate_slates(batch, trie, slate_len, beam, exclude_history, use_cache)
    if hasattr(model, "score_all"):
        @torch.no_grad()
        def top(batch):
            model.eval()
            scores = model.score_all(batch["history"], batch.get("history_ts")).float()
            if exclude_history:
                scores.scatter_(1, batch["history"], -math.inf)
            scores[:, 0] = -math.inf
            return top_k(scores, slate_len)
        return top
    raise TypeError(f"{name} cannot generate slates")
