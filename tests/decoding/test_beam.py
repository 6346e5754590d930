"""Trie-constrained beam search's exclusion mask: a code is masked exactly when every item under it is excluded."""

import numpy as np
import torch

from hgrec.decoding.beam import dedupe, exhausted
from hgrec.tokenizers.trie import PrefixTrie


def test_exhausted_masks_exactly_the_codes_whose_items_are_all_excluded():
    rng = np.random.default_rng(0)
    space = np.array([(a, b, c) for a in range(3) for b in range(4) for c in range(2)])
    codes = space[np.sort(rng.choice(len(space), 17, replace=False))]
    trie = PrefixTrie(codes, vocab_sizes=[3, 4, 2])
    excluded = dedupe(torch.from_numpy(rng.integers(0, 18, size=(40, 9))))  # 0 = padding, repeats removed
    for level in range(3):
        prefixes = torch.from_numpy(rng.integers(0, len(trie.allowed[level]), size=40))
        got = exhausted(trie, level, prefixes, excluded)
        for r in range(40):
            ex = set(excluded[r].tolist()) - {0}
            for k in range(trie.allowed[level].shape[1]):
                under = [i + 1 for i, c in enumerate(codes) if trie.item_prefix[level][i + 1] == prefixes[r]
                         and c[level] == k]
                assert bool(got[r, k]) == (bool(under) and set(under) <= ex), (level, r, k)
