"""Differential privacy (torch and numpy only): the budget, its accounting, the DP-SGD step and
the statements, for the models and the relational core's count and degree models.

Every mechanism here is Gaussian: a DP-SGD step (per-row gradients clipped to ``max_grad_norm``,
summed, Gaussian noise of ``noise_multiplier * max_grad_norm`` added, rows drawn by Poisson
sampling at rate ``q``), and noisy statistics: the DP copula's, the child counts' and the second
parents' degrees (sensitivity stated where they are added). They are composed with Renyi DP (opacus' analysis of the subsampled Gaussian
mechanism, the optional ``privacy`` extra) and converted to an (epsilon, delta) guarantee. The
unit is one training row (add or remove one row).
"""
from __future__ import annotations

import math
import secrets
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

__all__ = ["Budget", "default_delta", "require_accountant", "secret_seed", "noise_rng",
           "sgd_noise_multiplier",
           "gaussian_noise_multiplier", "private_step", "privacy_statement", "composed_statement"]

#: Renyi orders the accountant tracks: opacus' defaults, and higher ones so that small budgets
#: (an epsilon split over many tables) convert to (epsilon, delta) without a floor near 0.2
ORDERS = ([1 + x / 10.0 for x in range(1, 100)] + list(range(12, 64))
          + [80, 100, 128, 160, 200, 256, 384, 512, 768, 1024])


def require_accountant() -> Any:
    """opacus' Renyi DP analysis, or a clear error naming the extra to install."""
    try:
        from opacus.accountants.analysis import rdp
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "epsilon (differential privacy) needs opacus' privacy accountant: "
            "pip install 'synthohive-spark[privacy]'") from exc
    return rdp


def secret_seed() -> int:
    """A seed from the operating system's entropy for what a DP fit draws at random (the noise,
    the Poisson samples). Never the model's ``seed``: it is saved with the hyperparameters, and
    whoever holds the model could regenerate the noise and subtract it. A fit with epsilon is
    therefore not repeatable from its seed; sampling from the fitted model still is."""
    return secrets.randbits(63)


def noise_rng() -> np.random.Generator:
    """A numpy generator seeded from the operating system's entropy (see :func:`secret_seed`)."""
    return np.random.default_rng(secrets.randbits(128))


def default_delta(n: int) -> float:
    """delta when none is given: 1 / (n ln n) of the training rows, at most 1e-5."""
    n = max(int(n), 3)
    return min(1e-5, 1.0 / (n * math.log(n)))


class Budget:
    """An (epsilon, delta) budget spent by Gaussian mechanisms, composed in Renyi DP."""

    def __init__(self, epsilon: float, delta: float) -> None:
        if not (epsilon > 0 and 0 < delta < 1):
            raise ValueError(f"a privacy budget needs epsilon > 0 and 0 < delta < 1, got "
                             f"epsilon={epsilon!r}, delta={delta!r}")
        self.epsilon = float(epsilon)
        self.delta = float(delta)
        self._rdp = np.zeros(len(ORDERS))
        self._one_step: dict[tuple[float, float], np.ndarray] = {}
        self._analysis = require_accountant()

    def _rdp_of(self, noise_multiplier: float, sample_rate: float, steps: int) -> np.ndarray:
        # Renyi DP adds up over steps: one step's, computed once per mechanism (a DP-SGD loop
        # asks before every step), times the steps
        key = (float(noise_multiplier), float(sample_rate))
        one = self._one_step.get(key)
        if one is None:
            one = np.asarray(self._analysis.compute_rdp(q=key[1], noise_multiplier=key[0],
                                                        steps=1, orders=ORDERS))
            self._one_step[key] = one
        return one * int(steps)

    def _eps(self, rdp: np.ndarray) -> float:
        eps, _ = self._analysis.get_privacy_spent(orders=ORDERS, rdp=rdp, delta=self.delta)
        return float(eps)

    def spend(self, noise_multiplier: float, sample_rate: float = 1.0, steps: int = 1) -> None:
        """Account ``steps`` Gaussian mechanisms (subsampled at ``sample_rate``)."""
        self._rdp = self._rdp + self._rdp_of(noise_multiplier, sample_rate, steps)

    def allows(self, noise_multiplier: float, sample_rate: float = 1.0, steps: int = 1) -> bool:
        """Whether spending these mechanisms too stays within epsilon."""
        return self._eps(self._rdp + self._rdp_of(noise_multiplier, sample_rate, steps)) \
            <= self.epsilon * (1 + 1e-9)

    def noise_for(self, sample_rate: float = 1.0, steps: int = 1) -> float:
        """The smallest noise multiplier with which ``steps`` Gaussian mechanisms (subsampled at
        ``sample_rate``), on top of what is spent already, stay within epsilon."""
        return _smallest_noise(
            lambda s: self._eps(self._rdp + self._rdp_of(s, sample_rate, steps)), self.epsilon)

    @property
    def spent(self) -> float:
        """The epsilon spent so far (at this budget's delta)."""
        return self._eps(self._rdp) if self._rdp.any() else 0.0


