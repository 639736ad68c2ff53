"""TVAE (Xu et al., 2019): a variational autoencoder over the DataTransformer's encoding.

A context (parent attributes) is concatenated to the encoder's and the decoder's inputs, so that
sampling under a given context decodes rows consistent with it.
"""
from __future__ import annotations

import math
from typing import Any

import pandas as pd
import torch
from torch import nn

from synthohive_spark.models import _nn
from synthohive_spark.models._optim import FlatAdam
from synthohive_spark.models.base import GenerativeModel


def _mlp(dim: int, dims: list[int]) -> tuple[nn.Sequential, int]:
    layers: list[nn.Module] = []
    for d in dims:
        layers += [nn.Linear(dim, d), nn.ReLU()]
        dim = d
    return nn.Sequential(*layers), dim


class _Encoder(nn.Module):
    def __init__(self, layout: _nn.Layout, ctx_layout: _nn.Layout | None, dims: list[int], z_dim: int,
                 cap: int) -> None:
        super().__init__()
        self.data = _nn.FeatureEmbedder(layout, cap)
        self.ctx = _nn.FeatureEmbedder(ctx_layout, cap) if ctx_layout is not None else None
        in_dim = self.data.out_dim + (self.ctx.out_dim if self.ctx is not None else 0)
        self.body, out = _mlp(in_dim, dims)
        self.mu = nn.Linear(out, z_dim)
        self.logvar = nn.Linear(out, z_dim)

    def forward(self, x: torch.Tensor, ctx: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        parts = [self.data(x)]
        if self.ctx is not None:
            parts.append(self.ctx(ctx))
        h = self.body(torch.cat(parts, dim=1))
        return self.mu(h), self.logvar(h)


class _Decoder(nn.Module):
    def __init__(self, layout: _nn.Layout, ctx_layout: _nn.Layout | None, dims: list[int], z_dim: int,
                 cap: int) -> None:
        super().__init__()
        self.ctx = _nn.FeatureEmbedder(ctx_layout, cap) if ctx_layout is not None else None
        in_dim = z_dim + (self.ctx.out_dim if self.ctx is not None else 0)
        self.body, out = _mlp(in_dim, dims)
        self.head = _nn.OutputHead(out, layout, cap)
        self.sigma = nn.Parameter(torch.full((max(int(layout.tanh_pos.numel()), 0),), 0.1))

    def forward(self, z: torch.Tensor, ctx: torch.Tensor | None) -> tuple[torch.Tensor, list[torch.Tensor]]:
        parts = [z]
        if self.ctx is not None:
            parts.append(self.ctx(ctx))
        return self.head(self.body(torch.cat(parts, dim=1)))


class _RowLoss(nn.Module):
    """TVAE's loss per row (reconstruction x ``factor`` + KL), the encoder and decoder together:
    the mean of it is the training loss; DP-SGD clips its per-row gradients."""

    def __init__(self, enc: _Encoder, dec: _Decoder, layout: _nn.Layout, factor: float) -> None:
        super().__init__()
        self.enc, self.dec = enc, dec
        self.layout, self.factor = layout, factor

    def forward(self, xb: torch.Tensor, cb: torch.Tensor | None, eps: torch.Tensor) -> torch.Tensor:
        layout = self.layout
        mu, logvar = self.enc(xb, cb)
        z = mu + eps * torch.exp(0.5 * logvar)
        raw, emb_logits = self.dec(z, cb)
        dense = xb[:, layout.dense_idx]
        sigma = self.dec.sigma
        diff = dense[:, layout.tanh_pos] - torch.tanh(raw[:, layout.tanh_pos])
        rec = (diff ** 2 / (2 * sigma ** 2)).sum(dim=1) + torch.log(sigma).sum()
        rec = rec + layout.softmax_cross_entropy(raw, dense)
        for (col, _), logits in zip(layout.embeddings, emb_logits):
            rec = rec + nn.functional.cross_entropy(logits, xb[:, col].long(), reduction="none")
        kld = -0.5 * torch.sum(1 + logvar - mu ** 2 - logvar.exp(), dim=1)
        return self.factor * rec + kld


class TVAE(GenerativeModel):
    """Tabular variational autoencoder. Hyperparameters: epochs, batch_size, embedding_dim (latent
    width), compress_dims, decompress_dims, l2scale, loss_factor, lr, early_stopping_patience,
    max_modes, max_onehot, gmm_sample_size, category_embedding_max, sample_batch_size, seed, device,
    column_specs, verbose; epsilon, delta, max_grad_norm (differential privacy: DP-SGD, rows drawn
    by Poisson sampling at batch_size / rows, each row's gradient clipped to max_grad_norm,
    Gaussian noise sized so that all the epochs spend epsilon; see :mod:`synthohive_spark.privacy.dp`)."""

    name = "tvae"
    default_hyperparams: dict[str, Any] = {
        "epochs": 300,
        "batch_size": 500,
        "embedding_dim": 128,
        "compress_dims": [128, 128],
        "decompress_dims": [128, 128],
        "l2scale": 1e-5,
        "loss_factor": 2.0,
        "lr": 1e-3,
        "early_stopping_patience": None,
        "max_modes": 10,
        "max_onehot": 50,
        "gmm_sample_size": 5000,
        "category_embedding_max": 50,
        "sample_batch_size": 2048,
        "epsilon": None,
        "delta": None,
        "max_grad_norm": 1.0,
    }

    def _build(self) -> None:
        hp = self._hp
        self._layout = _nn.Layout.from_transformer(self.transformer)
        self._ctx_layout = (_nn.Layout.from_transformer(self.context_transformer)
                            if self.context_transformer is not None else None)
        cap = int(hp["category_embedding_max"])
        z = int(hp["embedding_dim"])
        self.encoder = _Encoder(self._layout, self._ctx_layout, list(hp["compress_dims"]), z, cap)
        self.decoder = _Decoder(self._layout, self._ctx_layout, list(hp["decompress_dims"]), z, cap)

    def _train(self, data: pd.DataFrame, context: pd.DataFrame | None) -> None:
        _nn.run_training(self, data, context)

    def _fit_loop(self, data: pd.DataFrame, context: pd.DataFrame | None, dev: torch.device, rank: int,
                  world: int) -> None:
        hp = self._hp
        x, c, layout = _nn.encode_for_training(self, data, context, dev, rank)
        enc, dec = self.encoder.to(dev), self.decoder.to(dev)
        if world > 1:
            _nn.broadcast_parameters([enc, dec])
        opt = FlatAdam(list(enc.parameters()) + list(dec.parameters()), lr=hp["lr"],
                       weight_decay=hp["l2scale"])
        gen = torch.Generator(device=dev)
        gen.manual_seed(int(hp["seed"]) * 1_000_003 + rank)
        n, bs = len(x), int(hp["batch_size"])
        steps = max(math.ceil(n / bs), 1)
        if world > 1:
            steps = int(_nn.allreduce_scalar(steps, "min"))
        factor = float(hp["loss_factor"])
        row_loss = _RowLoss(enc, dec, layout, factor)
        if hp.get("epsilon") is not None:
            self._fit_private(row_loss, opt, x, c, gen, dev, steps)
            opt.release()
            self.encoder = enc.cpu().eval()
            self.decoder = dec.cpu().eval()
            return
        epochs = self._epochs("loss", "loss")
        for epoch in range(int(hp["epochs"])):
            perm = torch.randperm(n, generator=gen, device=dev)
            total = 0.0
            for step in range(steps):
                idx = perm[step * bs:(step + 1) * bs]
                if idx.numel() == 0:
                    idx = torch.randint(n, (bs,), generator=gen, device=dev)
                xb = x[idx]
                cb = c[idx] if c is not None else None
                eps = torch.randn((len(idx), int(hp["embedding_dim"])), generator=gen, device=dev)
                loss = row_loss(xb, cb, eps).mean()
                opt.zero_grad()
                loss.backward()
                if world > 1:
                    opt.allreduce_grad(world)
                opt.step()
                with torch.no_grad():
                    dec.sigma.clamp_(0.01, 1.0)
                total += float(loss.detach())
            loss_e = total / steps
            if world > 1:
                loss_e = _nn.allreduce_scalar(loss_e) / world
            if epochs.end(epoch, loss=loss_e):
                break
        epochs.close()
        opt.release()
        self.encoder = enc.cpu().eval()
        self.decoder = dec.cpu().eval()

    def _fit_private(self, row_loss: _RowLoss, opt: FlatAdam, x: torch.Tensor,
                     c: torch.Tensor | None, gen: torch.Generator, dev: torch.device,
                     steps: int) -> None:
        """DP-SGD over ``epochs`` x ``steps`` Poisson-sampled batches; stops before a step would
        spend more than epsilon (early stopping on a noisy loss would leak: not used)."""
        from synthohive_spark.privacy import dp as _dp

        hp = self._hp
        n = len(x)
        delta = float(hp["delta"]) if hp.get("delta") is not None else _dp.default_delta(n)
        budget = _dp.Budget(float(hp["epsilon"]), delta)
        gen.manual_seed(_dp.secret_seed())  # the noise and the samples: never the saved seed
        q = min(1.0, int(hp["batch_size"]) / n)
        planned = int(hp["epochs"]) * steps
        sigma = _dp.sgd_noise_multiplier(budget.epsilon, delta, q, planned)
        clip = float(hp["max_grad_norm"])
        z_dim = int(hp["embedding_dim"])
        ctx = c if c is not None else torch.zeros((n, 0), device=dev)
        has_ctx = c is not None

        def one(params: dict, x1: torch.Tensor, c1: torch.Tensor, e1: torch.Tensor) -> torch.Tensor:
            return torch.func.functional_call(
                row_loss, params, (x1[None], c1[None] if has_ctx else None, e1[None])).sum()

        epochs = self._epochs("loss", "loss")
        done = 0
        for epoch in range(int(hp["epochs"])):
            total = 0.0
            for _ in range(steps):
                if not budget.allows(sigma, q):
                    break
                idx = torch.nonzero(torch.rand(n, generator=gen, device=dev) < q).squeeze(1)
                eps = torch.randn((len(idx), z_dim), generator=gen, device=dev)
                total += _dp.private_step(row_loss, one, (x[idx], ctx[idx], eps), clip, sigma,
                                          q * n, gen)
                budget.spend(sigma, q)
                opt.step()
                done += 1
                with torch.no_grad():
                    row_loss.dec.sigma.clamp_(0.01, 1.0)
            else:
                epochs.end(epoch, loss=total / steps)
                continue
            break
        epochs.close()
        self.privacy = _dp.privacy_statement(
            budget, covered=["the network's weights (DP-SGD: every row's gradient clipped and "
                             "noised)"],
            not_covered=["the transformer's statistics of the data columns (category lists and "
                         "frequencies, mode fits, min/max)",
                         "the context transformer's statistics"],
            mechanism="DP-SGD", noise_multiplier=round(sigma, 6), sample_rate=q,
            steps=done, max_grad_norm=clip)
        self.logger.info("DP-SGD: %d steps at noise multiplier %.3f, sample rate %.4f: epsilon "
                         "%.3f spent of %.3f (delta %.2e)", done, sigma, q, budget.spent,
                         budget.epsilon, delta)

    def _skip_training(self) -> None:
        self.encoder.eval()
        self.decoder.eval()

    def to_device(self, device: str | torch.device) -> bool:
        dev = torch.device(device)
        if self.fitted:
            self.decoder = self.decoder.to(dev).eval()
            self._layout = self._layout.to(dev)
        self.sample_device = dev
        return True

    def _sample(self, n: int, context: pd.DataFrame | None, seed: int) -> pd.DataFrame:
        hp = self._hp
        dec = self.decoder.eval()
        layout = self._layout
        dev = self.sample_device
        gen, c, scalars, codes = _nn.start_sampling(self, n, context, seed)
        chunk = self._sample_chunk()
        with torch.no_grad():
            for s in range(0, n, chunk):
                b = min(chunk, n - s)
                z = torch.randn(b, int(hp["embedding_dim"]), generator=gen, device=dev)
                raw, emb_logits = dec(z, c[s:s + b] if c is not None else None)
                noise = torch.randn(b, int(layout.tanh_pos.numel()), generator=gen, device=dev) * dec.sigma
                sc, cd = _nn.decode_sample(layout, raw, emb_logits, gen, extra_tanh=noise)
                scalars[s:s + b] = sc.cpu().numpy()
                codes[s:s + b] = cd.cpu().numpy()
        return self.transformer.decode(scalars, codes)

    def _tensors(self) -> dict[str, torch.Tensor]:
        if not self.fitted:
            return {}
        return _nn.module_tensors({"encoder": self.encoder, "decoder": self.decoder})

    def _load_tensors(self, tensors: dict[str, torch.Tensor], extra: dict[str, Any]) -> None:
        if not self.fitted:
            return
        _nn.build(self)
        _nn.load_module_tensors({"encoder": self.encoder, "decoder": self.decoder}, tensors)
