"""Pairing the conv/linear ops of a float model with those of its quantized version.

Three passes, each only over what the previous left unpaired:

1. **name**: equal normalised names (``/layer1/conv1/Conv_quant`` and ``layer1.conv1`` are both
   ``layer1.conv1``), from node/module names first, then from weight names;
2. **suffix**: one name is the other plus a wrapper prefix (``inner.conv1`` ↔ ``conv1``), unique;
3. **position**: the remaining ops in graph order, aligned on (kind, weight shape), so a PyTorch
   model matches its exported ONNX file even when the exporter named nodes ``node_Conv_12``;
   what the alignment leaves is paired when its (kind, shape) is unique on both sides.

Every pair must agree on kind and weight shape; a name match with another shape is not a match.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from layerscope.engine.quant_compare.ops import Op


@dataclass
class Pair:
    float_op: Op
    quant_op: Op
    matched_by: str


def _fits(a: Op, b: Op) -> bool:
    return a.kind == b.kind and a.shape == b.shape


def _by_keys(f_ops: list[Op], q_ops: list[Op], attr: str) -> list[Pair]:
    def unique(ops: list[Op]) -> dict[str, Op]:
        seen: dict[str, Op | None] = {}
        for op in ops:
            k = getattr(op, attr)
            if k:
                seen[k] = None if k in seen else op
        return {k: v for k, v in seen.items() if v is not None}

    fk, qk = unique(f_ops), unique(q_ops)
    return [Pair(fk[k], qk[k], "name") for k in fk if k in qk and _fits(fk[k], qk[k])]


def _by_suffix(f_ops: list[Op], q_ops: list[Op]) -> list[Pair]:
    pairs = []
    for f in f_ops:
        cands = [
            q
            for q in q_ops
            if f.key and q.key and (f.key.endswith("." + q.key) or q.key.endswith("." + f.key))
        ]
        if len(cands) == 1 and _fits(f, cands[0]):
            pairs.append(Pair(f, cands[0], "name"))
    return pairs


def _by_position(f_ops: list[Op], q_ops: list[Op]) -> list[Pair]:
    sig_f = [(o.kind, o.shape) for o in f_ops]
    sig_q = [(o.kind, o.shape) for o in q_ops]
    sm = difflib.SequenceMatcher(a=sig_f, b=sig_q, autojunk=False)
    pairs = []
    for block in sm.get_matching_blocks():
        for k in range(block.size):
            pairs.append(Pair(f_ops[block.a + k], q_ops[block.b + k], "position"))
    return pairs


def _by_unique_shape(f_ops: list[Op], q_ops: list[Op]) -> list[Pair]:
    """Pair what is left when its (kind, shape) occurs once on each side: graph optimisers
    reorder independent branches (a ResNet shortcut before the block's first conv)."""
    from collections import Counter

    cf = Counter((o.kind, o.shape) for o in f_ops)
    cq = Counter((o.kind, o.shape) for o in q_ops)
    by_sig = {(o.kind, o.shape): o for o in q_ops}
    return [
        Pair(f, by_sig[(f.kind, f.shape)], "position")
        for f in f_ops
        if cf[(f.kind, f.shape)] == 1 and cq.get((f.kind, f.shape)) == 1
    ]


def match(f_ops: list[Op], q_ops: list[Op]) -> tuple[list[Pair], list[Op], list[Op]]:
    """Pair the ops; return (pairs in quantized-graph order, unmatched float, unmatched quant)."""
    pairs: list[Pair] = []
    left_f, left_q = list(f_ops), list(q_ops)
    for step in (
        lambda f, q: _by_keys(f, q, "key"),
        lambda f, q: _by_keys(f, q, "alt_key"),
        _by_suffix,
        _by_position,
        _by_unique_shape,
    ):
        new = step(left_f, left_q)
        taken_f, taken_q = set(), set()
        for p in new:  # a later pass must never reuse an op an earlier one paired
            if id(p.float_op) in taken_f or id(p.quant_op) in taken_q:
                continue
            taken_f.add(id(p.float_op))
            taken_q.add(id(p.quant_op))
            pairs.append(p)
        left_f = [o for o in left_f if id(o) not in taken_f]
        left_q = [o for o in left_q if id(o) not in taken_q]
    pairs.sort(key=lambda p: p.quant_op.index)
    return pairs, left_f, left_q
