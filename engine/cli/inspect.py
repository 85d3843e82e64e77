"""``layerscope inspect``: the layer tree with tensor statistics, or one tensor with its histogram."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from layerscope.engine.cli.arch_args import add_arch_arguments, arch_options  # light: no torch


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("inspect", help="print a model's layers and weight statistics")
    p.add_argument("model", help="model file or sharded safetensors folder")
    add_arch_arguments(p)
    p.add_argument("--trust", action="store_true", help="allow pickles that can run code")
    p.add_argument("--device", default="cpu", help="device for statistics (cpu, cuda)")
    p.add_argument("--layer", help="show one layer's tensor with a histogram")
    p.add_argument(
        "--tensor",
        default=None,
        help="tensor role within --layer (default: weight, else the first)",
    )
    p.add_argument("--bins", type=int, default=50, help="histogram bins (default 50)")
    p.add_argument(
        "--view",
        choices=("float", "int"),
        default="float",
        help="quantized tensors: dequantized or integer values",
    )
    p.add_argument(
        "--no-stats", action="store_true", help="list the tree only, reading no tensor data"
    )
    p.add_argument(
        "--summary",
        action="store_true",
        help="per-dtype totals, largest tensors and NaN/Inf scan (big models)",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from layerscope.engine import inspect as ins
    from layerscope.engine.errors import LayerscopeError
    from layerscope.engine.loaders import load_model
    from layerscope.engine.usecases.tensor_json import model_record, tensor_document, tensor_record

    if args.bins < 1:
        raise LayerscopeError(f"--bins must be at least 1, got {args.bins}")
    arch, arch_kwargs = arch_options(args)
    model = load_model(
        args.model, arch=arch, arch_kwargs=arch_kwargs, trust=args.trust, device=args.device
    )
    if args.summary:
        from layerscope.engine.cli.summary import run_summary

        return run_summary(model, args)
    if args.layer is not None:
        layer = model.layer(args.layer)
        while not layer.tensors and len(layer.children) == 1:  # ONNX: /conv1 → /conv1/Conv
            layer = model.layer(layer.children[0])
        if not layer.tensors:
            from layerscope.engine.errors import NotFoundError

            raise NotFoundError(
                f"layer {args.layer!r} of {model.path.name} has no tensors of its own"
            )
        role = args.tensor or ("weight" if "weight" in layer.tensors else next(iter(layer.tensors)))
        ref = model.tensor(layer.name, role)
        st = ins.tensor_stats(ref, args.bins, args.view, args.device)
        if args.json:
            view = args.view if ref.quant is not None else "float"
            _dump(tensor_document(model, ref, st, view=view, bins=args.bins, layer=layer.name))
        else:
            _print_tensor(model, ref, st, args.view)
        return 0
    layers = []
    for layer in model.layers.values():
        tensors = []
        for ref in layer.tensors.values():
            st = None if args.no_stats else ins.tensor_stats(ref, args.bins, "float", args.device)
            tensors.append((ref, st))
        layers.append((layer, tensors))
    if args.json:
        _dump({
            "model": model_record(model),
            "layers": [
                {
                    "name": layer.name,
                    "kind": layer.kind,
                    "parent": layer.parent,
                    "params": model.subtree_param_count(layer.name),
                    "tensors": [tensor_record(r, s) for r, s in tensors],
                }
                for layer, tensors in layers
            ],
        })  # fmt: skip
    else:
        _print_tree(model, layers)
    return 0


def _dump(obj: Any) -> None:
    from layerscope.engine.io import dumps

    sys.stdout.write(dumps(obj, indent=2, default=str) + "\n")  # no Inf/NaN literals


def _print_tree(model: Any, layers: list[tuple[Any, list[tuple[Any, Any]]]]) -> None:
    from rich.console import Console
    from rich.table import Table

    from layerscope.engine.formatting import fmt_bytes, fmt_num

    table = Table(title=f"{model.path.name} · {model.format}", header_style="bold", expand=False)
    for col, just in (("layer", "left"), ("kind", "left"), ("params", "right"), ("tensor", "left"),
                      ("shape", "left"), ("dtype", "left"), ("min", "right"), ("max", "right"),
                      ("mean", "right"), ("std", "right")):  # fmt: skip
        table.add_column(col, justify=just, no_wrap=True)
    depth = {"": -1}
    for layer, tensors in layers:
        if layer.name == "":
            continue
        d = depth[layer.parent or ""] + 1
        depth[layer.name] = d
        label = "  " * d + layer.short_name
        params = f"{model.subtree_param_count(layer.name):,}"
        if not tensors:
            table.add_row(label, layer.kind, params, "", "", "", "", "", "", "")
        for i, (ref, st) in enumerate(tensors):
            cells = (
                [fmt_num(getattr(st, k)) for k in ("min", "max", "mean", "std")] if st else [""] * 4
            )
            table.add_row(label if i == 0 else "", layer.kind if i == 0 else "", params if i == 0 else "",
                          ref.role + (" (q)" if ref.quant else ""), "×".join(map(str, ref.shape)) or "scalar",
                          ref.dtype, *cells)  # fmt: skip
    # Piped output has no terminal width: keep the table whole rather than truncating columns.
    console = Console() if sys.stdout.isatty() else Console(width=200)
    console.print(table)
    how = "runnable" if model.runnable else "weights only (use --arch to run)"
    if model.metadata.get("needs_trust"):  # untrusted TorchScript: listed from its pickle only
        how = "TorchScript is code: listed without running it (--trust to load and run it)"
    console.print(
        f"[bold]{model.param_count:,}[/] parameters · {fmt_bytes(model.size_bytes)} · "
        f"{len(model.layers) - 1} layers · {how}"
    )


def _print_tensor(model: Any, ref: Any, st: Any, view: str) -> None:
    from rich.console import Console

    from layerscope.engine.formatting import ascii_histogram, fmt_num

    console = Console()
    console.print(f"[bold]{ref.name}[/] · layer {ref.layer or '(model)'} · {model.path.name}")
    rows = [
        ("shape", "×".join(map(str, ref.shape)) or "scalar"),
        ("dtype", st.dtype),
        ("elements", f"{st.numel:,}"),
        ("min", fmt_num(st.min)), ("max", fmt_num(st.max)),
        ("mean", fmt_num(st.mean)), ("std", fmt_num(st.std)),
        ("zeros", f"{st.zeros:,} ({st.zero_fraction:.2%})"),
        ("nan / +inf / -inf", f"{st.nan:,} / {st.posinf:,} / {st.neginf:,}"),
    ]  # fmt: skip
    if st.note:  # complex → magnitude; meta/sparse/fp4 → why there are no numbers
        rows.append(("note", st.note))
    if ref.quant:
        q = ref.quant
        scale = (
            fmt_num(float(q.scale[0]))
            if not q.per_channel
            else f"{len(q.scale)} per-channel (axis {q.axis})"
        )
        rows.append(("quantization", f"{q.qdtype} {q.scheme}, scale {scale}, view: {view}"))
    for k, v in rows:
        console.print(f"  {k:<18} {v}")
    console.print()
    for line in ascii_histogram(st, width=40):
        console.print("  " + line, highlight=False)
