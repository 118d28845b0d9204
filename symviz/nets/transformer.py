"""A deliberately non-equivariant atom transformer predicting x0 for molecules (the OrbDiff test network).

Orbit Diffusion (Tong et al., "Symmetry-preserving diffusion models via target symmetrization", arXiv
2502.09890) trains a denoiser with no built-in symmetry on the orbit-averaged target; the minimiser of that
loss is equivariant, so the group equivariance is learnt rather than built in. On molecules the group is
SO(3) x Aut(graph). :class:`AtomTransformer` is the network to measure that claim with: it has the call
signature of :class:`~symviz.nets.EGNN` but sees raw coordinates, so at initialisation it is clearly not
rotation-equivariant; any SO(3) equivariance it shows after training comes from the target.

Per layer ``l`` (pre-LayerNorm, residual), on tokens ``h (B, n, hidden)``:

    h <- h + Attn(LN(h); bias_ij = W_l [e_ij, rbf(|x_i - x_j|)] (one logit per head), -inf on padding keys)
    h <- h + MLP(LN(h))

Output (``c_skip(t)`` is learnt from the time features, in the spirit of EDM preconditioning, Karras et al.
2022, where ``c_skip`` depends on the schedule; learning it keeps the network schedule-agnostic):

    x0_hat = center(c_skip(t) x_t + Linear(LN(h)), mask)

At high noise the best x0 estimate is nearly independent of ``x_t`` (c_skip -> 0); at low noise it is nearly
``x_t`` (c_skip -> 1), which the head alone would have to reproduce from the tokens. The skip term is
rotation-equivariant; the head is not.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from symviz.nets.egnn import center_real
from symviz.nets.mlp import mlp, time_features

__all__ = ["AtomTransformer"]


class _Block(nn.Module):
    """Pre-LN multi-head self-attention with an additive pair bias, then a pre-LN MLP; both residual."""

    def __init__(self, hidden: int, heads: int, pair_dim: int, dropout: float):
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.ln1 = nn.LayerNorm(hidden)
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.proj = nn.Linear(hidden, hidden)
        self.pair = nn.Linear(pair_dim, heads)
        self.ln2 = nn.LayerNorm(hidden)
        self.mlp = nn.Sequential(
            nn.Linear(hidden, 4 * hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(4 * hidden, hidden)
        )
        self.drop = nn.Dropout(dropout)

    def forward(self, h: torch.Tensor, pair: torch.Tensor, key_mask: torch.Tensor) -> torch.Tensor:
        b, n, c = h.shape
        q, k, v = self.qkv(self.ln1(h)).view(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        bias = self.pair(pair).permute(0, 3, 1, 2) + key_mask  # (B, heads, n, n)
        p = self.dropout if self.training else 0.0
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, dropout_p=p)  # (B, heads, n, c / heads)
        h = h + self.drop(self.proj(a.transpose(1, 2).reshape(b, n, c)))
        return h + self.drop(self.mlp(self.ln2(h)))


class AtomTransformer(nn.Module):
    """``(x_t (B, n, 3), t (B,), mask (B, n) | None, node_attr, edge_attr) -> x0_hat (B, n, 3)``.

    Same call as :class:`~symviz.nets.EGNN`. Each atom is one token embedding its node features, its raw
    coordinates (after centring over the real atoms), ``NUM_FOURIER`` sin/cos pairs of ``x @ B`` for a fixed
    random ``B (3, NUM_FOURIER)`` (a buffer drawn from a generator seeded with ``FOURIER_SEED``, so it does not
    depend on the global seed) and the time features. Pairs enter only as attention biases: the edge features
    and a Gaussian RBF expansion (``NUM_RBF`` centres on ``[0, RBF_MAX]`` Å) of the current distances, through
    one ``Linear -> heads`` per layer. There is no positional encoding.

    Symmetry: equivariant under permutations of the atoms (with their node/edge features); translation
    invariant (input centred, output re-centred over the real atoms); NOT rotation/reflection-equivariant,
    on purpose, since raw coordinates enter the tokens. Distances are invariant and make learning easier,
    but do not make the network equivariant.

    Padding: padded atoms are never attended to by real atoms (their keys get -inf); a padded query attends
    to itself only, so an all-padding molecule gives no NaN. Padded outputs are 0 and padded inputs do not
    change real outputs.

    Args:
        node_dim: size of ``node_attr (B, n, node_dim)`` (e.g. one-hot atom types); 0 for none.
        edge_dim: size of ``edge_attr (B, n, n, edge_dim)`` (e.g. bond types); 0 for none.
        hidden: token width (default 128; must be divisible by ``heads``). layers: transformer blocks
            (default 4). heads: attention heads (default 8). time_dim: Fourier time features (default 16).
        dropout: on attention weights, residual branches and the MLP (default 0).
    """

    NUM_FOURIER = 8
    FOURIER_SEED = 0
    NUM_RBF = 16
    RBF_MAX = 10.0

    def __init__(
        self,
        node_dim: int,
        edge_dim: int,
        hidden: int = 128,
        layers: int = 4,
        heads: int = 8,
        time_dim: int = 16,
        dropout: float = 0.0,
    ):
        super().__init__()
        if hidden % heads:
            raise ValueError(f"hidden ({hidden}) must be divisible by heads ({heads})")
        self.node_dim, self.edge_dim, self.time_dim = node_dim, edge_dim, time_dim
        g = torch.Generator().manual_seed(self.FOURIER_SEED)
        self.register_buffer("fourier", torch.randn(3, self.NUM_FOURIER, generator=g))
        self.register_buffer("rbf_centers", torch.linspace(0.0, self.RBF_MAX, self.NUM_RBF))
        self.rbf_gamma = 1.0 / (self.RBF_MAX / (self.NUM_RBF - 1)) ** 2
        token_in = node_dim + 3 + 2 * self.NUM_FOURIER + time_dim + 1
        self.embed = mlp([token_in, hidden, hidden])
        self.blocks = nn.ModuleList([_Block(hidden, heads, edge_dim + self.NUM_RBF, dropout) for _ in range(layers)])
        self.ln_out = nn.LayerNorm(hidden)
        self.head = nn.Linear(hidden, 3)
        self.skip = mlp([time_dim + 1, hidden, 1])

    def forward(self, x, t, mask=None, node_attr=None, edge_attr=None):
        b, n, _ = x.shape
        if mask is None:
            mask = torch.ones(b, n, dtype=torch.bool, device=x.device)
        if self.node_dim and node_attr is None:
            raise ValueError(f"this AtomTransformer expects node_attr of shape (B, n, {self.node_dim})")
        if self.edge_dim and edge_attr is None:
            raise ValueError(f"this AtomTransformer expects edge_attr of shape (B, n, n, {self.edge_dim})")
        x = center_real(x, mask)  # translation invariance; padded coordinates become 0
        tf = time_features(t.to(x.dtype).expand(b), self.time_dim)  # (B, time_dim + 1)
        ang = x @ self.fourier.to(x.dtype)
        feats = [x, torch.sin(ang), torch.cos(ang), tf[:, None, :].expand(b, n, -1)]
        if self.node_dim:
            feats.insert(0, node_attr.to(x.dtype))
        h = self.embed(torch.cat(feats, -1))

        d2 = (x[:, :, None, :] - x[:, None, :, :]).pow(2).sum(-1, keepdim=True)
        d = torch.sqrt(d2 + 1e-8)  # sqrt(0) has an infinite gradient on the diagonal
        pair = [torch.exp(-self.rbf_gamma * (d - self.rbf_centers.to(x.dtype)) ** 2)]  # (B, n, n, NUM_RBF)
        if self.edge_dim:
            pair.insert(0, edge_attr.to(x.dtype))
        pair = torch.cat(pair, -1)
        eye = torch.eye(n, dtype=torch.bool, device=x.device)
        allowed = mask[:, None, :] | eye  # key j for query i: real j, or i itself (padded queries)
        key_mask = torch.zeros(b, 1, n, n, dtype=x.dtype, device=x.device).masked_fill(~allowed[:, None], -math.inf)

        for block in self.blocks:
            h = block(h, pair, key_mask)
        y = self.skip(tf)[:, :, None] * x + self.head(self.ln_out(h))
        return center_real(y, mask)