def _smallest_noise(eps_of: Callable[[float], float], epsilon: float) -> float:
    """The smallest noise multiplier whose epsilon is at most ``epsilon`` (bisection)."""
    lo, hi = 0.0, 1.0
    while eps_of(hi) > epsilon:
        lo, hi = hi, 2 * hi
        if hi > 1e6:
            raise ValueError(f"epsilon {epsilon} cannot be reached: it would need more than a "
                             f"million times the sensitivity as noise")
    for _ in range(60):
        mid = (lo + hi) / 2
        if eps_of(mid) > epsilon:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-4 * hi:
            break
    return hi


def sgd_noise_multiplier(epsilon: float, delta: float, sample_rate: float, steps: int) -> float:
    """The noise multiplier with which ``steps`` DP-SGD steps at ``sample_rate`` spend
    ``epsilon`` (at ``delta``)."""
    return Budget(epsilon, delta).noise_for(sample_rate, steps)


def gaussian_noise_multiplier(epsilon: float, delta: float, mechanisms: int) -> float:
    """The noise multiplier (noise standard deviation over L2 sensitivity) of each of
    ``mechanisms`` Gaussian mechanisms on the whole data that together spend ``epsilon``."""
    return Budget(epsilon, delta).noise_for(1.0, mechanisms)


def private_step(module: nn.Module, row_loss: Callable[..., torch.Tensor], rows: tuple,
                 max_grad_norm: float, noise_multiplier: float, expected_rows: float,
                 gen: torch.Generator, chunk: int = 256) -> float:
    """Writes a DP-SGD gradient into ``module``'s ``.grad`` (in place, so optimizers whose
    gradients are views of one buffer keep working): each row's gradient of ``row_loss(params,
    *row)`` (``functional_call`` of ``module`` inside) clipped to L2 norm ``max_grad_norm``, the
    sum plus Gaussian noise of standard deviation ``noise_multiplier * max_grad_norm``, over
    ``expected_rows`` (the Poisson sample's expected size, not its drawn size, which would leak).
    ``rows`` are tensors with one row per leading index (an empty sample gives noise only).
    Returns the rows' mean loss (for the training history; 0 for an empty sample)."""
    params = {k: v.detach() for k, v in module.named_parameters() if v.requires_grad}
    total = {k: torch.zeros_like(v) for k, v in params.items()}
    n = int(rows[0].shape[0]) if rows else 0
    per_row = torch.func.vmap(torch.func.grad_and_value(row_loss),
                              in_dims=(None,) + (0,) * len(rows), randomness="error")
    loss = 0.0
    for s in range(0, n, chunk):
        grads, values = per_row(params, *[r[s:s + chunk] for r in rows])
        loss += float(values.detach().sum())
        sq = None
        for g in grads.values():
            part = g.reshape(g.shape[0], -1).pow(2).sum(1)
            sq = part if sq is None else sq + part
        scale = (max_grad_norm / (sq.sqrt() + 1e-12)).clamp(max=1.0)
        for k, g in grads.items():
            total[k] += (g * scale.view(-1, *([1] * (g.dim() - 1)))).sum(0)
    sd = float(noise_multiplier) * float(max_grad_norm)
    for k, p in module.named_parameters():
        if k not in total:
            continue
        noise = torch.randn(total[k].shape, generator=gen, device=total[k].device,
                            dtype=total[k].dtype) * sd
        g = (total[k] + noise) / max(float(expected_rows), 1.0)
        if p.grad is None:
            p.grad = g
        else:
            p.grad.copy_(g)
    return loss / n if n else 0.0


def privacy_statement(budget: Budget, covered: list[str], not_covered: list[str],
                      **extra: Any) -> dict[str, Any]:
    """The ``privacy`` dict a DP model reports: the epsilon spent, delta, the budget asked, what
    the guarantee covers and what it does not."""
    out = {"epsilon": round(budget.spent, 6), "delta": budget.delta,
           "epsilon_budget": budget.epsilon, "unit": "one training row",
           "covered": list(covered), "not_covered": list(not_covered)}
    out.update(extra)
    return out


def composed_statement(parts: list[tuple[str, str, dict[str, Any]]], epsilon_budget: float,
                       unit: str, parts_key: str, not_covered: list[str]) -> dict[str, Any]:
    """The statement of several DP parts used together (a table's models, a database's tables):
    by basic composition their epsilons and deltas add up. ``parts``: (key under
    ``parts_key``, label prefixed to its covered / not covered items, its statement);
    ``not_covered``: what the composing stage itself reads from the real rows."""
    eps = sum(p["epsilon"] for _, _, p in parts)
    delta = sum(p["delta"] for _, _, p in parts)
    return {"epsilon": round(eps, 6), "delta": float(f"{delta:.12g}"),
            "epsilon_budget": epsilon_budget, "unit": unit,
            "covered": [f"{label}: {c}" for _, label, p in parts for c in p["covered"]],
            "not_covered": ([f"{label}: {c}" for _, label, p in parts for c in p["not_covered"]]
                            + list(not_covered)),
            parts_key: {key: p for key, _, p in parts}}
