"""Layers without a module class get a kind guessed from their tensors, marked with ``~``."""

from __future__ import annotations

import pytest

from layerscope.engine.loaders.common import guess_kinds
from layerscope.engine.model import TensorRef, TreeBuilder


def _ref(name: str, shape: tuple[int, ...]) -> TensorRef:
    return TensorRef(name=name, shape=shape, dtype="float32", loader=lambda: None)


@pytest.mark.parametrize(
    ("tensors", "kind"),
    [
        ({"weight": (8, 3, 3, 3), "bias": (8,)}, "~Conv2d"),
        ({"weight": (8, 3, 3)}, "~Conv1d"),
        ({"weight": (8, 3, 3, 3, 3)}, "~Conv3d"),
        ({"weight": (10, 4), "bias": (10,)}, "~Linear"),
        ({"weight": (4,), "bias": (4,)}, "~Norm"),
        ({"weight": (4,), "running_mean": (4,), "running_var": (4,)}, "~BatchNorm"),
        ({"running_mean": (4,), "running_var": (4,)}, "~BatchNorm"),
        ({"bias": (4,)}, ""),
        ({"weight": ()}, ""),
        ({"weight": (1, 1, 1, 1, 1, 1)}, ""),
    ],
)
def test_kind_from_the_weight_shape(tensors: dict[str, tuple[int, ...]], kind: str) -> None:
    b = TreeBuilder()
    b.add_tensors(_ref(f"block.layer.{role}", shape) for role, shape in tensors.items())
    guess_kinds(b)
    assert b.layers["block.layer"].kind == kind
    assert b.layers["block"].kind == ""  # no tensors of its own: no guess


@pytest.mark.parametrize("name", ["model.embed_tokens", "transformer.wte", "transformer.wpe"])
def test_a_2d_weight_named_like_an_embedding_is_one(name: str) -> None:
    b = TreeBuilder()
    b.add_tensors([_ref(f"{name}.weight", (100, 8))])
    guess_kinds(b)
    assert b.layers[name].kind == "~Embedding"


def test_a_kind_read_from_the_file_is_kept() -> None:
    b = TreeBuilder()
    b.add_layer("fc", "Linear")
    b.add_tensors([_ref("fc.weight", (4,))])
    guess_kinds(b)
    assert b.layers["fc"].kind == "Linear"


def test_add_tensors_keeps_two_tensors_with_one_role() -> None:
    b = TreeBuilder()
    first, second = _ref("fc.weight", (2, 2)), _ref("fc.weight", (2, 2))
    b.add_tensors([first, second])
    assert list(b.layers["fc"].tensors) == ["weight", "weight'"]
    assert (first.layer, first.role, second.role) == ("fc", "weight", "weight'")
    assert b.layers[""].children == ["fc"]
