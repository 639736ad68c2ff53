"""Torch building blocks shared by the neural models: layouts, embeddings, output heads, DDP helpers.

The encoded matrix of a :class:`~synthohive_spark.transform.DataTransformer` has *dense* columns
(``tanh`` scalars and ``softmax`` one-hot blocks) and *embedding* columns (one category code per
high-cardinality column). :class:`Layout` precomputes the index tensors the models need so that the
hot paths (activations, conditional vectors, losses) are a handful of tensor ops, not per-column
Python loops.
"""
from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from synthohive_spark.transform import DataTransformer

logger = logging.getLogger("synthohive_spark.models")


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``"cpu"``, ``"cuda"`` (an error when CUDA is unavailable) or ``"auto"``."""
    name = str(device or "cpu")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise RuntimeError(f"device={name!r} was requested but CUDA is not available on this machine; "
                               "use device='cpu' or device='auto'")
        return torch.device(name)
    if name == "cpu":
        return torch.device("cpu")
    raise ValueError(f"unknown device {name!r}; expected 'cpu', 'cuda' or 'auto'")


def category_embedding_dim(n_categories: int, cap: int) -> int:
    """Width of a learned entity embedding for a column of ``n_categories`` categories."""
    return int(min(cap, max(4, round(1.6 * n_categories ** 0.56))))


# --------------------------------------------------------------------------- distributed
def dist_world() -> tuple[int, int]:
    """(rank, world size) when torch.distributed runs with more than one process, else (0, 1)."""
    import sys

    # a process group exists only if torch.distributed was imported; importing it here would cost seconds
    dist = sys.modules.get("torch.distributed")
    if dist is not None and dist.is_available() and dist.is_initialized():
        world = dist.get_world_size()
        if world > 1:
            return dist.get_rank(), world
    return 0, 1


def broadcast_parameters(modules: list[nn.Module]) -> None:
    import torch.distributed as dist

    with torch.no_grad():
        for m in modules:
            for t in list(m.parameters()) + list(m.buffers()):
                dist.broadcast(t.data, src=0)


def allreduce_buffers(modules: list[nn.Module], world: int) -> None:
    """Average floating buffers (batch-norm running statistics) so all ranks hold the same state."""
    import torch.distributed as dist

    with torch.no_grad():
        for m in modules:
            for b in m.buffers():
                if b.is_floating_point():
                    dist.all_reduce(b)
                    b /= world
                else:
                    dist.broadcast(b, src=0)


def allreduce_scalar(value: float, op: str = "sum") -> float:
    import torch.distributed as dist

    t = torch.tensor([float(value)], dtype=torch.float64)
    dist.all_reduce(t, op={"sum": dist.ReduceOp.SUM, "min": dist.ReduceOp.MIN}[op])
    return float(t.item())


# --------------------------------------------------------------------------- training
def build(model: Any) -> None:
    """``model._build()``; a table whose columns are all constant gives zero-width layers, whose
    initialisation torch reports as a no-op: nothing to warn the user about."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Initializing zero-element tensors", category=UserWarning)
        model._build()


def run_training(model: Any, data: pd.DataFrame, context: pd.DataFrame | None) -> None:
    """Seeded training shared by the neural models: networks built under the seed, then the
    model's ``_fit_loop`` under a per-rank seed; torch's global RNG state is restored after."""
    dev = resolve_device(model._hp["device"])
    rank, world = dist_world()
    seed = int(model._hp["seed"])
    with torch.random.fork_rng(devices=[dev.index or 0] if dev.type == "cuda" else []):
        torch.manual_seed(seed)
        build(model)
        if model.transformer.output_width == 0:
            # every column is constant or all-null: the transformer regenerates them alone, and a
            # network with no outputs has nothing to learn (a zero-width critic cannot even run)
            model.logger.info("every column is constant or missing: nothing to train")
            model._skip_training()
            return
        torch.manual_seed(seed + 7919 * rank)
        model._fit_loop(data, context, dev, rank, world)


