"""CTGAN (Xu et al., 2019) with context conditioning and entity embeddings for large categoricals.

Conditional generator with training-by-sampling over the discrete columns (log-frequency), PacGAN,
WGAN-GP, residual generator, Gumbel-softmax outputs. A context DataFrame (the parent attributes of
each row) is encoded by its own DataTransformer and concatenated to the inputs of the generator and
the discriminator; each generator step samples its own rows (and so its own context batch).

When a context is present, half of each batch trains without a conditional vector (rows drawn
uniformly); sampling under a context uses no conditional vector, so that generated values follow the
context instead of a category forced independently of it.

With ``epsilon`` the critic trains with DP-SGD (:mod:`synthohive_spark.privacy.dp`): the critic is the only path from real
rows to the generator. Each real row, drawn by Poisson sampling, is conditioned on one of its own
categories and paired with a fake row made under that condition; the gradient of the row's critic
loss (the fake's score minus its own) is clipped, so one row moves the critic by at most
``max_grad_norm`` before the noise. The gradient penalty is taken between fakes made under public
conditions (no real row: no clipping, no budget). Packing is off (``pac=1``:
a pack would mix rows), the critic runs without dropout, and the generator and the sampler see
real data only through the critic and the category frequencies, which are released with Gaussian
noise (a tenth of the budget). A context (parent or condition columns) is refused: the
generator's steps would read real context rows outside DP-SGD.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from synthohive_spark.models import _nn
from synthohive_spark.models._optim import FlatAdam, HalfDropout
from synthohive_spark.models.base import GenerativeModel


#: under epsilon, the share of the budget that releases the category frequencies (the generator's
#: and the sampler's conditions); the critic's DP-SGD gets the rest
_DP_COUNTS_SHARE = 0.1


class _Residual(nn.Module):
    def __init__(self, i: int, o: int) -> None:
        super().__init__()
        self.fc = nn.Linear(i, o)
        self.bn = nn.BatchNorm1d(o)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([torch.relu(self.bn(self.fc(x))), x], dim=1)


class _Generator(nn.Module):
    def __init__(self, z_dim: int, cond_dim: int, layout: _nn.Layout, ctx_layout: _nn.Layout | None,
                 dims: list[int], cap: int) -> None:
        super().__init__()
        self.ctx = _nn.FeatureEmbedder(ctx_layout, cap) if ctx_layout is not None else None
        dim = z_dim + cond_dim + (self.ctx.out_dim if self.ctx is not None else 0)
        layers = []
        for d in dims:
            layers.append(_Residual(dim, d))
            dim += d
        self.body = nn.Sequential(*layers)
        self.head = _nn.OutputHead(dim, layout, cap)

    def forward(self, z: torch.Tensor, cond: torch.Tensor, ctx: torch.Tensor | None
                ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        parts = [z, cond]
        if self.ctx is not None:
            parts.append(self.ctx(ctx))
        return self.head(self.body(torch.cat(parts, dim=1)))

    @torch.no_grad()
    def inference_weights(self, order: torch.Tensor | None = None
                          ) -> tuple[list[tuple[torch.Tensor, torch.Tensor]], torch.Tensor, torch.Tensor]:
        """What :meth:`infer` multiplies by, prepared once per sampling call instead of per pass:
        (weight, bias) of each body layer with its batch norm folded in, and the dense output
        layer's weight and bias, its rows in ``order`` (e.g. ``Layout.sample_perm``) when given."""
        body = []
        for layer in self.body:
            bn = layer.bn
            scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
            body.append((layer.fc.weight * scale.unsqueeze(1),
                         (layer.fc.bias - bn.running_mean) * scale + bn.bias))
        weight, bias = self.head.dense.weight, self.head.dense.bias
        if order is not None:
            weight, bias = weight.index_select(0, order), bias.index_select(0, order)
        return body, weight, bias

    @torch.no_grad()
    def infer(self, z: torch.Tensor, cond: torch.Tensor, ctx: torch.Tensor | None,
              order: torch.Tensor | None = None, weights: tuple | None = None
              ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Eval-mode forward with batch norm folded into the linear layers and no residual concats.
        With ``order`` (a permutation of the dense outputs) the dense outputs come out in that
        order: the output layer's rows are permuted, not the activations. ``weights`` is
        :meth:`inference_weights`'s result, when the caller prepared it already."""
        body, dense_w, dense_b = weights if weights is not None else self.inference_weights(order)
        parts = [z, cond]
        if self.ctx is not None:
            parts.append(self.ctx(ctx))
        pieces = [torch.cat(parts, dim=1)]  # newest first: the residual input is [h_j, ..., h_1, x]

        def linear(weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
            out, pos = None, 0
            for p in pieces:
                w = weight[:, pos:pos + p.shape[1]]
                out = torch.addmm(bias, p, w.t()) if out is None else out.addmm_(p, w.t())
                pos += p.shape[1]
            return out

        for w, b in body:
            pieces.insert(0, torch.relu_(linear(w, b)))
        dense = linear(dense_w, dense_b)
        head = self.head
        logits = [torch.addmm(bias, linear(proj.weight, proj.bias), table.t())
                  for proj, table, bias in zip(head.emb_proj, head.emb_tables, head.emb_bias)]
        return dense, logits


class _Discriminator(nn.Module):
    def __init__(self, cond_dim: int, layout: _nn.Layout, ctx_layout: _nn.Layout | None, dims: list[int],
                 pac: int, cap: int) -> None:
        super().__init__()
        self.data = _nn.FeatureEmbedder(layout, cap)
        self.ctx = _nn.FeatureEmbedder(ctx_layout, cap) if ctx_layout is not None else None
        self.in_dim = self.data.out_dim + cond_dim + (self.ctx.out_dim if self.ctx is not None else 0)
        self.pac = pac
        layers: list[nn.Module] = []
        dim = self.in_dim * pac
        for d in dims:
            layers += [nn.Linear(dim, d), nn.LeakyReLU(0.2), HalfDropout()]
            dim = d
        layers.append(nn.Linear(dim, 1))
        self.body = nn.Sequential(*layers)

    def inputs(self, feats: torch.Tensor, cond: torch.Tensor, ctx: torch.Tensor | None) -> torch.Tensor:
        parts = [feats, cond]
        if self.ctx is not None:
            parts.append(self.ctx(ctx))
        return torch.cat(parts, dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x.reshape(-1, self.in_dim * self.pac))

    def scores_and_penalty(self, real: torch.Tensor, fake: torch.Tensor, lam: float = 10.0
                           ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Critic scores of fake and real packs and the WGAN-GP penalty.

        Fake and real packs share one forward pass; the interpolates get their own, so that the
        penalty's double backward runs over them alone."""
        b, dim = real.shape
        alpha = torch.rand(b // self.pac, 1, 1, device=real.device).expand(-1, self.pac, dim).reshape(b, dim)
        inter = (alpha * real + (1 - alpha) * fake).detach().requires_grad_(True)
        out = self(torch.cat([fake, real], dim=0))
        k = b // self.pac
        y_fake, y_real = out[:k], out[k:]
        y_inter = self(inter)
        grads = torch.autograd.grad(y_inter.sum(), inter, create_graph=True)[0]
        norms = grads.reshape(-1, self.pac * dim).norm(2, dim=1)
        return y_fake, y_real, ((norms - 1) ** 2).mean() * lam


class _CriticRowLoss(nn.Module):
    """One real row's critic loss under DP-SGD (called per row through ``functional_call``): the
    score of its paired fake (made under the row's own condition) minus the row's own score."""

    def __init__(self, critic: "_Discriminator") -> None:
        super().__init__()
        self.critic = critic

    def forward(self, real_x: torch.Tensor, cond: torch.Tensor, dense_fake: torch.Tensor,
                *probs: torch.Tensor) -> torch.Tensor:
        D = self.critic
        real_in = D.inputs(D.data(real_x), cond, None)
        fake_in = D.inputs(D.data.from_parts(dense_fake, list(probs)), cond, None)
        return (D.body(fake_in) - D.body(real_in)).squeeze(1)


def _critic_private_grads(D: "_Discriminator", real_in: torch.Tensor, fake_in: torch.Tensor,
                          max_grad_norm: float, noise_multiplier: float, expected_rows: float,
                          gen: torch.Generator) -> float:
    """The DP-SGD gradient of :class:`_CriticRowLoss` written into the critic body's ``.grad``,
    for a critic whose inputs carry no parameter (no embedding columns): the same clipped sum as
    :func:`._dp.private_step`, without materialising one gradient per row. In an MLP the row's
    gradient of a linear layer is ``d_fake a_fake^T + d_real a_real^T`` (backpropagated output
    times input, the row's fake and real passes), so its squared norm is
    ``|d_f|^2 |a_f|^2 + |d_r|^2 |a_r|^2 + 2 (d_f.d_r)(a_f.a_r)`` and the clipped sum two matrix
    products. Returns the rows' mean loss."""
    layers = [m for m in D.body if isinstance(m, nn.Linear)]
    m = real_in.shape[0]
    acts_f, acts_r, pre_f, pre_r = [fake_in], [real_in], [], []
    with torch.no_grad():
        for i, lin in enumerate(layers):
            zf, zr = lin(acts_f[-1]), lin(acts_r[-1])
            if i == len(layers) - 1:
                loss = float((zf - zr).sum()) / m if m else 0.0
                break
            pre_f.append(zf)
            pre_r.append(zr)
            acts_f.append(nn.functional.leaky_relu(zf, 0.2))
            acts_r.append(nn.functional.leaky_relu(zr, 0.2))
        # backpropagated outputs of each linear layer, last first: +1 for the fake, -1 for the real
        d_f = torch.ones(m, 1, device=real_in.device)
        d_r = -torch.ones(m, 1, device=real_in.device)
        deltas = []
        for i in range(len(layers) - 1, -1, -1):
            deltas.append((i, d_f, d_r))
            if i == 0:
                break
            w = layers[i].weight
            slope_f = torch.where(pre_f[i - 1] > 0, 1.0, 0.2)
            slope_r = torch.where(pre_r[i - 1] > 0, 1.0, 0.2)
            d_f, d_r = (d_f @ w) * slope_f, (d_r @ w) * slope_r
        sq = torch.zeros(m, device=real_in.device)
        for i, df, dr in deltas:
            af, ar = acts_f[i], acts_r[i]
            sq += (df.pow(2).sum(1) * af.pow(2).sum(1) + dr.pow(2).sum(1) * ar.pow(2).sum(1)
                   + 2 * (df * dr).sum(1) * (af * ar).sum(1))
            if layers[i].bias is not None:
                sq += (df + dr).pow(2).sum(1)
        scale = (max_grad_norm / (sq.sqrt() + 1e-12)).clamp(max=1.0).unsqueeze(1)
        sd = float(noise_multiplier) * float(max_grad_norm)
        denom = max(float(expected_rows), 1.0)
        for i, df, dr in deltas:
            lin = layers[i]
            grads = [(scale * df).t() @ acts_f[i] + (scale * dr).t() @ acts_r[i]]
            params = [lin.weight]
            if lin.bias is not None:
                grads.append((scale * (df + dr)).sum(0))
                params.append(lin.bias)
            for p, g in zip(params, grads):
                g = (g + torch.randn(g.shape, generator=gen, device=g.device, dtype=g.dtype) * sd) \
                    / denom
                if p.grad is None:
                    p.grad = g
                else:
                    p.grad.copy_(g)
    return loss


class _CondSampler:
    """Training-by-sampling: conditional vectors and the real rows that match them, all vectorized."""

    def __init__(self, x: torch.Tensor, layout: _nn.Layout, log_frequency: bool) -> None:
        dev = x.device
        self.dev = dev
        self.n = x.shape[0]
        spans = layout.discrete
        self.n_disc = len(spans)
        self.cond_dim = sum(k for _, k in spans)
        if not self.n_disc:
            return
        max_k = max(k for _, k in spans)
        dense = x[:, layout.dense_idx]
        counts = torch.zeros(self.n_disc, max_k, dtype=torch.float64, device=dev)
        sorted_rows = []
        starts = torch.zeros(self.n_disc, max_k, dtype=torch.long, device=dev)
        base = 0
        offsets, gather_idx = [], torch.zeros(self.n_disc, max_k, dtype=torch.long, device=dev)
        pad = torch.ones(self.n_disc, max_k, dtype=torch.bool, device=dev)
        off = 0
        for i, (pos, k) in enumerate(spans):
            codes = dense[:, pos:pos + k].argmax(dim=1)
            c = torch.bincount(codes, minlength=k).to(torch.float64)
            counts[i, :k] = c
            sorted_rows.append(torch.argsort(codes, stable=True))
            starts[i, :k] = base + torch.cumsum(c, 0).long() - c.long()
            base += self.n
            offsets.append(off)
            off += k
            gather_idx[i, :k] = torch.arange(pos, pos + k, device=dev)
            pad[i, :k] = False
        self.counts = counts
        self.flat_rows = torch.cat(sorted_rows)
        self.starts = starts
        self.cond_offset = torch.tensor(offsets, dtype=torch.long, device=dev)
        self.gather_idx = gather_idx
        self.pad = pad
        w_train = torch.log(counts + 1) if log_frequency else counts.clone()
        w_train[pad] = 0
        w_train[counts == 0] = 0
        self.cum_train = torch.cumsum(w_train / w_train.sum(1, keepdim=True), 1)

    def row_categories(self, x: torch.Tensor, layout: _nn.Layout) -> torch.Tensor:
        """(rows, discrete columns): each row's category code in every discrete column."""
        dense = x[:, layout.dense_idx]
        return torch.stack([dense[:, pos:pos + k].argmax(dim=1) for pos, k in layout.discrete], 1)

    def use_counts(self, counts: torch.Tensor, log_frequency: bool) -> None:
        """Draw training conditions from ``counts`` (noisy ones, under DP) instead of the data's."""
        counts = counts.clone()
        counts[self.pad] = 0
        empty = counts.sum(1) <= 0  # all noise below zero: the column's categories drawn evenly
        counts[empty] = (~self.pad[empty]).to(counts.dtype)
        self.counts = counts
        w = torch.log(counts + 1) if log_frequency else counts.clone()
        w[self.pad | (counts == 0)] = 0
        self.cum_train = torch.cumsum(w / w.sum(1, keepdim=True), 1)

    def _categories(self, b: int, cum: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        dev = cum.device
        col = torch.randint(self.n_disc, (b,), generator=gen, device=dev)
        u = torch.rand(b, 1, generator=gen, device=dev, dtype=torch.float64)
        cat = (cum[col] < u).sum(1)
        k_max = (~self.pad[col]).sum(1) - 1
        return col, torch.minimum(cat, k_max)

    def cond_vector(self, col: torch.Tensor, cat: torch.Tensor, active: torch.Tensor | None) -> torch.Tensor:
        b = col.shape[0]
        cond = torch.zeros(b, self.cond_dim, device=col.device)
        cond[torch.arange(b, device=col.device), self.cond_offset[col] + cat] = 1.0
        if active is not None:
            cond = cond * active.unsqueeze(1)
        return cond

    def sample_train(self, b: int, gen: torch.Generator, cond_fraction: float
                     ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None, torch.Tensor | None,
                                torch.Tensor]:
        """(cond, col, cat, active mask, matching real row indices) for a batch of b rows."""
        dev = self.dev
        if not self.n_disc:
            return (torch.zeros(b, 0, device=dev), None, None, None,
                    torch.randint(self.n, (b,), generator=gen, device=dev))
        col, cat = self._categories(b, self.cum_train, gen)
        cnt = self.counts[col, cat].long()
        pick = (torch.rand(b, generator=gen, device=dev, dtype=torch.float64) * cnt).long()
        rows = self.flat_rows[self.starts[col, cat] + torch.minimum(pick, cnt - 1)]
        active = None
        if cond_fraction < 1.0:
            active = (torch.rand(b, generator=gen, device=dev) < cond_fraction).float()
            uniform = torch.randint(self.n, (b,), generator=gen, device=dev)
            rows = torch.where(active > 0, rows, uniform)
        return self.cond_vector(col, cat, active), col, cat, active, rows

    def cond_loss(self, raw: torch.Tensor, col: torch.Tensor, cat: torch.Tensor,
                  active: torch.Tensor | None) -> torch.Tensor:
        logits = raw.gather(1, self.gather_idx[col]).masked_fill(self.pad[col], -1e9)
        ce = nn.functional.cross_entropy(logits, cat, reduction="none")
        if active is not None:
            ce = ce * active
        return ce.sum() / raw.shape[0]


class CTGAN(GenerativeModel):
    """Conditional tabular GAN. Hyperparameters (defaults as in the CTGAN paper):

    epochs, batch_size (a multiple of pac), embedding_dim (noise width), generator_dim,
    discriminator_dim, generator_lr, generator_decay, discriminator_lr, discriminator_decay,
    discriminator_steps, pac, log_frequency, early_stopping_patience (epochs without a better
    generator loss before stopping; None = off), max_modes, max_onehot (categoricals with more
    categories get a learned embedding), gmm_sample_size, category_embedding_max, context_cond_fraction
    (share of rows trained with a conditional vector when a context is given), sample_batch_size,
    seed, device ("cpu", "cuda", "auto"), column_specs, verbose; epsilon, delta, max_grad_norm
    (differential privacy: the critic trains with DP-SGD, rows drawn by Poisson sampling at
    batch_size / rows, each row's critic gradient clipped to max_grad_norm, Gaussian noise sized so
    that all the critic steps spend epsilon; pac must be 1 and is 1 by default then; no context).
    """

    name = "ctgan"
    default_hyperparams: dict[str, Any] = {
        "epochs": 300,
        "batch_size": 500,
        "embedding_dim": 128,
        "generator_dim": [256, 256],
        "discriminator_dim": [256, 256],
        "generator_lr": 2e-4,
        "generator_decay": 1e-6,
        "discriminator_lr": 2e-4,
        "discriminator_decay": 1e-6,
        "discriminator_steps": 1,
        "pac": 10,
        "log_frequency": True,
        "early_stopping_patience": None,
        "max_modes": 10,
        "max_onehot": 50,
        "gmm_sample_size": 5000,
        "category_embedding_max": 50,
        "context_cond_fraction": 0.5,
        "sample_batch_size": 2048,
        "epsilon": None,
        "delta": None,
        "max_grad_norm": 1.0,
    }

    def __init__(self, **hyperparams: Any) -> None:
        if hyperparams.get("epsilon") is not None:
            if hyperparams.get("pac", 1) != 1:
                raise ValueError(f"CTGAN: with epsilon (differential privacy) pac must be 1, got "
                                 f"{hyperparams['pac']}: a pack mixes rows, so one row's influence "
                                 f"would no longer be bounded by clipping its own gradient")
            hyperparams = {**hyperparams, "pac": 1}
        super().__init__(**hyperparams)

    def _validate_hyperparams(self) -> None:
        super()._validate_hyperparams()
        if self._hp["batch_size"] % self._hp["pac"]:
            raise ValueError(f"CTGAN: batch_size ({self._hp['batch_size']}) must be a multiple of pac "
                             f"({self._hp['pac']})")

    # ------------------------------------------------------------------ networks
    def _build(self) -> None:
        hp = self._hp
        self._layout = _nn.Layout.from_transformer(self.transformer)
        self._ctx_layout = (_nn.Layout.from_transformer(self.context_transformer)
                            if self.context_transformer is not None else None)
        self._cond_dim = sum(k for _, k in self._layout.discrete)
        cap = int(hp["category_embedding_max"])
        self.generator = _Generator(hp["embedding_dim"], self._cond_dim, self._layout, self._ctx_layout,
                                    list(hp["generator_dim"]), cap)
        self.discriminator = _Discriminator(self._cond_dim, self._layout, self._ctx_layout,
                                            list(hp["discriminator_dim"]), hp["pac"], cap)

    def _train(self, data: pd.DataFrame, context: pd.DataFrame | None) -> None:
        _nn.run_training(self, data, context)

    def _fit_loop(self, data: pd.DataFrame, context: pd.DataFrame | None, dev: torch.device, rank: int,
                  world: int) -> None:
        hp = self._hp
        x, c, layout = _nn.encode_for_training(self, data, context, dev, rank)
        G, D = self.generator.to(dev), self.discriminator.to(dev)
        if world > 1:
            _nn.broadcast_parameters([G, D])
        G.train()
        D.train()
        gen = torch.Generator(device=dev)
        gen.manual_seed(int(hp["seed"]) * 1_000_003 + rank)
        sampler = _CondSampler(x, layout, bool(hp["log_frequency"]))
        cond_fraction = float(hp["context_cond_fraction"]) if c is not None else 1.0
        opt_g = FlatAdam(G.parameters(), lr=hp["generator_lr"], betas=(0.5, 0.9),
                         weight_decay=hp["generator_decay"])
        opt_d = FlatAdam(D.parameters(), lr=hp["discriminator_lr"], betas=(0.5, 0.9),
                         weight_decay=hp["discriminator_decay"])
        g_params = opt_g.params
        bs, z_dim = int(hp["batch_size"]), int(hp["embedding_dim"])
        steps = max(len(x) // bs, 1)
        if world > 1:
            steps = int(_nn.allreduce_scalar(steps, "min"))
        if hp.get("epsilon") is not None:
            if c is not None:
                raise ValueError("CTGAN: epsilon (differential privacy) with a context (parent or "
                                 "condition columns) is not supported: the generator's steps would "
                                 "read real context rows outside DP-SGD; use model 'tvae' or "
                                 "'gaussian_copula'")
            self._fit_private(x, layout, sampler, opt_g, opt_d, gen, dev, steps)
            opt_g.release()
            opt_d.release()
            self.generator = G.cpu().eval()
            self.discriminator = D.cpu().eval()
            self._cond_sampler_counts = (sampler.counts.cpu() if sampler.n_disc
                                         else torch.zeros(0, 0, dtype=torch.float64))
            return
        def fake_features(cond: torch.Tensor, ctx: torch.Tensor | None, grad_g: bool = True
                          ) -> tuple[torch.Tensor, torch.Tensor]:
            z = torch.randn(bs, z_dim, generator=gen, device=dev)
            with torch.set_grad_enabled(grad_g):  # the discriminator step needs no generator gradients
                raw, emb_logits = G(z, cond, ctx)
                dense = layout.activate(raw)
                probs = [_nn.gumbel_softmax(lg, 0.2) for lg in emb_logits]
            return D.inputs(D.data.from_parts(dense, probs), cond, ctx), raw

        epochs = self._epochs("loss_g", "generator loss")
        for epoch in range(int(hp["epochs"])):
            sum_g = sum_d = 0.0
            for _ in range(steps):
                for _ in range(int(hp["discriminator_steps"])):
                    cond, _, _, _, rows_fake = sampler.sample_train(bs, gen, cond_fraction)
                    perm = torch.randperm(bs, generator=gen, device=dev)
                    # real rows matching the permuted conditions: fake and real pairs see the same conds
                    cond_real = cond[perm]
                    rows_real = rows_fake[perm]
                    ctx_fake = c[rows_fake] if c is not None else None
                    ctx_real = c[rows_real] if c is not None else None
                    fake_in, _ = fake_features(cond, ctx_fake, grad_g=False)
                    real_x = x[rows_real]
                    real_in = D.inputs(D.data(real_x), cond_real, ctx_real)
                    y_fake, y_real, pen = D.scores_and_penalty(real_in, fake_in)
                    loss_d = -(y_real.mean() - y_fake.mean())
                    opt_d.zero_grad()
                    (loss_d + pen).backward()
                    if world > 1:
                        opt_d.allreduce_grad(world)
                    opt_d.step()
                # generator step: fresh conditions, rows and context (never the discriminator's batch)
                cond, col, cat, active, rows = sampler.sample_train(bs, gen, cond_fraction)
                ctx = c[rows] if c is not None else None
                fake_in, raw = fake_features(cond, ctx)
                y_fake = D(fake_in)
                loss_g = -y_fake.mean()
                if col is not None:
                    loss_g = loss_g + sampler.cond_loss(raw, col, cat, active)
                opt_g.zero_grad()
                loss_g.backward(inputs=g_params)  # the critic's weights need no gradient here
                if world > 1:
                    opt_g.allreduce_grad(world)
                opt_g.step()
                sum_g += float(loss_g.detach())
                sum_d += float(loss_d.detach())
            loss_g_e, loss_d_e = sum_g / steps, sum_d / steps
            if world > 1:
                loss_g_e = _nn.allreduce_scalar(loss_g_e) / world
                loss_d_e = _nn.allreduce_scalar(loss_d_e) / world
            if epochs.end(epoch, loss_g=loss_g_e, loss_d=loss_d_e):
                break
        epochs.close()
        opt_g.release()
        opt_d.release()
        if world > 1:
            _nn.allreduce_buffers([G, D], world)
        self.generator = G.cpu().eval()
        self.discriminator = D.cpu().eval()
        counts = sampler.counts.cpu() if sampler.n_disc else torch.zeros(0, 0, dtype=torch.float64)
        if world > 1 and sampler.n_disc:
            import torch.distributed as dist

            dist.all_reduce(counts)  # category frequencies of the whole table, for sampling
        self._cond_sampler_counts = counts

    def _fit_private(self, x: torch.Tensor, layout: _nn.Layout, sampler: _CondSampler,
                     opt_g: FlatAdam, opt_d: FlatAdam, gen: torch.Generator, dev: torch.device,
                     steps: int) -> None:
        """DP-CTGAN: the category frequencies once with Gaussian noise, then ``epochs`` x ``steps``
        x ``discriminator_steps`` DP-SGD critic steps on Poisson samples, each followed (after the
        last of a step's critic updates) by a generator step that reads no real row. Stops before
        a critic step would spend more than epsilon; no early stopping (it would read a loss of
        the real rows)."""
        from synthohive_spark.privacy import dp as _dp

        hp = self._hp
        G, D = self.generator, self.discriminator
        n = len(x)
        delta = float(hp["delta"]) if hp.get("delta") is not None else _dp.default_delta(n)
        budget = _dp.Budget(float(hp["epsilon"]), delta)
        gen.manual_seed(_dp.secret_seed())  # the noise and the samples: never the saved seed
        bs, z_dim = int(hp["batch_size"]), int(hp["embedding_dim"])
        q = min(1.0, bs / n)
        d_steps = int(hp["discriminator_steps"])
        planned = int(hp["epochs"]) * steps * d_steps
        sigma_counts = None
        if sampler.n_disc:
            # one row adds 1 to one category of every discrete column: L2 sensitivity sqrt(columns)
            sigma_counts = _dp.gaussian_noise_multiplier(budget.epsilon * _DP_COUNTS_SHARE, delta, 1)
            budget.spend(sigma_counts)
            sd = sigma_counts * float(np.sqrt(sampler.n_disc))
            noise = torch.randn(sampler.counts.shape, generator=gen, device=dev,
                                dtype=sampler.counts.dtype) * sd
            sampler.use_counts((sampler.counts + noise).clamp_min(0).round(),
                               bool(hp["log_frequency"]))
            row_cats = sampler.row_categories(x, layout)
        sigma = budget.noise_for(q, planned)
        clip = float(hp["max_grad_norm"])
        row_loss = _CriticRowLoss(D)
        n_emb = len(layout.embeddings)

        def one(params: dict, x1: torch.Tensor, cond1: torch.Tensor, dense1: torch.Tensor,
                *probs1: torch.Tensor) -> torch.Tensor:
            return torch.func.functional_call(
                row_loss, params, (x1[None], cond1[None], dense1[None],
                                   *[p[None] for p in probs1])).sum()

        def public_conditions(b: int) -> tuple[torch.Tensor, Any, Any]:
            if not sampler.n_disc:
                return torch.zeros(b, 0, device=dev), None, None
            col, cat = sampler._categories(b, sampler.cum_train, gen)
            return sampler.cond_vector(col, cat, None), col, cat

        def fake(cond: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor], torch.Tensor]:
            z = torch.randn(cond.shape[0], z_dim, generator=gen, device=dev)
            raw, emb_logits = G(z, cond, None)
            return layout.activate(raw), [_nn.gumbel_softmax(lg, 0.2) for lg in emb_logits], raw

        D.eval()  # no dropout: a per-row gradient must not depend on other rows' random draws
        epochs = self._epochs("loss_g", "generator loss")
        done = 0
        for epoch in range(int(hp["epochs"])):
            sum_g = sum_d = 0.0
            for _ in range(steps):
                if not budget.allows(sigma, q):
                    break
                for _ in range(d_steps):
                    if not budget.allows(sigma, q):
                        break
                    idx = torch.nonzero(torch.rand(n, generator=gen, device=dev) < q).squeeze(1)
                    m = int(idx.numel())
                    if sampler.n_disc:
                        col = torch.randint(sampler.n_disc, (m,), generator=gen, device=dev)
                        cond = sampler.cond_vector(col, row_cats[idx, col], None)
                    else:
                        cond = torch.zeros(m, 0, device=dev)
                    G.eval()  # batch statistics would mix the rows' conditions
                    with torch.no_grad():
                        dense, probs, _ = fake(cond)
                    if n_emb:
                        sum_d += _dp.private_step(row_loss, one, (x[idx], cond, dense, *probs),
                                                  clip, sigma, q * n, gen) / d_steps
                    else:
                        with torch.no_grad():
                            real_in = D.inputs(D.data(x[idx]), cond, None)
                            fake_in = D.inputs(D.data.from_parts(dense, probs), cond, None)
                        sum_d += _critic_private_grads(D, real_in, fake_in, clip, sigma, q * n,
                                                       gen) / d_steps
                    budget.spend(sigma, q)
                    # the gradient penalty between two batches of fakes under public conditions:
                    # it reads no real row, so it is added to the noisy gradient at no cost
                    pub, _, _ = public_conditions(bs)
                    with torch.no_grad():
                        fakes = [D.inputs(D.data.from_parts(*fake(pub)[:2]), pub, None)
                                 for _ in range(2)]
                    G.train()
                    _, _, penalty = D.scores_and_penalty(*fakes)
                    penalty.backward(inputs=opt_d.params)
                    opt_d.step()
                    done += 1
                # generator step: conditions from the noisy frequencies, no real row
                cond, col, cat = public_conditions(bs)
                dense, probs, raw = fake(cond)
                loss_g = -D(D.inputs(D.data.from_parts(dense, probs), cond, None)).mean()
                if sampler.n_disc:
                    loss_g = loss_g + sampler.cond_loss(raw, col, cat, None)
                opt_g.zero_grad()
                loss_g.backward(inputs=opt_g.params)
                opt_g.step()
                sum_g += float(loss_g.detach())
            else:
                epochs.end(epoch, loss_g=sum_g / steps, loss_d=sum_d / steps)
                continue
            break
        epochs.close()
        covered = ["the critic's weights (DP-SGD: every row's gradient clipped and noised)",
                   "the generator's weights (trained through the critic and the noisy category "
                   "frequencies only)"]
        extra: dict[str, Any] = {}
        if sigma_counts is not None:
            covered.append("the category frequencies of the conditional vectors (Gaussian "
                           "mechanism)")
            extra["count_noise_multiplier"] = round(sigma_counts, 6)
        self.privacy = _dp.privacy_statement(
            budget, covered=covered,
            not_covered=["the transformer's statistics of the data columns (category lists, "
                         "mode fits, min/max)"],
            mechanism="DP-SGD", noise_multiplier=round(sigma, 6), sample_rate=q, steps=done,
            max_grad_norm=clip, **extra)
        self.logger.info("DP-SGD critic: %d steps at noise multiplier %.3f, sample rate %.4f: "
                         "epsilon %.3f spent of %.3f (delta %.2e)", done, sigma, q, budget.spent,
                         budget.epsilon, delta)

    def _skip_training(self) -> None:
        self.generator.eval()
        self.discriminator.eval()
        self._cond_sampler_counts = torch.zeros(0, 0, dtype=torch.float64)

    # ------------------------------------------------------------------ sample
    def to_device(self, device: str | torch.device) -> bool:
        dev = torch.device(device)
        if self.fitted:
            self.generator = self.generator.to(dev).eval()
            self._layout = self._layout.to(dev)
            self._cond_sampler_counts = self._cond_sampler_counts.to(dev)
        self.sample_device = dev
        return True

    def _sample(self, n: int, context: pd.DataFrame | None, seed: int) -> pd.DataFrame:
        hp = self._hp
        G = self.generator.eval()
        layout = self._layout
        dev = self.sample_device
        gen, c, scalars, codes = _nn.start_sampling(self, n, context, seed)
        weights = G.inference_weights(layout.sample_perm)
        counts = self._cond_sampler_counts
        n_disc = counts.shape[0]
        cum = torch.cumsum(counts / counts.sum(1, keepdim=True).clamp_min(1e-12), 1) if n_disc else None
        k_sizes = [k for _, k in layout.discrete]
        k_max = torch.tensor(k_sizes, dtype=torch.long, device=dev) - 1
        offsets = torch.tensor(np.cumsum([0] + k_sizes[:-1]), dtype=torch.long, device=dev) if n_disc else None
        chunk = self._sample_chunk()
        with torch.no_grad():
            for s in range(0, n, chunk):
                b = min(chunk, n - s)
                z = torch.randn(b, int(hp["embedding_dim"]), generator=gen, device=dev)
                cond = torch.zeros(b, self._cond_dim, device=dev)
                if n_disc and c is None:
                    col = torch.randint(n_disc, (b,), generator=gen, device=dev)
                    u = torch.rand(b, 1, generator=gen, dtype=torch.float64, device=dev)
                    cat = torch.minimum((cum[col] < u).sum(1), k_max[col])
                    cond[torch.arange(b, device=dev), offsets[col] + cat] = 1.0
                raw, emb_logits = G.infer(z, cond, c[s:s + b] if c is not None else None,
                                          weights=weights)
                sc, cd = _nn.decode_sample(layout, raw, emb_logits, gen, ordered=True)
                scalars[s:s + b] = sc.cpu().numpy()
                codes[s:s + b] = cd.cpu().numpy()
        return self.transformer.decode(scalars, codes)

    # ------------------------------------------------------------------ state
    def _tensors(self) -> dict[str, torch.Tensor]:
        if not self.fitted:
            return {}
        t = _nn.module_tensors({"generator": self.generator, "discriminator": self.discriminator})
        t["cond_counts"] = self._cond_sampler_counts
        return t

    def _load_tensors(self, tensors: dict[str, torch.Tensor], extra: dict[str, Any]) -> None:
        if not self.fitted:
            return
        _nn.build(self)
        _nn.load_module_tensors({"generator": self.generator, "discriminator": self.discriminator},
                                tensors)
        self._cond_sampler_counts = tensors["cond_counts"]
