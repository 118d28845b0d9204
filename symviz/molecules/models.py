"""The conformer networks, built from a small JSON-able spec stored in every checkpoint.

    spec = net_spec("egnn", hidden=128, layers=6)   # {"kind": "egnn", "node_dim": 28, "edge_dim": 11, ...}
    net = build_net(spec)                            # net(x_t, t, mask=, node_attr=, edge_attr=) -> x0_hat

``egnn``: :class:`symviz.nets.EGNN` (E(3)-equivariant; node and pair features of
:mod:`symviz.molecules.features`). ``transformer``: :class:`symviz.nets.AtomTransformer` (not equivariant: raw
coordinates in; pair features as attention biases).
"""

from __future__ import annotations

from symviz.molecules.features import NODE_DIM, PAIR_DIM

__all__ = ["NET_KINDS", "net_spec", "build_net"]

NET_KINDS = ("egnn", "transformer")


def net_spec(kind: str, hidden: int = 128, layers: int = 6, **extra) -> dict:
    """A JSON-able description of a conformer network (what :func:`build_net` needs)."""
    if kind not in NET_KINDS:
        raise ValueError(f"net kind must be one of {NET_KINDS}; got {kind!r}")
    return {
        "kind": kind,
        "node_dim": NODE_DIM,
        "edge_dim": PAIR_DIM,
        "hidden": int(hidden),
        "layers": int(layers),
    } | extra


def build_net(spec: dict):
    """The network of ``spec`` (see :func:`net_spec`), freshly initialised (seed torch first)."""
    from symviz import nets

    spec = dict(spec)
    kind = spec.pop("kind", None)
    if kind == "egnn":
        return nets.EGNN(**spec)
    if kind == "transformer":
        return nets.AtomTransformer(**spec)
    raise ValueError(f"spec: unknown network kind {kind!r}; expected one of {NET_KINDS}")
