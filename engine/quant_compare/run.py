"""Running both models on the same inputs and reading the activations a comparison needs.

ONNX models run in ONNX Runtime with the wanted intermediate values added as graph outputs;
integer activations of QOperator graphs are dequantized with the scale and zero point the graph
gives them. PyTorch modules run with forward hooks on the wanted modules. TorchScript modules
cannot be hooked, so for them only the model's output is read.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from engine.errors import InputError, LayerscopeError
from engine.model import Model


class Runner:
    """Runs one model on a batch and returns ``(output, {activation name: float array})``."""

    def __init__(self, model: Model, wanted: Sequence[str]) -> None:
        self.model = model
        self.wanted = [w for w in dict.fromkeys(wanted) if w]
        self.available: set[str] = set()  # which of ``wanted`` this runner can read
        self.note = ""

    def __call__(self, batch: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        raise NotImplementedError


class OnnxRunner(Runner):
    def __init__(self, model: Model, wanted: Sequence[str]) -> None:
        super().__init__(model, wanted)
        import onnx
        import onnxruntime as ort

        proto = onnx.ModelProto()
        proto.CopyFrom(model.onnx)
        produced = {o for n in proto.graph.node for o in n.output}
        outputs = {o.name for o in proto.graph.output}
        self.available = {w for w in self.wanted if w in produced or w in outputs}
        for name in sorted(self.available - outputs):
            proto.graph.output.append(onnx.ValueInfoProto(name=name))  # ORT infers the type
        inits = {t.name for t in proto.graph.initializer}
        self.inputs = [i for i in proto.graph.input if i.name not in inits]
        if len(self.inputs) != 1:
            raise InputError(
                f"{model.path.name} has {len(self.inputs)} inputs; quant-compare feeds models "
                "with exactly one input"
            )
        self.output = proto.graph.output[0].name
        self.act_quant = model.metadata.get("activation_quant", {})
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        opts.intra_op_num_threads = 1  # small models; leave the cores to the rest of the app
        try:
            self.session = ort.InferenceSession(
                _serialize(proto, model), opts, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # noqa: BLE001 - ORT raises its own exception types
            raise LayerscopeError(
                f"{model.path.name}: ONNX Runtime cannot load it ({_first_line(exc)})"
            ) from None
        self.names = [o.name for o in self.session.get_outputs()]
        dims = self.inputs[0].type.tensor_type.shape.dim
        self.fixed_batch = dims[0].dim_value if dims and dims[0].HasField("dim_value") else 0

    def __call__(self, batch: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        dims = [d.dim_value if d.HasField("dim_value") else None
                for d in self.inputs[0].type.tensor_type.shape.dim]  # fmt: skip
        if dims and (
            len(dims) != batch.ndim
            or any(d and d != n for d, n in zip(dims[1:], batch.shape[1:], strict=True))
        ):
            want = "×".join(str(d) if d else "N" for d in dims)
            raise InputError(
                f"inputs of shape {tuple(batch.shape)} do not fit {self.model.path.name}, "
                f"whose input {self.inputs[0].name!r} is {want}"
            )
        if self.fixed_batch and batch.shape[0] != self.fixed_batch:  # run sample by sample
            parts = [self(batch[i : i + 1]) for i in range(batch.shape[0])]
            acts = {k: np.concatenate([p[1][k] for p in parts]) for k in parts[0][1]}
            return np.concatenate([p[0] for p in parts]), acts
        feed = {self.inputs[0].name: np.ascontiguousarray(batch, dtype=np.float32)}
        try:
            values = dict(zip(self.names, self.session.run(self.names, feed), strict=True))
        except Exception as exc:  # noqa: BLE001
            raise InputError(
                f"{self.model.path.name} refused an input of shape {tuple(batch.shape)} "
                f"({_first_line(exc)})"
            ) from None
        acts = {n: self._real(n, values[n]) for n in self.available}
        return self._real(self.output, values[self.output]), acts

    def _real(self, name: str, value: np.ndarray) -> np.ndarray:
        if value.dtype.kind in "iu" and name in self.act_quant:  # QOperator: integers on the wire
            import torch

            from engine.quant import dequantize

            return dequantize(torch.from_numpy(value), self.act_quant[name]).numpy()
        return value.astype(np.float32, copy=False)


def _serialize(proto: Any, model: Model) -> bytes | str:
    # External data lives next to the file; ORT resolves it only when loading from the path.
    if any(t.data_location == 1 for t in proto.graph.initializer):
        raise LayerscopeError(
            f"{model.path.name} keeps its weights in an external data file; "
            "activation comparison needs an ONNX file with embedded weights"
        )
    return proto.SerializeToString()


class TorchRunner(Runner):
    def __init__(self, model: Model, wanted: Sequence[str]) -> None:
        super().__init__(model, wanted)
        import torch

        module = model.module
        self.module = module
        self.hookable = not isinstance(module, torch.jit.ScriptModule)
        if not self.hookable:
            self.note = f"{model.path.name} is TorchScript: its layers cannot be hooked"
            return
        names = dict(module.named_modules())
        self.available = {w for w in self.wanted if w in names}
        self._mods = {n: names[n] for n in self.available}

    def __call__(self, batch: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        import torch

        got: dict[str, np.ndarray] = {}
        handles = []

        def hook(name: str):  # noqa: ANN202
            def fn(_mod: Any, _inp: Any, out: Any) -> None:
                if name not in got and isinstance(out, torch.Tensor):  # first call wins
                    t = out.dequantize() if out.is_quantized else out
                    got[name] = t.detach().float().cpu().numpy()

            return fn

        try:
            for name, mod in getattr(self, "_mods", {}).items():
                handles.append(mod.register_forward_hook(hook(name)))
            device = next((p.device for p in self.module.parameters()), torch.device("cpu"))
            with torch.no_grad():
                out = self.module(torch.from_numpy(np.ascontiguousarray(batch)).to(device))
        except (RuntimeError, ValueError, TypeError) as exc:
            raise InputError(
                f"{self.model.path.name} refused an input of shape {tuple(batch.shape)} "
                f"({_first_line(exc)})"
            ) from None
        finally:
            for h in handles:
                h.remove()
        if isinstance(out, tuple | list):
            out = out[0]
        if out.is_quantized:
            out = out.dequantize()
        return out.detach().float().cpu().numpy(), got


def runner(model: Model, wanted: Sequence[str]) -> Runner | None:
    """A runner for ``model``, or ``None`` when it cannot run (weights without an architecture)."""
    if model.onnx is not None:
        return OnnxRunner(model, wanted)
    if model.module is not None:
        return TorchRunner(model, wanted)
    return None


def input_shape(*models: Model) -> tuple[int, ...] | None:
    """A one-sample input shape from the first model that declares one."""
    for m in models:
        if m.onnx is not None:
            for v in m.metadata.get("inputs", []):
                shape = v.get("shape") or []
                if shape and all(isinstance(d, int) and d > 0 for d in shape[1:]):
                    return (1, *shape[1:])
        elif m.module is not None:
            shape = getattr(m.module, "input_shape", None)
            if isinstance(shape, tuple | list) and all(isinstance(d, int) for d in shape):
                return (1, *shape)
    return None


def random_inputs(shape: tuple[int, ...], count: int = 4, seed: int = 0) -> list[np.ndarray]:
    """``count`` seeded standard-normal batches of one sample each."""
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape).astype(np.float32) for _ in range(count)]


def as_batches(inputs: Any) -> list[np.ndarray]:
    """Accept one array/tensor (a batch) or a sequence of them; return float32 NumPy batches."""
    items = [inputs] if hasattr(inputs, "shape") else list(inputs)
    out = []
    for x in items:
        if hasattr(x, "detach"):
            x = x.detach().cpu().numpy()
        x = np.asarray(x, dtype=np.float32)
        if x.ndim == 0:
            raise InputError("an input batch must have at least one dimension")
        out.append(x)
    if not out:
        raise InputError("no inputs given")
    return out


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:200]