def encode_for_training(model: Any, data: pd.DataFrame, context: pd.DataFrame | None,
                        dev: torch.device, rank: int) -> tuple[torch.Tensor, torch.Tensor | None, "Layout"]:
    """The encoded training matrix, the encoded context (or None) and the layout, on ``dev``."""
    rng = np.random.default_rng([int(model._hp["seed"]), rank])
    x = torch.from_numpy(model.transformer.transform(data, rng)).to(dev)
    c = (torch.from_numpy(model.context_transformer.transform(context, rng, "context")).to(dev)
         if context is not None else None)
    return x, c, model._layout.to(dev)


# --------------------------------------------------------------------------- layout
@dataclass
class Layout:
    """Index tensors over one transformer's encoded matrix."""

    width: int
    dense_idx: torch.Tensor  # encoded-matrix columns that are dense (not embedding codes)
    tanh_pos: torch.Tensor  # positions (in the dense part) of tanh scalars
    softmax_groups: list[tuple[int, torch.Tensor]]  # (width w, positions (n_spans, w) in the dense part)
    is_softmax: torch.Tensor  # bool per dense position
    embeddings: list[tuple[int, int]]  # (encoded-matrix column, n_categories) per embedding span
    discrete: list[tuple[int, int]] = field(default_factory=list)  # (dense start, K) of category spans
    # segments of the dense part: one per softmax span, one per tanh scalar (for activate)
    segment_of: torch.Tensor = field(default_factory=lambda: torch.zeros(0, dtype=torch.long))
    segment_sum: torch.Tensor = field(default_factory=lambda: torch.zeros(0, 0))  # (n_dense, n_segments) 0/1
    # decoding to codes: per softmax group the code index of each of its spans; per embedding its code
    group_codes: list[torch.Tensor] = field(default_factory=list)
    embedding_codes: list[int] = field(default_factory=list)
    n_codes: int = 0
    # dense positions in sampling order: the tanh scalars, then each softmax group's spans row by
    # row, so that decode_sample reads every group as a contiguous (rows, spans, width) view
    sample_perm: torch.Tensor = field(default_factory=lambda: torch.zeros(0, dtype=torch.long))

    @property
    def n_dense(self) -> int:
        return int(self.dense_idx.numel())

    @classmethod
    def from_transformer(cls, t: DataTransformer) -> "Layout":
        dense_cols: list[int] = []
        tanh: list[int] = []
        groups: dict[int, list[list[int]]] = {}
        embeddings: list[tuple[int, int]] = []
        discrete: list[tuple[int, int]] = []
        for s in t.spans:
            if s.activation == "embedding":
                embeddings.append((s.start, s.n_categories))
                continue
            pos = len(dense_cols)
            dense_cols.extend(range(s.start, s.end))
            if s.activation == "tanh":
                tanh.append(pos)
            else:
                groups.setdefault(s.width, []).append(list(range(pos, pos + s.width)))
                if s.role == "category":
                    discrete.append((pos, s.width))
        n_dense = len(dense_cols)
        softmax_groups = [(w, torch.tensor(v, dtype=torch.long)) for w, v in sorted(groups.items())]
        # code index (DataTransformer.decode's order: non-tanh spans in span order) of every span
        code_at: dict[int, int] = {}
        for s in t.spans:
            if s.activation != "tanh":
                code_at[s.start] = len(code_at)
        group_codes = [torch.tensor([code_at[dense_cols[row[0]]] for row in v], dtype=torch.long)
                       for _, v in sorted(groups.items())]
        embedding_codes = [code_at[col] for col, _ in embeddings]
        is_softmax = torch.ones(n_dense, dtype=torch.bool)
        is_softmax[torch.tensor(tanh, dtype=torch.long)] = False
        segment_of = torch.empty(n_dense, dtype=torch.long)
        seg = 0
        for p in tanh:
            segment_of[p] = seg
            seg += 1
        for _, idx in softmax_groups:
            for row in idx.tolist():
                segment_of[torch.tensor(row, dtype=torch.long)] = seg
                seg += 1
        segment_sum = torch.zeros(n_dense, seg)
        segment_sum[torch.arange(n_dense), segment_of] = 1.0
        sample_perm = torch.cat([torch.tensor(tanh, dtype=torch.long)]
                                + [idx.reshape(-1) for _, idx in softmax_groups])
        return cls(width=t.output_width, dense_idx=torch.tensor(dense_cols, dtype=torch.long),
                   tanh_pos=torch.tensor(tanh, dtype=torch.long), softmax_groups=softmax_groups,
                   is_softmax=is_softmax, embeddings=embeddings, discrete=discrete,
                   segment_of=segment_of, segment_sum=segment_sum, group_codes=group_codes,
                   embedding_codes=embedding_codes, n_codes=len(code_at), sample_perm=sample_perm)

    def to(self, device: torch.device) -> "Layout":
        return replace(
            self, dense_idx=self.dense_idx.to(device), tanh_pos=self.tanh_pos.to(device),
            softmax_groups=[(w, i.to(device)) for w, i in self.softmax_groups],
            is_softmax=self.is_softmax.to(device), segment_of=self.segment_of.to(device),
            segment_sum=self.segment_sum.to(device), group_codes=[g.to(device) for g in self.group_codes],
            sample_perm=self.sample_perm.to(device))

    # -------------------------------------------------------------- activations
    def activate(self, raw: torch.Tensor, tau: float = 0.2) -> torch.Tensor:
        """tanh on scalars, Gumbel-softmax on every softmax span.

        All spans at once, as a segmented softmax over the whole row: subtract each segment's max
        (no gradient: softmax does not depend on it), exponentiate, and divide by the segment sums
        (one matmul with the 0/1 segment matrix). A dozen ops whatever the number and widths of the
        spans; on CPU, ``torch.softmax`` over many short rows is several times slower.
        """
        if raw.shape[1] == 0:
            return raw
        y = (raw + gumbel_noise(tuple(raw.shape), None, raw.device).to(raw.dtype)) / tau
        seg = self.segment_of
        with torch.no_grad():
            top = y.new_full((y.shape[0], self.segment_sum.shape[1]), -torch.inf)
            top.scatter_reduce_(1, seg.expand_as(y), y, "amax")
        e = torch.exp(y - top[:, seg])
        probs = e / (e @ self.segment_sum.to(e.dtype))[:, seg]
        return torch.where(self.is_softmax, probs, torch.tanh(raw))

    def softmax_cross_entropy(self, raw: torch.Tensor, target_dense: torch.Tensor) -> torch.Tensor:
        """Sum over softmax spans of the cross-entropy against one-hot targets, per row."""
        total = raw.new_zeros(raw.shape[0])
        for w, idx in self.softmax_groups:
            logits = raw[:, idx]
            tgt = target_dense[:, idx].argmax(dim=-1)
            logp = torch.log_softmax(logits, dim=-1)
            total = total - logp.gather(-1, tgt.unsqueeze(-1)).squeeze(-1).sum(dim=1)
        return total


