"""Inputs made from the spec alone: seeded random values and token ids."""

from __future__ import annotations

from layerscope.engine.errors import InputError
from layerscope.engine.inputs.batch import InputBatch


def token_ids(spec: str, arg: str, max_samples: int | None) -> InputBatch:
    import torch

    try:
        rows = [[int(v) for v in row.split(",") if v.strip()] for row in arg.split("/")]
    except ValueError:
        raise InputError(
            f"bad token ids {spec[:60]!r}: use ids:101,2023,102 (or ids:1,2,3/4,5,6 for two)"
        ) from None
    if not rows or not all(rows) or len({len(r) for r in rows}) > 1:
        raise InputError(
            f"bad token ids {spec[:60]!r}: give one or more sequences of the same length, "
            "e.g. ids:101,2023,102"
        )
    t = torch.tensor(rows[: max_samples or None], dtype=torch.int64)
    desc = f"token ids {'×'.join(map(str, t.shape))} (int64)"
    return InputBatch(t, spec, "ids", desc)


def random_batch(
    spec: str, arg: str, shape: tuple[int, ...] | None, n: int, seed: int, integer: bool = False
) -> InputBatch:
    import torch

    if arg:
        try:
            shape = tuple(int(d) for d in arg.lower().split("x"))
        except ValueError:
            raise InputError(f"bad random shape {arg!r}: use e.g. random:3x32x32") from None
        if not shape or min(shape) < 1:
            raise InputError(f"bad random shape {arg!r}: every dimension must be at least 1")
    if shape is None:
        raise InputError("the model does not say its input shape: give one, e.g. random:3x32x32")
    dims = "×".join(str(d) for d in (n, *shape))
    if integer:  # token ids / masks: ones are valid for any vocabulary
        t = torch.ones((n, *shape), dtype=torch.int64)
        return InputBatch(t, spec, "random", f"ones {dims} (int64: an integer input)", seed=seed)
    gen = torch.Generator().manual_seed(seed)
    t = torch.randn((n, *shape), generator=gen)
    desc = f"random normal N(0, 1), seed {seed}, shape {dims} (no normalisation)"
    return InputBatch(t, spec, "random", desc, seed=seed)
