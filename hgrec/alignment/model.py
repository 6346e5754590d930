"""`PreferenceModel`: a slate generator trained on preference pairs, behind the Trainer's interface.

    forward(batch) -> (sum of the per-pair losses, number of pairs)

`batch` holds the context (history, history_ts, user_features) and two (B, M) slates, `chosen`
(y+) and `rejected` (y-). Both are scored teacher-forced in one pass of the policy
(`HiGR.slate_logprobs` on a (B, 2, M) block: the context is encoded once), then the method's loss
(`hgrec.alignment.losses`) turns the per-step log-probabilities into one loss per pair. So the
ordinary Trainer runs post-training unchanged: checkpoints, --resume, early stopping, DDP.

- ORPO and SimPO are reference-free: no second model exists and no reference forward runs
  (`reference_forwards` stays 0 — the benchmark reports it).
- DPO keeps a frozen copy of the initial policy (no gradients, always in eval mode), kept out of
  `parameters()` and `state_dict()`: the optimizer never sees it and checkpoints do not carry it.

`state_dict()` / `load_state_dict()` are the policy's, so a post-training checkpoint is an ordinary
HiGR checkpoint: `hgrec evaluate`, `hgrec recommend` and another `hgrec align` load it as is.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from hgrec.alignment.losses import dpo_loss, orpo_loss, simpo_loss
from hgrec.models.capabilities import SlateScorer

METHODS = ("orpo", "dpo", "simpo")


class PreferenceModel(nn.Module):
    def __init__(self, policy: nn.Module, method: str = "orpo", alpha: float = 0.1, beta: float | None = None,
                 gamma: float = 1.0):
        super().__init__()
        if method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {method!r}")
        if not isinstance(policy, SlateScorer):
            raise TypeError(f"{type(policy).__name__} cannot score given slates (no slate_logprobs)")
        self.policy = policy
        self.method, self.alpha, self.gamma = method, alpha, gamma
        self.beta = beta if beta is not None else {"dpo": 0.1, "simpo": 2.0}.get(method)
        # A plain list hides the reference from nn.Module: not a parameter, not in state_dict.
        self._frozen: list[nn.Module] = []
        if method == "dpo":
            self._frozen.append(copy.deepcopy(policy).eval().requires_grad_(False))
        self.reference_forwards = 0  # batches the reference scored (0 for ORPO and SimPO)
        self.policy_forwards = 0
        self.reset_stats()

    @property
    def reference(self) -> nn.Module | None:
        return self._frozen[0] if self._frozen else None

    # ---- the policy's weights are the model's weights ----
    def state_dict(self, *args, **kwargs):
        return self.policy.state_dict(*args, **kwargs)

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        return self.policy.load_state_dict(state_dict, strict=strict, assign=assign)

    def _apply(self, fn, recurse: bool = True):
        for ref in self._frozen:  # .to(device) / .float() move the hidden reference too
            ref._apply(fn, recurse)
        return super()._apply(fn, recurse)

    # ---- the loss ----
    def forward(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        slates = torch.stack([batch["chosen"], batch["rejected"]], 1)  # (B, 2, M)
        logp = self.policy.slate_logprobs(batch, slates)  # (B, 2, M, D)
        self.policy_forwards += 1
        D = logp.shape[-1]
        logp = logp.flatten(2)  # (B, 2, T = M*D), step t = m*D + d
        mask = (slates > 0).repeat_interleave(D, -1)  # (B, 2, T)
        if self.method == "orpo":
            loss, margin = orpo_loss(logp[:, 0], logp[:, 1], mask[:, 0], mask[:, 1], self.alpha)
        elif self.method == "simpo":
            loss, margin = simpo_loss(logp[:, 0], logp[:, 1], mask[:, 0], mask[:, 1], self.beta, self.gamma)
        else:
            with torch.no_grad():
                ref = self.reference.slate_logprobs(batch, slates).flatten(2)
            self.reference_forwards += 1
            loss, margin = dpo_loss(logp[:, 0], logp[:, 1], ref[:, 0], ref[:, 1], mask[:, 0], mask[:, 1], self.beta)
        self._record(loss, margin, logp[:, 0], mask[:, 0])
        return loss.sum(), torch.tensor(loss.shape[0], device=loss.device)

    # ---- running statistics for the log ----
    def reset_stats(self) -> None:
        self._stats = {"pairs": 0, "correct": 0, "margin": 0.0, "nll": 0.0, "loss": 0.0}

    @torch.no_grad()
    def _record(self, loss, margin, logp_pos, mask_pos) -> None:
        s = self._stats
        s["pairs"] += int(loss.shape[0])
        s["correct"] += int((margin > 0).sum())
        s["margin"] += float(margin.float().sum())
        s["nll"] += float(-(logp_pos * mask_pos).sum())
        s["loss"] += float(loss.float().sum())

    def pop_stats(self) -> dict[str, float]:
        """Means over the pairs seen since the last call: preference accuracy (margin > 0), margin,
        -log pi(y+|x) per pair; then reset."""
        s = self._stats
        n = max(s["pairs"], 1)
        out = {"accuracy": s["correct"] / n, "margin": s["margin"] / n, "nll_chosen": s["nll"] / n, "pairs": s["pairs"]}
        self.reset_stats()
        return out
