"""``layerscope capture``: every layer's activations for one input, written as a JSON report."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from engine.cli.arch_args import add_arch_arguments, arch_options  # light: no torch


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "capture", help="capture every layer's activations for an input; write a report"
    )
    p.add_argument(
        "model", help="model file (torch, TorchScript, ONNX, or a state dict with --arch)"
    )
    p.add_argument(
        "--input",
        required=True,
        metavar="SPEC",
        help="random[:CxHxW] | cifar10:17 | cifar10:0-63 | digits:3 | image.png | array.npy",
    )
    p.add_argument(
        "--data-dir", help="CIFAR-10 python folder (default: $LAYERSCOPE_CIFAR10, ./data)"
    )
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--out", default=".", help="folder for the report (default: .)")
    p.add_argument(
        "--output-json-name",
        default="activation_report.json",
        metavar="NAME",
        help="report file name",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="overwrite an existing file that is not a layerscope report (never the model)",
    )
    add_arch_arguments(p)
    p.add_argument("--trust", action="store_true", help="allow pickles that can run code")
    p.add_argument(
        "--batch-size", type=int, default=None, help="samples per forward pass (default 256)"
    )
    p.add_argument(
        "--max-samples", type=int, default=None, help="use at most N samples (random: draw N)"
    )
    p.add_argument(
        "--normalize",
        choices=("cifar10", "digits", "none"),
        help="override the input normalisation",
    )
    p.add_argument("--seed", type=int, default=0, help="seed for random inputs (default 0)")
    p.add_argument("--bins", type=int, default=50, help="histogram bins (default 50)")
    p.add_argument(
        "--gradients",
        action="store_true",
        help="also run backward: every output's and parameter's gradient (torch models)",
    )
    p.add_argument(
        "--target",
        metavar="T",
        help="what the gradients are of: predicted (default) | label | a class index | "
        "targets.npy (one class per sample, or values of the output's shape for MSE)",
    )
    p.add_argument(
        "--json", action="store_true", help="print the report as JSON instead of a table"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from engine.capture import capture
    from engine.errors import InputError
    from engine.inputs import load_input, model_input_shape
    from engine.io import check_user_target
    from engine.loaders import load_model
    from engine.loaders.torchscript_meta import require_trust
    from engine.report import from_capture, save

    if args.bins < 1:
        raise InputError(f"--bins must be at least 1, got {args.bins}")
    if args.batch_size is not None and args.batch_size < 1:
        raise InputError(f"--batch-size must be at least 1, got {args.batch_size}")
    if args.target is not None and not args.gradients:
        raise InputError("--target needs --gradients (it says what the gradients are of)")
    target = _target(args.target) if args.gradients else None
    name = Path(args.output_json_name)
    if name.name != args.output_json_name or name.name in ("", ".", ".."):
        raise InputError(
            f"--output-json-name must be a file name, not a path: {args.output_json_name!r}"
        )
    out_dir = Path(args.out)
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"--out {out_dir} exists and is not a folder")
    # Asked now, before a long capture; save() asks again when it writes.
    check_user_target(out_dir / name, force=args.force, protect=[args.model])
    if args.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise InputError(
                f"--device {args.device}: torch sees no CUDA device here; use --device cpu"
            )
    arch, arch_kwargs = arch_options(args)
    model = load_model(
        args.model, arch=arch, arch_kwargs=arch_kwargs, trust=args.trust, device=args.device
    )
    require_trust(model)  # before the input: "TorchScript is code" is the reason it cannot run
    batch = load_input(
        args.input,
        input_shape=model_input_shape(model),
        data_dir=args.data_dir,
        max_samples=args.max_samples,
        seed=args.seed,
        normalize=args.normalize,
    )
    result = capture(
        model,
        batch,
        bins=args.bins,
        batch_size=args.batch_size,
        gradients=args.gradients,
        target=target,
    )
    report = from_capture(result)
    path = save(report, out_dir / name, force=args.force, force_hint="pass --force to overwrite it")
    if args.json:
        from engine.io import dumps

        sys.stdout.write(dumps({"report_path": str(path), **report.to_dict()}, indent=1))
        sys.stdout.write("\n")
    else:
        _print(result, path)
    return 0


def _target(spec: str | None) -> Any:
    """``--target``: a keyword, a class index, or a .npy file (read without pickles)."""
    from engine.capture.gradients import parse_target

    return parse_target(spec, "--target")


def _fmt(v: Any) -> str:
    return "—" if v is None else f"{v:.3g}"


def _print(result: Any, path: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(
        title=f"{result.model_path.name if result.model_path else 'model'} · {result.input['description']}",
        expand=True,
    )
    table.add_column("tensor", overflow="fold", ratio=3)  # long dotted names wrap, never vanish
    table.add_column("kind", overflow="fold", ratio=2)
    grads = result.gradients
    cols = ["shape", "mean", "std", "min", "max", "zeros", "NaN/Inf"]
    if result.gradient_target is not None:
        cols.append("grad std")
    for col in cols:
        table.add_column(col, justify="right", overflow="fold", ratio=1)
    for a in result.activations.values():
        s = a.stats
        bad = s.nan + s.posinf + s.neginf
        extra = []
        if result.gradient_target is not None:
            extra = [_fmt(grads[a.name].stats.std) if a.name in grads else "—"]
        table.add_row(
            a.name or "(output)",
            a.kind,
            "×".join(map(str, s.shape)),
            _fmt(s.mean),
            _fmt(s.std),
            _fmt(s.min),
            _fmt(s.max),
            f"{100 * s.zero_fraction:.0f}%",
            str(bad) if bad else "",
            *extra,
            style="red" if bad else None,
        )
    console.print(table)
    for name, err in result.errors.items():
        console.print(f"[red]error[/red] {name}: {err}")
    for note in result.not_available:
        console.print(f"[yellow]not available[/yellow]: {note}")
    if result.gradient_target is not None:
        g = result.gradient_target
        console.print(
            f"gradients of the mean {g['loss']} loss for {g['target']}: "
            f"{len(grads)} outputs, {len(result.parameter_gradients)} parameters"
        )
    console.print(f"{result.summary()} · {result.device} · report: {path}")
