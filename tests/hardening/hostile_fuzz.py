"""A seeded generator of damaged model files, for every format the loaders accept.

Shared by ``test_fuzz_files.py`` (a few hundred cases, in-process) and ``tests/bench/fuzz_files.py``
(more cases, one subprocess each). A *plan* (format, mutation, parameters) is drawn from a fixed
seed without touching any file, so pytest can name every case at collection; the bytes are made
later by applying the plan to a seed model built in the test session.
"""

from __future__ import annotations

import io
import json
import random
import shutil
import struct
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SEED = 20261130
ARCH = "smallcnn"  # the zoo model every seed is built from: ~1.6k parameters, 3x32x32 input

# Format → whether `capture --input random` can run it (state dicts through --arch smallcnn).
FORMATS: dict[str, bool] = {
    "torch-zip": True,
    "torch-pickle": True,
    "lightning": True,
    "torchscript": True,  # without --trust: capture must refuse it cleanly
    "onnx": True,
    "onnx-qdq": True,
    "safetensors": False,
    "sharded": False,
}
VERBS = ("inspect", "summary", "layer", "capture")
ZIP_FORMATS = ("torch-zip", "lightning", "torchscript")


@dataclass(frozen=True)
class Mutation:
    """One damaged file: which seed, what was done to it, and the parameters drawn for it."""

    fmt: str
    kind: str
    index: int
    params: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def id(self) -> str:
        return f"{self.fmt}-{self.kind}-{self.index}"


@dataclass
class Seed:
    """An undamaged model file (or shard folder) and the arguments each verb needs."""

    fmt: str
    path: Path
    layer: str  # the first tensor's layer, for `inspect --layer`


# ---------------------------------------------------------------------------------------------
# Seeds: tiny models in every format, written from one seeded SmallCNN.


def _state_dict() -> dict[str, Any]:
    import torch

    from layerscope.engine.zoo import build

    torch.manual_seed(0)
    return {k: v.detach().clone() for k, v in build(ARCH).eval().state_dict().items()}


def _export_onnx(path: Path) -> Path:
    import torch

    from layerscope.engine.zoo import build

    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            build(ARCH).eval(), (torch.zeros(1, 3, 32, 32),), str(path), dynamo=False,
            do_constant_folding=False, opset_version=17, input_names=["x"], output_names=["y"],
        )  # fmt: skip
    return path


def _quantize_qdq(src: Path, dst: Path) -> Path:
    import numpy as np
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    rng = np.random.default_rng(1)
    batches = iter(
        [{"x": rng.standard_normal((1, 3, 32, 32)).astype(np.float32)} for _ in range(2)]
    )

    class Reader:
        def get_next(self) -> dict[str, Any] | None:
            return next(batches, None)

    quantize_static(
        str(src), str(dst), Reader(), quant_format=QuantFormat.QDQ,
        activation_type=QuantType.QInt8, weight_type=QuantType.QInt8, per_channel=True,
    )  # fmt: skip
    return dst


def build_seeds(folder: Path) -> dict[str, Seed]:
    """Every format's seed model in ``folder``; each one opens cleanly (checked by the caller)."""
    import torch
    from safetensors.torch import save_file

    from layerscope.engine.zoo import build

    folder.mkdir(parents=True, exist_ok=True)
    sd = _state_dict()
    first = next(iter(sd)).rpartition(".")[0]  # "features.0"
    paths: dict[str, Path] = {}

    paths["torch-zip"] = folder / "sd.pt"
    torch.save(sd, paths["torch-zip"])
    paths["torch-pickle"] = folder / "legacy.pt"
    torch.save(sd, paths["torch-pickle"], _use_new_zipfile_serialization=False)
    paths["lightning"] = folder / "last.ckpt"
    ckpt = {
        "epoch": 3, "global_step": 120, "pytorch-lightning_version": "2.6.6",
        "state_dict": {f"model.{k}": v for k, v in sd.items()},
        "optimizer_states": [{"state": {}, "param_groups": [{"lr": 0.1, "params": [0, 1]}]}],
        "hyper_parameters": {"lr": 0.1, "arch": ARCH},
    }  # fmt: skip
    torch.save(ckpt, paths["lightning"])
    paths["torchscript"] = folder / "scripted.pt"
    torch.manual_seed(0)
    torch.jit.script(build(ARCH).eval()).save(str(paths["torchscript"]))
    paths["onnx"] = _export_onnx(folder / "float.onnx")
    paths["onnx-qdq"] = _quantize_qdq(paths["onnx"], folder / "qdq.onnx")
    paths["safetensors"] = folder / "model.safetensors"
    save_file(sd, str(paths["safetensors"]))
    shards = folder / "sharded"
    shards.mkdir()
    names = list(sd)
    weight_map = {}
    for k in range(2):
        fname = f"model-{k + 1:05d}-of-00002.safetensors"
        save_file({n: sd[n] for n in names[k::2]}, str(shards / fname))
        weight_map.update(dict.fromkeys(names[k::2], fname))
    index = {
        "metadata": {"total_size": sum(t.nbytes for t in sd.values())},
        "weight_map": weight_map,
    }
    (shards / "model.safetensors.index.json").write_text(json.dumps(index))
    paths["sharded"] = shards

    seeds = {}
    for fmt, path in paths.items():
        layer = first
        if fmt.startswith("onnx"):
            from layerscope.engine.loaders import load_model

            layer = next(load_model(path).tensors()).layer
        seeds[fmt] = Seed(fmt, path, layer)
    return seeds