def softmax_rows(x: torch.Tensor) -> torch.Tensor:
    """Softmax over the last dimension, written out (faster than ``torch.softmax`` on CPU for the
    short rows of category logits, forward and backward)."""
    e = torch.exp(x - x.detach().amax(dim=-1, keepdim=True))
    return e / e.sum(dim=-1, keepdim=True)


def gumbel_softmax(logits: torch.Tensor, tau: float, generator: torch.Generator | None = None) -> torch.Tensor:
    g = gumbel_noise(tuple(logits.shape), generator, logits.device).to(logits.dtype)
    return softmax_rows((logits + g) / tau)


def gumbel_noise(shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    """Standard Gumbel noise, ``-log(-log(u))``, computed in place."""
    u = torch.rand(shape, generator=generator, device=device)
    return u.clamp_min_(1e-10).log_().neg_().clamp_min_(1e-10).log_().neg_()


# --------------------------------------------------------------------------- modules
class FeatureEmbedder(nn.Module):
    """Encoded matrix (embedding columns as codes) -> features: dense columns + learned embeddings."""

    def __init__(self, layout: Layout, cap: int) -> None:
        super().__init__()
        self.register_buffer("dense_idx", layout.dense_idx.clone(), persistent=False)
        self.emb_cols = [c for c, _ in layout.embeddings]
        self.embeds = nn.ModuleList(
            nn.Embedding(k, category_embedding_dim(k, cap)) for _, k in layout.embeddings)
        self.out_dim = layout.n_dense + sum(e.embedding_dim for e in self.embeds)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = [x[:, self.dense_idx]]
        for col, emb in zip(self.emb_cols, self.embeds):
            parts.append(emb(x[:, col].long()))
        return torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]

    def from_parts(self, dense: torch.Tensor, probs: list[torch.Tensor]) -> torch.Tensor:
        """Features of generated rows: dense activations + soft one-hots times the embedding tables."""
        parts = [dense] + [p @ emb.weight for p, emb in zip(probs, self.embeds)]
        return torch.cat(parts, dim=1) if len(parts) > 1 else dense


