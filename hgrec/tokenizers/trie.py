"""A prefix trie over the valid item codes, as dense tensors for batched constrained decoding.

Depth d has P_d prefixes (depth 0: the empty prefix). `allowed[d]` is a (P_d, K_d) bool tensor of
the tokens that extend a prefix to a valid code; `child[d]` maps (prefix id, token) to the prefix
id at depth d+1 (-1 if invalid). Beam search keeps a prefix id per beam: the mask of its next
step is `allowed[d][prefix_ids]` — one gather, batched over users and beams. `item[leaf]` gives the
item of a complete code. Built with NumPy `unique` per depth: no Python loop over items.
"""

from __future__ import annotations

import numpy as np
import torch


class PrefixTrie:
    def __init__(self, codes: np.ndarray, item_ids: np.ndarray | None = None, vocab_sizes: list[int] | None = None):
        codes = np.asarray(codes, dtype=np.int64)
        n, D = codes.shape
        self.depth = D
        self.vocab_sizes = vocab_sizes or [int(codes[:, d].max()) + 1 for d in range(D)]
        items = np.arange(1, n + 1) if item_ids is None else np.asarray(item_ids)
        if len(np.unique(codes, axis=0)) != n:
            raise ValueError("codes are not unique: disambiguate() them first")
        self.allowed: list[torch.Tensor] = []
        self.child: list[torch.Tensor] = []
        prefix = np.zeros(n, dtype=np.int64)  # prefix id of each item at the current depth
        n_prefix = 1
        # item_prefix[d][item] = the item's prefix id at depth d (-1 for the padding id 0);
        # size[d][prefix] = how many items lie under it. Decoding uses them to skip prefixes whose
        # every item is excluded (already in the slate, or in the history).
        n_rows = int(items.max()) + 1
        self.item_prefix: list[torch.Tensor] = []
        self.size: list[torch.Tensor] = []

        def record(prefix_ids: np.ndarray, count: int) -> None:
            ip = torch.full((n_rows,), -1, dtype=torch.long)
            ip[torch.from_numpy(items.astype(np.int64))] = torch.from_numpy(prefix_ids)
            self.item_prefix.append(ip)
            self.size.append(torch.from_numpy(np.bincount(prefix_ids, minlength=count)))

        record(prefix, 1)
        for d in range(D):
            K = self.vocab_sizes[d]
            key = prefix * K + codes[:, d]
            uniq, nxt = np.unique(key, return_inverse=True)
            allowed = torch.zeros(n_prefix, K, dtype=torch.bool)
            child = torch.full((n_prefix, K), -1, dtype=torch.long)
            allowed[uniq // K, uniq % K] = True
            child[uniq // K, uniq % K] = torch.arange(len(uniq))
            self.allowed.append(allowed)
            self.child.append(child)
            prefix, n_prefix = nxt.reshape(-1), len(uniq)
            record(prefix, n_prefix)
        self.item = torch.zeros(n_prefix, dtype=torch.long)
        self.item[torch.from_numpy(prefix)] = torch.from_numpy(items.astype(np.int64))
        self.codes = torch.from_numpy(codes)
        # item_code[item] = the item's D codes (-1 for ids that are not items): which child an excluded item is under
        self.item_code = torch.full((n_rows, D), -1, dtype=torch.long)
        self.item_code[torch.from_numpy(items.astype(np.int64))] = self.codes

    def to(self, device) -> "PrefixTrie":
        self.allowed = [a.to(device) for a in self.allowed]
        self.child = [c.to(device) for c in self.child]
        self.item = self.item.to(device)
        self.item_prefix = [p.to(device) for p in self.item_prefix]
        self.size = [z.to(device) for z in self.size]
        self.codes = self.codes.to(device)
        self.item_code = self.item_code.to(device)
        return self

    def step(self, prefix_ids: torch.Tensor, depth: int, tokens: torch.Tensor) -> torch.Tensor:
        """Prefix ids after appending `tokens` (-1 where the extension is not a valid code)."""
        return self.child[depth][prefix_ids, tokens]

    def contains(self, codes: torch.Tensor) -> torch.Tensor:
        """(B, D) codes -> (B,) bool: is each a valid full code?"""
        p = torch.zeros(codes.shape[0], dtype=torch.long, device=codes.device)
        ok = torch.ones(codes.shape[0], dtype=torch.bool, device=codes.device)
        for d in range(self.depth):
            nxt = self.child[d][p.clamp(min=0), codes[:, d]]
            ok &= nxt >= 0
            p = nxt
        return ok

    def items_of(self, codes: torch.Tensor) -> torch.Tensor:
        """(B, D) valid codes -> (B,) item ids (0 where the code is not valid)."""
        p = torch.zeros(codes.shape[0], dtype=torch.long, device=codes.device)
        for d in range(self.depth):
            p = self.child[d][p.clamp(min=0), codes[:, d]].where(p >= 0, torch.full_like(p, -1))
        return torch.where(p >= 0, self.item[p.clamp(min=0)], torch.zeros_like(p))