# ---------------------------------------------------------------------------------------------
# Plans: (format, kind, index) → parameters, from a fixed seed. No file is needed to draw them.

# Byte-level mutations every single file gets, with how many cases each in the default plan.
_BYTE_KINDS = {"trunc": 2, "flip": 2, "zero": 2}
_SPECIFIC: dict[str, list[str]] = {
    "torch-zip": ["drop-pkl", "drop-data", "drop-version", "drop-byteorder", "drop-any",
                  "pkl-flip", "pkl-trunc", "data-trunc", "data-empty", "not-zip-tail"],
    "lightning": ["drop-pkl", "drop-data", "drop-any", "pkl-flip", "pkl-trunc", "data-trunc"],
    "torchscript": ["drop-pkl", "drop-data", "drop-constants", "drop-code", "drop-any",
                    "pkl-flip", "code-flip", "data-trunc"],
    "torch-pickle": ["trunc-tail", "flip-head"],
    "onnx": ["proto-dims", "proto-dtype", "proto-drop-raw", "proto-drop-node", "proto-external",
             "proto-huge-dims"],
    "onnx-qdq": ["proto-dims", "proto-dtype", "proto-drop-raw", "proto-scale-dims",
                 "proto-drop-node"],
    "safetensors": ["hdr-huge", "hdr-past-end", "hdr-zero", "hdr-garbage", "hdr-not-object",
                    "hdr-bad-dtype", "hdr-offsets-past-end", "hdr-offsets-reversed",
                    "hdr-shape-mismatch", "hdr-negative-shape", "hdr-huge-shape",
                    "hdr-entry-not-object", "hdr-missing-offsets"],
    "sharded": ["shard-trunc", "shard-flip", "shard-zero", "shard-hdr-huge", "shard-hdr-garbage",
                "shard-drop", "index-garbage", "index-not-object", "index-missing-shard",
                "index-escape", "index-empty-map", "index-drop"],
}  # fmt: skip