class OutputHead(nn.Module):
    """Hidden -> raw dense outputs and, per embedding column, logits over its categories."""

    def __init__(self, in_dim: int, layout: Layout, cap: int) -> None:
        super().__init__()
        self.dense = nn.Linear(in_dim, layout.n_dense)
        dims = [category_embedding_dim(k, cap) for _, k in layout.embeddings]
        self.emb_proj = nn.ModuleList(nn.Linear(in_dim, d) for d in dims)
        self.emb_tables = nn.ParameterList(
            nn.Parameter(torch.randn(k, d) / np.sqrt(d)) for (_, k), d in zip(layout.embeddings, dims))
        self.emb_bias = nn.ParameterList(nn.Parameter(torch.zeros(k)) for _, k in layout.embeddings)

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        logits = [proj(h) @ table.t() + bias
                  for proj, table, bias in zip(self.emb_proj, self.emb_tables, self.emb_bias)]
        return self.dense(h), logits


#: categories from which :func:`sample_categories` weighs them with torch's fused softmax
_SOFTMAX_MIN_CATEGORIES = 16


#: a CPU matrix product whose output width is not a multiple of this is 2-3.5x slower than one
#: padded to it (1000 rows x 64 -> 9 outputs: 104 us, -> 16: 29 us; -> 83: 145 us, -> 96: 128 us)
_OUTPUT_ALIGN = 16


