"""The training kernels behind CTGAN/TVAE: flat Adam, bit-sliced dropout, segmented Gumbel-softmax."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from synthohive_spark.models import _nn
from synthohive_spark.models._optim import FlatAdam, HalfDropout, half_mask
from synthohive_spark.transform import DataTransformer


def _net(seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(7, 6), torch.nn.BatchNorm1d(6), torch.nn.ReLU(),
                               torch.nn.Linear(6, 2))


@pytest.mark.parametrize("fused", [True, False])
def test_flat_adam_follows_torch_adam(fused: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    ref, ours = _net(0), _net(0)
    opt_ref = torch.optim.Adam(ref.parameters(), lr=3e-3, betas=(0.5, 0.9), weight_decay=1e-3)
    opt = FlatAdam(ours.parameters(), lr=3e-3, betas=(0.5, 0.9), weight_decay=1e-3)
    if not fused:
        monkeypatch.setattr(torch, "_fused_adam_", None, raising=False)
    gen = torch.Generator().manual_seed(1)
    for _ in range(40):
        x = torch.randn(16, 7, generator=gen)
        for net, o in ((ref, opt_ref), (ours, opt)):
            o.zero_grad()
            (net(x) ** 2).mean().backward()
            o.step()
    for a, b in zip(ref.parameters(), ours.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    assert any(not torch.equal(a, b) for a, b in zip(_net(0).parameters(), ours.parameters()))


def test_flat_adam_shares_one_buffer_until_released() -> None:
    net = _net(0)
    opt = FlatAdam(net.parameters(), lr=1e-3)
    ptrs = {p.data.untyped_storage().data_ptr() for p in net.parameters()}
    assert ptrs == {opt.flat.untyped_storage().data_ptr()}
    before = [p.detach().clone() for p in net.parameters()]
    opt.release()
    ptrs = [p.data.untyped_storage().data_ptr() for p in net.parameters()]
    assert len(set(ptrs)) == len(ptrs)
    assert all(p.grad is None for p in net.parameters())
    for a, b in zip(before, net.parameters()):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match="no trainable parameters"):
        FlatAdam([], lr=1e-3)


def test_half_dropout_mask_is_fair_and_identity_in_eval() -> None:
    torch.manual_seed(3)
    m = half_mask((300, 257), torch.device("cpu"), torch.float32)
    assert set(m.unique().tolist()) == {0.0, 2.0}
    assert abs(float((m > 0).float().mean()) - 0.5) < 0.01
    # columns and rows are not correlated through the bit slicing
    col_rates = (m > 0).float().mean(0)
    assert float(col_rates.std()) < 0.06
    d = HalfDropout()
    x = torch.randn(40, 9)
    out = d(x)
    assert torch.all((out == 0) | torch.isclose(out, 2 * x))
    d.eval()
    assert torch.equal(d(x), x)


def test_segmented_gumbel_softmax_equals_per_span_softmax() -> None:
    r = np.random.default_rng(0)
    df = pd.DataFrame({"a": r.normal(size=400), "b": r.choice(list("xyz"), 400), "c": r.choice(list("pq"), 400),
                       "d": np.r_[r.normal(0, 1, 200), r.normal(8, 1, 200)], "e": r.choice(list("pq"), 400)})
    layout = _nn.Layout.from_transformer(DataTransformer().fit(df))
    raw = torch.randn(11, layout.n_dense, dtype=torch.float64) * 30  # large logits: needs the per-span max
    torch.manual_seed(5)
    got = layout.activate(raw)
    torch.manual_seed(5)
    y = (raw + _nn.gumbel_noise(tuple(raw.shape), None, raw.device).double()) / 0.2
    want = torch.tanh(raw)
    for _, idx in layout.softmax_groups:
        want[:, idx.reshape(-1)] = torch.softmax(y[:, idx], dim=-1).reshape(11, -1)
    assert torch.isfinite(got).all()
    torch.testing.assert_close(got, want)
    sums = [got[:, idx].sum(-1) for _, idx in layout.softmax_groups]
    for s in sums:
        torch.testing.assert_close(s, torch.ones_like(s))


@pytest.mark.parametrize("k", [2, 7, 16, 17, 300])
def test_sample_categories_follows_the_softmax(k: int) -> None:
    gen = torch.Generator().manual_seed(k)
    logits = torch.randn(k, generator=gen) * 2
    logits[0] = -200.0  # a category of (numerically) zero probability is never drawn
    n = 200_000
    draws = _nn.sample_categories(logits.expand(n, k).clone(), gen)
    assert draws.min() >= 1 and draws.max() < k
    freq = torch.bincount(draws, minlength=k).double() / n
    p = torch.softmax(logits.double(), 0)
    # within 5 standard errors per category
    assert torch.all((freq - p).abs() <= 5 * torch.sqrt(p * (1 - p) / n) + 1e-9)


@pytest.mark.parametrize("k", [5, 40])
def test_sample_categories_takes_logits_of_any_size(k: int) -> None:
    # the weights are exps of the logits less their row's largest: a shift of every logit by a
    # thousand (exp overflows at 89 in float32) draws the same categories
    logits = torch.randn(5000, k, generator=torch.Generator().manual_seed(0)) * 3
    want = _nn.sample_categories(logits.clone(), torch.Generator().manual_seed(1))
    got = _nn.sample_categories(logits + 1000.0, torch.Generator().manual_seed(1))
    assert (got != want).float().mean() < 0.01   # only where rounding moves a boundary


@pytest.mark.parametrize("k", [3, 9, 16, 83])
def test_a_padded_logits_layer_draws_only_its_categories_with_their_softmax(k: int) -> None:
    gen = torch.Generator().manual_seed(k)
    weight, bias = torch.randn(k, 8, generator=gen), torch.randn(k, generator=gen)
    w, b = _nn.logits_layer(weight, bias)
    assert w.shape[1] % 16 == 0 and b.shape == (w.shape[1],)
    h = torch.randn(4, 8, generator=gen)
    logits = torch.addmm(b, h, w)
    torch.testing.assert_close(logits[:, :k], torch.addmm(bias, h, weight.t()))
    assert torch.isneginf(logits[:, k:]).all()
    n = 100_000
    draws = _nn.sample_categories(torch.addmm(b, h[:1].expand(n, 8), w), gen, k)
    assert draws.max() < k
    freq = torch.bincount(draws, minlength=k).double() / n
    p = torch.softmax(logits[0, :k].double(), 0)
    # within 5 standard errors, and 3 draws for categories too rare for the normal approximation
    assert torch.all((freq - p).abs() <= 5 * torch.sqrt(p * (1 - p) / n) + 3 / n)


def test_decode_of_sampled_codes_agrees_with_inverse_transform_of_the_matrix() -> None:
    r = np.random.default_rng(1)
    n = 300
    df = pd.DataFrame({"x": np.where(r.random(n) < 0.2, np.nan, r.normal(5, 2, n)),
                       "c": r.choice(["a", "b", "c"], n), "k": r.choice([f"s{i}" for i in range(80)], n),
                       "one": ["same"] * n})
    t = DataTransformer(max_onehot=50).fit(df)
    m = t.transform(df, np.random.default_rng(0))
    out_matrix = t.inverse_transform(m)
    scalars, codes = [], []
    for s in t.spans:
        if s.activation == "tanh":
            scalars.append(m[:, s.start])
        elif s.activation == "softmax":
            codes.append(m[:, s.start:s.end].argmax(1))
        else:
            codes.append(m[:, s.start].astype(np.int64))
    out_codes = t.decode(np.stack(scalars, 1), np.stack(codes, 1))
    pd.testing.assert_frame_equal(out_codes, out_matrix)
    pd.testing.assert_series_equal(out_codes["c"], df["c"])
    assert out_codes["x"].isna().tolist() == df["x"].isna().tolist()
    with pytest.raises(Exception, match="do not match"):
        t.decode(np.zeros((3, 5)), np.zeros((3, 1), dtype=np.int64))


@pytest.mark.parametrize("dims", [[256, 256], [64], [32, 48, 16]])
def test_generator_inference_pass_equals_the_eval_forward(dims: list[int]) -> None:
    from synthohive_spark.models import create_model

    r = np.random.default_rng(0)
    n = 1500
    df = pd.DataFrame({"a": r.normal(size=n), "b": r.choice(list("xyz"), n),
                       "p": r.choice([f"p{i}" for i in range(120)], n), "d": r.gamma(2, 3, n)})
    m = create_model("ctgan", epochs=1, seed=0, generator_dim=dims, batch_size=100).fit(df)
    g = m.generator.eval()
    z = torch.randn(64, 128)
    cond = torch.zeros(64, m._cond_dim)
    cond[torch.arange(64), torch.randint(m._cond_dim, (64,))] = 1.0
    with torch.no_grad():
        raw, logits = g(z, cond, None)
    raw2, logits2 = g.infer(z, cond, None)
    torch.testing.assert_close(raw2, raw, rtol=1e-5, atol=1e-5)
    assert len(logits) == len(logits2) == 1
    torch.testing.assert_close(logits2[0], logits[0], rtol=1e-5, atol=1e-5)


def test_sample_categories_draws_each_span_of_a_block_from_its_own_softmax() -> None:
    gen = torch.Generator().manual_seed(3)
    spans, k, n = 3, 10, 100_000
    logits = torch.randn(spans, k, generator=gen) * 1.5
    draws = _nn.sample_categories(logits.expand(n, spans, k).clone(), gen).long()
    assert draws.shape == (n, spans)
    for j in range(spans):
        freq = torch.bincount(draws[:, j], minlength=k).double() / n
        p = torch.softmax(logits[j].double(), 0)
        assert torch.all((freq - p).abs() <= 5 * torch.sqrt(p * (1 - p) / n) + 1e-9)


def test_sampling_order_of_the_generator_matches_the_gathered_layout() -> None:
    """infer(order=sample_perm) emits the dense outputs permuted, and decode_sample on them draws
    exactly what it draws from the outputs in layout order (the same random numbers, same codes)."""
    from synthohive_spark.models import create_model

    r = np.random.default_rng(1)
    n = 1200
    df = pd.DataFrame({"a": r.normal(size=n), "b": r.choice(list("xyz"), n), "t": r.choice(list("uv"), n),
                       "p": r.choice([f"p{i}" for i in range(90)], n), "d": r.gamma(2, 3, n)})
    m = create_model("ctgan", epochs=1, seed=0, batch_size=100).fit(df)
    layout, g = m._layout, m.generator.eval()
    assert sorted(layout.sample_perm.tolist()) == list(range(layout.n_dense))
    z = torch.randn(300, 128)
    cond = torch.zeros(300, m._cond_dim)
    raw, logits = g.infer(z, cond, None)
    ordered, logits2 = g.infer(z, cond, None, order=layout.sample_perm)
    torch.testing.assert_close(ordered, raw[:, layout.sample_perm])
    sc1, cd1 = _nn.decode_sample(layout, raw, logits, torch.Generator().manual_seed(5))
    sc2, cd2 = _nn.decode_sample(layout, ordered, logits2, torch.Generator().manual_seed(5), ordered=True)
    torch.testing.assert_close(sc2, sc1)
    assert torch.equal(cd1, cd2)
    assert cd1.dtype == torch.long


def test_generation_task_device_never_touches_cuda_without_use_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    from synthohive_spark.ml import _generation as gen

    def boom() -> bool:
        raise AssertionError("CUDA was queried although useGpu is off")

    monkeypatch.setattr(torch.cuda, "is_available", boom)
    assert gen._task_device(False) == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert gen._task_device(True) == "cpu"  # asked for, none there: the CPU, no error