def plan(cases: int | None = None, seed: int = SEED) -> list[Mutation]:
    """The default plan (``cases=None``: each specific mutation once, byte kinds a few times), or
    about ``cases`` mutations in all, the extra ones byte-level with fresh random parameters."""
    base: list[tuple[str, str, int]] = []
    for fmt in FORMATS:
        kinds = dict(_BYTE_KINDS) if fmt != "sharded" else {}
        for kind in _SPECIFIC[fmt]:
            kinds[kind] = kinds.get(kind, 0) + 1
        base += [(fmt, kind, i) for kind, n in kinds.items() for i in range(n)]
    if cases is not None and cases > len(base):
        extra = cases - len(base)
        fmts = list(FORMATS)
        for j in range(extra):
            fmt = fmts[j % len(fmts)]
            kinds = ("shard-trunc", "shard-flip", "shard-zero") if fmt == "sharded" else _BYTE_KINDS
            kind = tuple(kinds)[(j // len(fmts)) % len(kinds)]
            base.append((fmt, kind, 1000 + j))
    elif cases is not None:
        base = base[:cases]
    return [Mutation(fmt, kind, i, _params(seed, fmt, kind, i)) for fmt, kind, i in base]


def _params(seed: int, fmt: str, kind: str, index: int) -> dict[str, Any]:
    rng = random.Random(f"{seed}/{fmt}/{kind}/{index}")  # str seeds are stable across runs
    return {
        "at": rng.random(),  # a position, as a fraction of the length
        "n": rng.randint(1, 16),  # bytes to flip
        "span": rng.choice([1, 7, 64, 512, 4096]),  # bytes to zero
        "rand": rng.getrandbits(64),  # anything else
    }


# ---------------------------------------------------------------------------------------------
# Applying a plan.


def _rng(m: Mutation) -> random.Random:
    return random.Random(m.params["rand"])


def _trunc(data: bytes, m: Mutation) -> bytes:
    return data[: max(1, int(len(data) * m.params["at"]))]


def _flip(data: bytes, m: Mutation, lo: int = 0, hi: int | None = None) -> bytes:
    buf = bytearray(data)
    hi = len(buf) if hi is None else hi
    rng = _rng(m)
    for _ in range(m.params["n"]):
        i = rng.randrange(lo, hi)
        buf[i] ^= rng.randrange(1, 256)
    return bytes(buf)


def _zero(data: bytes, m: Mutation) -> bytes:
    start = int(len(data) * m.params["at"])
    end = min(len(data), start + m.params["span"])
    return data[:start] + bytes(end - start) + data[end:]


def _byte_mutation(data: bytes, m: Mutation, kind: str) -> bytes:
    if kind == "trunc":
        return _trunc(data, m)
    if kind == "flip":
        return _flip(data, m)
    if kind == "zero":
        return _zero(data, m)
    raise KeyError(kind)


def _rezip(data: bytes, edit: Callable[[str, bytes], bytes | None]) -> bytes:
    """The archive rewritten member by member (``edit`` returns new bytes, or None to drop one),
    with valid CRCs and torch's 64-byte data alignment, so only the intended damage remains."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            payload = edit(info.filename, src.read(info))
            if payload is None:
                continue
            name = info.filename.encode()
            pad = (-(out.tell() + 30 + len(name) + 4)) % 64
            zi = zipfile.ZipInfo(info.filename, date_time=info.date_time)
            zi.extra = b"FB" + struct.pack("<H", pad) + b"Z" * pad
            dst.writestr(zi, payload)
    return out.getvalue()


def _pick(names: list[str], m: Mutation, want: str) -> str:
    """The member a zip mutation targets (``want``: pkl, data, version, ...; any: drawn)."""
    pred: dict[str, Callable[[str], bool]] = {
        "pkl": lambda n: n.endswith("/data.pkl"),
        "data": lambda n: "/data/" in n and not n.endswith("/"),
        "version": lambda n: n.endswith("/version") or n.endswith("/.format_version"),
        "byteorder": lambda n: n.endswith("/byteorder"),
        "constants": lambda n: n.endswith("/constants.pkl"),
        "code": lambda n: "/code/" in n and n.endswith(".py"),
        "any": lambda n: True,
    }
    hits = [n for n in names if pred[want](n)] or names
    return hits[_rng(m).randrange(len(hits))]


def _zip_mutation(data: bytes, m: Mutation) -> bytes:
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    kind = m.kind
    if kind.startswith("drop-"):
        target = _pick(names, m, kind[5:])
        return _rezip(data, lambda n, b: None if n == target else b)
    if kind == "not-zip-tail":  # the central directory gone: a zip with no table of contents
        return data[: data.rfind(b"PK\x01\x02")]
    what, _, how = kind.partition("-")
    target = _pick(names, m, what)

    def edit(n: str, b: bytes) -> bytes:
        if n != target:
            return b
        if how == "flip" and b:
            return _flip(b, m)
        if how == "trunc":
            return _trunc(b, m)
        if how == "empty":
            return b""
        return b

    return _rezip(data, edit)


def _safetensors_mutation(data: bytes, m: Mutation, kind: str) -> bytes:
    (hlen,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + hlen])
    body = data[8 + hlen :]
    rng = _rng(m)
    if kind == "hdr-huge":
        return struct.pack("<Q", 1 << 62) + data[8:]
    if kind == "hdr-past-end":
        return struct.pack("<Q", len(data) + 1000) + data[8:]
    if kind == "hdr-zero":
        return struct.pack("<Q", 0) + data[8:]
    if kind == "hdr-garbage":  # same length, starts like JSON, is not
        junk = bytes(rng.randrange(32, 127) for _ in range(hlen - 1))
        return data[:8] + b"{" + junk + body
    names = [k for k in header if k != "__metadata__"]
    name = names[rng.randrange(len(names))]
    entry = header[name]
    if kind == "hdr-not-object":
        header = [1, 2, 3]
    elif kind == "hdr-bad-dtype":
        entry["dtype"] = "F7"
    elif kind == "hdr-offsets-past-end":
        entry["data_offsets"] = [entry["data_offsets"][0], len(body) + 4096]
    elif kind == "hdr-offsets-reversed":
        entry["data_offsets"] = entry["data_offsets"][::-1]
    elif kind == "hdr-shape-mismatch":
        entry["shape"] = [*entry["shape"], 3]
    elif kind == "hdr-negative-shape":
        entry["shape"] = [-1, *entry["shape"][1:]]
    elif kind == "hdr-huge-shape":
        entry["shape"] = [1 << 40, 1 << 30]
    elif kind == "hdr-entry-not-object":
        header[name] = "weights"
    elif kind == "hdr-missing-offsets":
        del entry["data_offsets"]
    else:
        raise KeyError(kind)
    blob = json.dumps(header).encode()
    return struct.pack("<Q", len(blob)) + blob + body


def _onnx_mutation(data: bytes, m: Mutation) -> bytes:
    import onnx

    proto = onnx.load_from_string(data)
    rng = _rng(m)
    inits = list(proto.graph.initializer)
    if m.kind == "proto-scale-dims":  # a QDQ scale that is suddenly a matrix
        inits = [t for t in inits if "scale" in t.name] or inits
    t = inits[rng.randrange(len(inits))]
    if m.kind in ("proto-dims", "proto-scale-dims"):
        t.dims.append(3)
    elif m.kind == "proto-huge-dims":
        del t.dims[:]
        t.dims.extend([1 << 40, 1 << 30])
    elif m.kind == "proto-dtype":
        t.data_type = 999
    elif m.kind == "proto-drop-raw":
        t.ClearField("raw_data")
    elif m.kind == "proto-drop-node":
        del proto.graph.node[rng.randrange(len(proto.graph.node))]
    elif m.kind == "proto-external":
        t.ClearField("raw_data")
        t.data_location = onnx.TensorProto.EXTERNAL
        t.external_data.add(key="location", value="weights.bin")
    else:
        raise KeyError(m.kind)
    return proto.SerializeToString()


def materialize(m: Mutation, seeds: dict[str, Seed], folder: Path) -> Path:
    """Write the damaged file (or shard folder) for ``m`` under ``folder``; return its path."""
    seed = seeds[m.fmt]
    folder.mkdir(parents=True, exist_ok=True)
    if m.fmt == "sharded":
        return _sharded_mutation(m, seed.path, folder / m.id)
    data = seed.path.read_bytes()
    if m.kind in _BYTE_KINDS:
        new = _byte_mutation(data, m, m.kind)
    elif m.fmt in ZIP_FORMATS:
        new = _zip_mutation(data, m)
    elif m.fmt == "torch-pickle":
        new = _trunc(data, m) if m.kind == "trunc-tail" else _flip(data, m, 0, min(64, len(data)))
    elif m.fmt.startswith("onnx"):
        new = _onnx_mutation(data, m)
    else:
        new = _safetensors_mutation(data, m, m.kind)
    out = folder / f"{m.id}{seed.path.suffix}"
    out.write_bytes(new)
    return out


def _sharded_mutation(m: Mutation, src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    shards = sorted(dst.glob("*-of-*.safetensors"))
    index = dst / "model.safetensors.index.json"
    rng = _rng(m)
    kind = m.kind
    if kind.startswith("shard-"):
        victim = shards[rng.randrange(len(shards))]
        sub = kind[6:]
        if sub == "drop":
            victim.unlink()
        else:
            data = victim.read_bytes()
            new = (
                _byte_mutation(data, m, sub) if sub in _BYTE_KINDS
                else _safetensors_mutation(data, m, sub)
            )  # fmt: skip
            victim.write_bytes(new)
        return dst
    data = json.loads(index.read_text())
    if kind == "index-garbage":
        index.write_bytes(bytes(rng.randrange(256) for _ in range(200)))
    elif kind == "index-not-object":
        index.write_text("[1, 2, 3]")
    elif kind == "index-missing-shard":
        name = next(iter(data["weight_map"]))
        data["weight_map"][name] = "model-00009-of-00009.safetensors"
        index.write_text(json.dumps(data))
    elif kind == "index-escape":
        name = next(iter(data["weight_map"]))
        data["weight_map"][name] = "../" + data["weight_map"][name]
        index.write_text(json.dumps(data))
    elif kind == "index-empty-map":
        data["weight_map"] = {}
        index.write_text(json.dumps(data))
    elif kind == "index-drop":
        index.unlink()
    else:
        raise KeyError(kind)
    return dst


def argv_for(verb: str, seed: Seed, path: Path, out: Path) -> list[str]:
    """The ``layerscope`` arguments for one verb on one damaged file. Never ``--trust``."""
    if verb == "inspect":
        return ["inspect", str(path)]
    if verb == "summary":
        return ["inspect", str(path), "--summary"]
    if verb == "layer":
        return ["inspect", str(path), "--layer", seed.layer]
    if verb == "capture":
        arch = ["--arch", ARCH] if seed.fmt in ("torch-zip", "torch-pickle", "lightning") else []
        return ["capture", str(path), "--input", "random", "--out", str(out), *arch]
    raise KeyError(verb)


def verbs_for(fmt: str) -> tuple[str, ...]:
    return VERBS if FORMATS[fmt] else VERBS[:3]
