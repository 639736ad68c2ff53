"""Training kernels for the small networks of tabular models, where per-op overhead dominates.

:class:`FlatAdam` is Adam (with L2 weight decay, as ``torch.optim.Adam``) over parameters that live
in one flat buffer: a step is six tensor ops whatever the number of layers, gradients are zeroed and
all-reduced (DDP) as one tensor, and no ``torch.optim`` import is needed (it pulls in
``torch._dynamo``, over a second of start-up).

:class:`HalfDropout` is dropout with p = 0.5 drawn from random bits (62 mask entries per random
integer) instead of one Bernoulli draw per entry, about 15x faster on CPU.
"""
from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import nn


class FlatAdam:
    """Adam over ``params``, which are re-pointed at views of one flat parameter buffer (and their
    ``.grad`` at views of one flat gradient buffer) until :meth:`release`."""

    def __init__(self, params: Iterable[nn.Parameter], lr: float, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0) -> None:
        seen: set[int] = set()
        self.params = []
        for p in params:
            if p.requires_grad and id(p) not in seen:
                seen.add(id(p))
                self.params.append(p)
        if not self.params:
            raise ValueError("FlatAdam: no trainable parameters")
        first = self.params[0]
        numel = sum(p.numel() for p in self.params)
        self.flat = torch.empty(numel, device=first.device, dtype=first.dtype)
        self.grad = torch.zeros_like(self.flat)
        pos = 0
        with torch.no_grad():
            for p in self.params:
                k = p.numel()
                self.flat[pos:pos + k].copy_(p.detach().reshape(-1))
                p.data = self.flat[pos:pos + k].view_as(p)
                p.grad = self.grad[pos:pos + k].view_as(p)
                pos += k
        self.exp_avg = torch.zeros_like(self.flat)
        self.exp_avg_sq = torch.zeros_like(self.flat)
        self.lr, self.eps, self.weight_decay = float(lr), float(eps), float(weight_decay)
        self.beta1, self.beta2 = float(betas[0]), float(betas[1])
        self.steps = 0
        self._step_tensor = torch.zeros((), dtype=torch.float32, device=first.device)

    def zero_grad(self) -> None:
        self.grad.zero_()

    def allreduce_grad(self, world: int) -> None:
        """Average the gradients over all DDP ranks (one all-reduce)."""
        import torch.distributed as dist

        dist.all_reduce(self.grad)
        self.grad /= world

    @torch.no_grad()
    def step(self) -> None:
        self.steps += 1
        fused = getattr(torch, "_fused_adam_", None)
        if fused is not None:  # one pass over the buffers (the kernel behind Adam(fused=True))
            self._step_tensor.fill_(float(self.steps))
            fused([self.flat], [self.grad], [self.exp_avg], [self.exp_avg_sq], [], [self._step_tensor],
                  lr=self.lr, beta1=self.beta1, beta2=self.beta2, weight_decay=self.weight_decay,
                  eps=self.eps, amsgrad=False, maximize=False)
            return
        g = self.grad.add(self.flat, alpha=self.weight_decay) if self.weight_decay else self.grad
        self.exp_avg.lerp_(g, 1.0 - self.beta1)
        self.exp_avg_sq.mul_(self.beta2).addcmul_(g, g, value=1.0 - self.beta2)
        bc1 = 1.0 - self.beta1 ** self.steps
        bc2 = 1.0 - self.beta2 ** self.steps
        denom = (self.exp_avg_sq.sqrt() / math.sqrt(bc2)).add_(self.eps)
        self.flat.addcdiv_(self.exp_avg, denom, value=-self.lr / bc1)

    def release(self) -> None:
        """Give every parameter its own storage again (saving refuses tensors that share memory)."""
        with torch.no_grad():
            for p in self.params:
                p.data = p.data.clone()
                p.grad = None


_SHIFTS: dict[torch.device, torch.Tensor] = {}
_BITS = 62


def half_mask(shape: torch.Size | tuple[int, ...], device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """A tensor of 0.0 / 2.0 with probability 1/2 each (the scaled mask of dropout p = 0.5)."""
    n = math.prod(shape)
    shifts = _SHIFTS.get(device)
    if shifts is None:
        shifts = _SHIFTS[device] = torch.arange(_BITS, dtype=torch.int64, device=device)
    # uniform in [0, 2**62): 62 independent fair bits per draw (a range every backend takes)
    words = torch.randint(0, 2 ** _BITS, ((n + _BITS - 1) // _BITS,), dtype=torch.int64, device=device)
    bits = ((words.unsqueeze(1) >> shifts) & 1).reshape(-1)[:n]
    return bits.reshape(shape).to(dtype).mul_(2.0)


class HalfDropout(nn.Module):
    """``nn.Dropout(0.5)`` with a bit-sliced mask (same distribution, far fewer random draws)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x
        return x * half_mask(x.shape, x.device, x.dtype)