def logits_layer(weight: torch.Tensor, bias: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A last layer (weight (K, H), bias (K)) arranged for sampling with ``torch.addmm(bias, h,
    weight)``: the weight transposed, both padded to a multiple of ``_OUTPUT_ALIGN`` outputs with
    zero weights and a bias of -inf (a padded output's weight is exp(-inf) = 0: never drawn; pass
    ``categories=K`` to :func:`sample_categories`)."""
    k, h = weight.shape
    pad = -k % _OUTPUT_ALIGN
    w = torch.zeros(h, k + pad, dtype=weight.dtype, device=weight.device)
    w[:, :k] = weight.t()
    b = torch.full((k + pad,), float("-inf"), dtype=bias.dtype, device=bias.device)
    b[:k] = bias
    return w, b


def sample_categories(logits: torch.Tensor, generator: torch.Generator | None,
                      categories: int | None = None) -> torch.Tensor:
    """One category per row of ``logits`` (..., K), drawn with probabilities softmax(logits);
    with ``categories``, only the first that many are categories (the rest padding of -inf, see
    :func:`logits_layer`).

    Inverse-CDF sampling: one uniform per row against the cumulative weights, instead of K Gumbel
    draws (the random numbers are the costly part on CPU; a 200-category column needs 200x fewer).
    The category is the number of cumulative weights <= u (zero-weight categories are never drawn).
    Up to 16 categories that count is a byte sum of the comparison (torch's sum of a bool tensor
    over a short last dimension is several times slower); above, a binary search. The weights:
    from ``_SOFTMAX_MIN_CATEGORIES`` categories torch's fused softmax (one pass where a max, a
    subtraction and an exp were three: a quarter less time per draw of 500 rows x 101
    categories); below, exp(logits - the row's largest), unnormalized (u is scaled to the last
    cumulative weight), because torch's softmax over so short a last dimension is 5-7x slower
    than its parts (1000 rows x 9 categories: 146 us against 21 us).
    """
    k = logits.shape[-1]
    if k < _SOFTMAX_MIN_CATEGORIES:
        cum = (logits - logits.amax(dim=-1, keepdim=True)).exp_().cumsum(dim=-1)
    else:
        cum = torch.softmax(logits, dim=-1).cumsum(dim=-1)
    u = torch.rand(cum.shape[:-1] + (1,), generator=generator, device=cum.device, dtype=cum.dtype)
    u = u.mul_(cum[..., -1:])
    if k > 16:
        idx = torch.searchsorted(cum, u, right=True).squeeze(-1)
    else:
        idx = (cum <= u).view(torch.uint8).sum(dim=-1, dtype=torch.uint8)
    return idx.clamp_max_((k if categories is None else categories) - 1)


def start_sampling(model: Any, n: int, context: pd.DataFrame | None, seed: int
                   ) -> tuple[torch.Generator, torch.Tensor | None, np.ndarray, np.ndarray]:
    """What CTGAN and TVAE sample with: a generator seeded on the model's sampling device, the
    encoded context there, and the (scalars, codes) arrays that collect every pass for
    ``DataTransformer.decode``."""
    dev = model.sample_device
    gen = torch.Generator(device=dev).manual_seed(seed)
    c = None
    if context is not None:
        rng = np.random.default_rng(seed)
        c = torch.from_numpy(model.context_transformer.transform(context, rng, "context")).to(dev)
    layout = model._layout
    scalars = np.empty((n, int(layout.tanh_pos.numel())), dtype=np.float32)
    codes = np.empty((n, layout.n_codes), dtype=np.int64)
    return gen, c, scalars, codes


def decode_sample(layout: Layout, raw: torch.Tensor, emb_logits: list[torch.Tensor],
                  generator: torch.Generator, extra_tanh: torch.Tensor | None = None,
                  ordered: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Raw generator outputs -> (scalars, codes) for ``DataTransformer.decode``.

    Scalars are ``tanh`` of the tanh outputs (plus ``extra_tanh`` noise when given, clipped to
    [-1, 1]); every softmax span and embedding column gets a category drawn from the softmax of its
    logits. ``raw`` holds the dense outputs in the layout's order, or with ``ordered`` already in
    ``layout.sample_perm`` order (a generator can emit that order for free by permuting the rows of
    its output layer), which spares the gather.
    """
    b = raw.shape[0]
    if not ordered:
        raw = raw.index_select(1, layout.sample_perm)
    n_tanh = int(layout.tanh_pos.numel())
    scalars = torch.tanh(raw[:, :n_tanh])
    if extra_tanh is not None:
        scalars = (scalars + extra_tanh).clamp_(-1.0, 1.0)
    codes = torch.empty((b, layout.n_codes), dtype=torch.long, device=raw.device)
    pos = n_tanh
    for (w, idx), where in zip(layout.softmax_groups, layout.group_codes):
        spans = int(idx.shape[0])
        block = raw[:, pos:pos + spans * w].unflatten(1, (spans, w))
        codes[:, where] = sample_categories(block, generator).long()
        pos += spans * w
    for where, logits in zip(layout.embedding_codes, emb_logits):
        codes[:, where] = sample_categories(logits, generator)
    return scalars, codes


def module_tensors(modules: dict[str, "nn.Module"]) -> dict[str, torch.Tensor]:
    """The state of several modules in one flat dict, each key prefixed ``<name>.``."""
    return {f"{name}.{k}": v for name, m in modules.items() for k, v in m.state_dict().items()}


def load_module_tensors(modules: dict[str, "nn.Module"], tensors: dict[str, torch.Tensor]) -> None:
    """Load what :func:`module_tensors` wrote back into ``modules`` (strict) and set them to eval."""
    for name, m in modules.items():
        prefix = name + "."
        m.load_state_dict({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)},
                          strict=True)
        m.eval()
