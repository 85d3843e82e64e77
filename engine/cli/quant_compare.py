"""``layerscope quant-compare FLOAT QUANT``: where quantization hurt, layer by layer, worst first."""

from __future__ import annotations

import argparse
import gc
import json
import math
import sys
from pathlib import Path
from typing import Any

from layerscope.engine.cli.arch_args import add_arch_arguments, arch_options  # light: no torch
from layerscope.engine.quant_compare.result import (  # numpy only
    DEFAULT_THRESHOLD_DB,
    RANDOM_SAMPLES,
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "quant-compare",
        help="compare a float model with its quantized version (weight/activation SQNR)",
        description="Pair the conv/linear layers of FLOAT and QUANT (by name, else by graph "
        "position), and report per layer the SQNR of the weights and activations, worst first.",
    )
    p.add_argument("float_model", metavar="FLOAT", help="the float model (PyTorch or ONNX)")
    p.add_argument("quant_model", metavar="QUANT", help="its quantized version")
    p.add_argument(
        "--input",
        default="random",
        metavar="SPEC",
        help="inputs, as for capture (see layerscope capture --help): random[:CxHxW] | "
        "digits:0-31 | cifar10:0-63 | image.png | array.npy | train.npz:x[0:8] | ids:1,2,3 | "
        "name=SPEC; name=SPEC (default: random)",
    )
    p.add_argument(
        "--max-samples",
        type=int,
        default=None,
        help=f"use at most N samples (random: draw N, default {RANDOM_SAMPLES})",
    )
    p.add_argument(
        "--data-dir", help="CIFAR-10 python folder (default: $LAYERSCOPE_CIFAR10, ./data)"
    )
    p.add_argument(
        "--normalize",
        metavar="NORM",
        help="normalisation of images: cifar10 | digits | imagenet | none | MEAN/STD per channel "
        "(e.g. 0.485,0.456,0.406/0.229,0.224,0.225); default: what the model's training recorded",
    )
    p.add_argument("--seed", type=int, default=0, help="seed for random inputs (default 0)")
    p.add_argument(
        "--threshold",
        type=float,
        default=DEFAULT_THRESHOLD_DB,
        help="flag layers whose weight or activation SQNR is below this many dB "
        f"(default {DEFAULT_THRESHOLD_DB:g})",
    )
    p.add_argument(
        "--suggest-exclude",
        action="store_true",
        help="print the ONNX node names to keep in float (quantize_static nodes_to_exclude)",
    )
    p.add_argument("--weights-only", action="store_true", help="do not run the models")
    add_arch_arguments(p)
    p.add_argument("--trust", action="store_true", help="allow pickles that can run code")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from layerscope.engine.usecases.quant import ComparisonSpec, run_comparison

    arch, arch_kwargs = arch_options(args)
    spec = ComparisonSpec(
        Path(args.float_model), Path(args.quant_model), inputs=args.input,
        max_samples=args.max_samples, seed=args.seed, data_dir=args.data_dir,
        normalize=args.normalize, threshold_db=args.threshold, weights_only=args.weights_only,
        arch=arch, arch_kwargs=arch_kwargs, trust=args.trust, suggest_exclude=args.suggest_exclude,
    )  # fmt: skip
    from layerscope.engine.cli.progress import ProgressReporter

    reporter = ProgressReporter("quant-compare")

    def on_progress(stage: str, done: int, total: int) -> None:
        # weights are quick; the activations (in samples) are the long part: weights count 10%
        if stage == "weights" and total:
            reporter.update(0.1 * done / total, f"weights: layer {done}/{total}")
        elif stage == "activations" and total:
            reporter.update(0.1 + 0.9 * done / total, f"activations: {done}/{total} samples")
        else:
            reporter.update(0.0, stage)

    # One comparison per process. Loading imports torch and makes the models: ~170k objects that
    # live until exit. Collected as they come, they cost young and full collections (~0.2 s),
    # and the interpreter's last collection at exit walks them all again: loaded with the
    # collector off, then frozen out of it, they are never walked. It runs again for the rest.
    gc_was_enabled = gc.isenabled()
    gc.disable()

    def on_loaded(*_models: Any) -> None:
        gc.freeze()
        if gc_was_enabled:
            gc.enable()

    try:
        result = run_comparison(spec, progress=on_progress, on_loaded=on_loaded).comparison
    except BaseException:  # Ctrl-C included: the bar goes, no last line
        reporter.close()
        raise
    finally:
        if gc_was_enabled:
            gc.enable()
    reporter.close("compared")
    if args.json:
        json.dump(result.to_dict(), sys.stdout, indent=2, allow_nan=False)
        sys.stdout.write("\n")
    elif args.suggest_exclude:
        names = result.suggest_exclude()
        for name in names:
            print(name)
        if not names:
            print(f"no layer is below {args.threshold:g} dB: nothing to exclude", file=sys.stderr)
    else:
        _print(result)
    return 0


