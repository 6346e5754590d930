"""Preference losses as pure functions of per-step log-probabilities (no model, no trainer).

Every function takes the teacher-forced log-probabilities log pi(y_t | x, y_<t) of the T = M*D
semantic-ID steps of a preferred slate y+ and a rejected slate y- — (B, T) tensors, padding steps
masked out by (B, T) boolean masks — and returns two (B,) tensors: the per-pair loss and the
per-pair *margin*, the method's implicit reward of y+ minus that of y- (> 0: the pair is ordered
the right way; its mean sign is the "preference accuracy" we log).

- ORPO as HiGR writes it (arXiv 2512.24787 §3.4.1):
      l(x, y_t) = log pi(y_t|.) / (1 - pi(y_t|.))                         eq. (13), per step
      z(x, y)   = sum_{t=1}^{MD} l(x, y_t)                                 slate-level log-odds
      L_post    = -log pi(y+|x) - alpha * log sigmoid(z(y+) - z(y-))       eq. (14)
  Note: the ORPO paper (Hong et al. 2024, arXiv 2403.07691) takes the odds of the length-averaged
  *sequence* probability; HiGR sums per-step log-odds, and that is what we implement.
- DPO (Rafailov et al. 2023, arXiv 2305.18290), with a frozen reference policy:
      L = -log sigmoid(beta * [(log pi(y+) - log pi_ref(y+)) - (log pi(y-) - log pi_ref(y-))])
- SimPO (Meng et al. 2024, arXiv 2405.14734), reference-free and length-normalised:
      L = -log sigmoid(beta / |y+| * log pi(y+) - beta / |y-| * log pi(y-) - gamma)
  with |y| the number of non-padding steps.

Numerics: log(1 - p) is computed as log1mexp(log p) (`log(-expm1(x))` near 0, `log1p(-exp(x))`
below -ln 2; Maechler 2012) on log p clamped to <= -LOGP_CEIL, so a step the model is certain of
(p -> 1, log p -> 0) gives a large but finite log-odds (about 13.8 per step) and finite gradients
instead of inf / NaN; both branches of the `where` are evaluated only on inputs where they are finite,
so no NaN leaks into the gradient either. The sigmoid terms use `logsigmoid`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

LOGP_CEIL = 1e-6  # log p is clamped to <= -1e-6 inside log(1 - p): p = 1 - 1e-6, log-odds ~ 13.8
_LN2 = math.log(2.0)


def log1mexp(x: torch.Tensor) -> torch.Tensor:
    """log(1 - exp(x)) for x < 0, accurate over the whole range (x is clamped to <= -LOGP_CEIL)."""
    x = x.clamp(max=-LOGP_CEIL)
    near = x > -_LN2
    # each branch sees only inputs where it is finite and accurate (no NaN through the unused branch)
    a = torch.log(-torch.expm1(torch.where(near, x, torch.full_like(x, -1.0))))
    b = torch.log1p(-torch.exp(torch.where(near, torch.full_like(x, -1.0), x)))
    return torch.where(near, a, b)


def log_odds(logp: torch.Tensor) -> torch.Tensor:
    """eq. (13): per-step log-odds log p / (1 - p) from per-step log-probabilities log p."""
    return logp - log1mexp(logp)


def _masked_sum(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return torch.where(mask, x, torch.zeros_like(x)).sum(-1)


def sequence_logprob(logp: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """log pi(y|x) = sum of the per-step log-probabilities of the non-padding steps: (B, T) -> (B,)."""
    return _masked_sum(logp, mask)


def orpo_loss(logp_pos: torch.Tensor, logp_neg: torch.Tensor, mask_pos: torch.Tensor, mask_neg: torch.Tensor,
              alpha: float = 0.1) -> tuple[torch.Tensor, torch.Tensor]:
    """HiGR's ORPO objective, eq. (14), per pair -> (loss (B,), margin z(y+) - z(y-) (B,))."""
    nll = -sequence_logprob(logp_pos, mask_pos)  # eq. (14) first term: -log pi(y+|x)
    z_pos = _masked_sum(log_odds(logp_pos), mask_pos)  # z = sum_t l(x, y_t), eq. (13)
    z_neg = _masked_sum(log_odds(logp_neg), mask_neg)
    margin = z_pos - z_neg
    return nll - alpha * F.logsigmoid(margin), margin  # eq. (14)


def dpo_loss(logp_pos: torch.Tensor, logp_neg: torch.Tensor, ref_pos: torch.Tensor, ref_neg: torch.Tensor,
             mask_pos: torch.Tensor, mask_neg: torch.Tensor, beta: float = 0.1) -> tuple[torch.Tensor, torch.Tensor]:
    """DPO per pair; ref_* are the frozen reference policy's per-step log-probabilities of the same slates."""
    pos = sequence_logprob(logp_pos, mask_pos) - sequence_logprob(ref_pos, mask_pos)
    neg = sequence_logprob(logp_neg, mask_neg) - sequence_logprob(ref_neg, mask_neg)
    margin = beta * (pos - neg)
    return -F.logsigmoid(margin), margin


def simpo_loss(logp_pos: torch.Tensor, logp_neg: torch.Tensor, mask_pos: torch.Tensor, mask_neg: torch.Tensor,
               beta: float = 2.0, gamma: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """SimPO per pair: length-normalised log-probabilities, target reward margin gamma."""
    pos = sequence_logprob(logp_pos, mask_pos) / mask_pos.sum(-1).clamp(min=1)
    neg = sequence_logprob(logp_neg, mask_neg) / mask_neg.sum(-1).clamp(min=1)
    margin = beta * pos - beta * neg  # reward difference (gamma is the target it must exceed)
    return -F.logsigmoid(margin - gamma), margin
