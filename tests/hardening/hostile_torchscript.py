"""TorchScript archives that write a marker file when loaded (``__setstate__``) or run (``forward``).

``torch.from_file(path, True, n)`` creates ``path``: the stand-in for any file a hostile archive
could write. Nothing here runs the archives; the tests do, and check whether the marker appeared.
"""

from __future__ import annotations

import types
from pathlib import Path

import torch


class SetstateWriter(torch.nn.Module):
    """A layer whose scripted ``__setstate__`` (run by ``torch.jit.load``) creates ``marker``."""

    def __init__(self, marker: str) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.arange(12.0).reshape(3, 4) / 7)
        self.marker = marker
        self.touched = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.weight.t()

    @torch.jit.export
    def __getstate__(self) -> tuple[str, torch.Tensor, bool]:
        return (self.marker, self.weight, self.training)

    @torch.jit.export
    def __setstate__(self, state: tuple[str, torch.Tensor, bool]) -> None:
        self.marker = state[0]
        self.weight = state[1]
        self.training = state[2]
        self.touched = torch.from_file(self.marker, True, 4).numel()  # used: not optimised away


class ForwardWriter(torch.nn.Module):
    """A plain-looking layer whose scripted ``forward`` creates ``marker``."""

    def __init__(self, marker: str) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.linspace(-1, 1, 12).reshape(3, 4))
        self.marker = marker

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        probe = torch.from_file(self.marker, True, 4)
        return x @ self.weight.t() + probe.sum() * 0


class Net(torch.nn.Module):
    """fc (4→4) then the hostile layer (4→3); ``input_shape`` lets capture make a random input."""

    def __init__(self, hostile: torch.nn.Module) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(4, 4)
        self.hostile = hostile
        self.register_buffer("steps", torch.tensor([3, 5], dtype=torch.int64))
        self.input_shape = [4]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.hostile(torch.relu(self.fc(x)))


def write_hostile(folder: Path, kind: str) -> tuple[Path, Path]:
    """Save a scripted ``Net`` whose ``kind`` ("setstate" or "forward") layer writes a marker.

    Returns (archive path, marker path); the marker does not exist yet.
    """
    torch.manual_seed(0)
    marker = folder / f"marker-{kind}.bin"
    layer = SetstateWriter(str(marker)) if kind == "setstate" else ForwardWriter(str(marker))
    path = folder / f"hostile-{kind}.pt"
    torch.jit.save(torch.jit.script(Net(layer).eval()), str(path))
    assert not marker.exists()
    return path, marker


def write_crafted(path: Path, root: object, persistent: dict[int, tuple] | None = None) -> Path:
    """A TorchScript-shaped zip whose ``data.pkl`` pickles ``root`` (objects of ``scripted(...)``
    classes pickle as ``__torch__`` globals); ``persistent`` maps ``id(obj)`` to a persistent id.
    """
    import io
    import pickle
    import sys
    import zipfile

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj: object) -> object:
            return (persistent or {}).get(id(obj))

    buf = io.BytesIO()
    limit, before = sys.getrecursionlimit(), sys.modules.get("__torch__")
    sys.setrecursionlimit(max(limit, 20_000))
    sys.modules["__torch__"] = _FAKE_TORCH  # only while pickling: torch never sees it
    try:
        Pickler(buf, protocol=2).dump(root)
    finally:
        sys.setrecursionlimit(limit)
        if before is None:
            del sys.modules["__torch__"]
        else:
            sys.modules["__torch__"] = before
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("m/data.pkl", buf.getvalue())
        zf.writestr("m/constants.pkl", pickle.dumps((), protocol=2))
        zf.writestr("m/code/__torch__.py", "")
        zf.writestr("m/version", "3\n")
    return path


_FAKE_TORCH = types.ModuleType("__torch__")


def scripted(name: str) -> type:
    """A class that pickles as the global ``__torch__.<name>`` (see ``write_crafted``)."""
    cls = type(name, (), {"__module__": "__torch__"})
    setattr(_FAKE_TORCH, name, cls)
    return cls