def _db(v: float | None) -> str:
    if v is None:
        return "—"
    if math.isinf(v):
        return "exact" if v > 0 else "-inf"
    return f"{v:.1f}"


def _print(result: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    from layerscope.engine.formatting import fmt_num

    console = Console() if sys.stdout.isatty() else Console(width=200)
    table = Table(
        title=f"{Path(result.float_path).name} → {Path(result.quant_path).name}",
        header_style="bold",
        caption=f"sorted worst first · flagged below {result.threshold_db:g} dB · "
        "◀ where a drop starts (its inputs were still above)",
    )
    for col, just in (("#", "right"), ("float layer", "left"), ("quantized layer", "left"),
                      ("op", "left"), ("match", "left"), ("weight dB", "right"),
                      ("max |Δw|", "right"), ("act dB", "right"), ("act cos", "right"),
                      ("bias dB", "right"), ("", "left")):  # fmt: skip
        table.add_column(col, justify=just, no_wrap=True)
    for lc in result.worst_first():
        w, a, b = lc.weight, lc.activation, lc.bias
        cos = a.figures.cosine if a else None
        table.add_row(
            str(lc.index), lc.float_layer, lc.quant_layer, lc.op_types[1], lc.matched_by,
            _db(w.sqnr_db if w else None), fmt_num(w.figures.max_abs_error) if w else "—",
            _db(a.sqnr_db if a else None), f"{cos:.4f}" if cos is not None else "—",
            _db(b.sqnr_db if b else None), "◀ starts here" if lc.origin else "",
            style="bold red" if lc.flagged else None,
        )  # fmt: skip
    console.print(table)
    out = result.output
    if out is not None:
        top1 = f"{out.top1_agreement:.1%}" if out.top1_agreement is not None else "n/a"
        console.print(
            f"output: top-1 agreement [bold]{top1}[/] over {out.samples} samples · "
            f"SQNR [bold]{_db(out.figures.sqnr_db)}[/] dB · cosine {out.figures.cosine or 0:.4f}"
        )
    if result.activations:
        worst = min(result.activations, key=lambda t: t.sqnr_db)
        console.print(
            f"{len(result.activations)} further activations matched by name; "
            f"worst {worst.float_name} at {_db(worst.sqnr_db)} dB (--json lists them)"
        )
        for a in result.activations:
            if a.flagged:
                console.print(
                    f"[bold red]activation {a.float_name} at {_db(a.sqnr_db)} dB[/]"
                    + (f" (node {a.exclude_node})" if a.exclude_node else "")
                    + (" ◀ starts here" if a.origin else "")
                )
    for lc in result.layers:
        for what, c in (("weight", lc.weight), ("activation", lc.activation)):
            if c is not None and c.figures.nonfinite:
                console.print(
                    f"[bold red]{lc.quant_layer}: {c.figures.nonfinite} {what} positions hold NaN/Inf "
                    "in one model or both (left out of the SQNR)[/]"
                )
    flagged = result.flagged
    console.print(
        f"[bold]{len(flagged)}[/] of {len(result.layers)} layers below {result.threshold_db:g} dB"
        + (" — keep them in float: --suggest-exclude" if result.suggest_exclude() else "")
    )
    for label, names in (("unmatched in float model", result.unmatched_float),
                         ("unmatched in quantized model", result.unmatched_quant)):  # fmt: skip
        if names:
            console.print(f"{label}: " + ", ".join(names))
    for note in result.notes:
        console.print(f"[dim]note: {note}[/]")
