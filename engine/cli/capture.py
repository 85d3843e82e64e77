"""``layerscope capture``: every layer's activations for one input, written as a JSON report."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from layerscope.engine.cli.arch_args import add_arch_arguments, arch_options  # light: no torch


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "capture",
        help="capture every layer's activations for an input; write a report",
        description="Capture every layer's activations for an input and write a JSON report. "
        "Progress goes to stderr; Ctrl-C stops cleanly (exit 130, nothing written).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=INPUT_FORMS,
    )
    p.add_argument(
        "model",
        help="model file (torch, TorchScript, ONNX, or a state dict with --arch), or a Hugging "
        "Face folder (config.json + safetensors; needs pip install 'layerscope[hf]')",
    )
    p.add_argument(
        "--input",
        required=True,
        action="append",
        metavar="SPEC",
        help="what to feed (forms below); repeat as --input name=SPEC for each of several inputs",
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
        metavar="NORM",
        help="normalisation of images: cifar10 | digits | imagenet | none | MEAN/STD per channel, "
        "e.g. 0.485,0.456,0.406/0.229,0.224,0.225 (default: what the model's training recorded, "
        "else per source)",
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


INPUT_FORMS = """input forms (--input SPEC):
  random | random:3x32x32       seeded normal values (ONNX: every input; a dynamic dimension is
                                set to 16, integer inputs to ones, and the report says so)
  digits:3 | digits:0-99        the embedded digits images
  cifar10:17 | cifar10:0-63 | cifar10:1,5,9   CIFAR-10 test images (--data-dir)
  image.png | photo.jpg         an image, fitted to the model's channels and size
  array.npy | array.npy[0:8]    an array as stored (integers stay integers), samples 0-7
  train.npz | train.npz:diffraction | train.npz:diffraction[0:8]
                                an .npz's only array, the one named, a range of its samples; an
                                .npz with one array per input name feeds every input
  ids:101,2023,102 | ids:1,2,3/4,5,6   token ids (int64), one sequence per /
  name=SPEC                     one named input (forward parameter or ONNX input name); repeat
                                --input, or join them with ';' in one SPEC:
                                --input input_ids=ids:101,2023,102 --input attention_mask=ids:1,1,1
normalisation (--normalize MEAN/STD, imagenet...) applies to images and datasets; without it,
what a layerscope training run recorded (model_info.json, the ONNX metadata) is used.
"""


def input_spec(inputs: list[str] | str) -> str:
    """Repeated ``--input`` values → one spec (``name=SPEC; name=SPEC``)."""
    import re

    if isinstance(inputs, str):
        return inputs
    named = [bool(re.match(r"\s*[A-Za-z_][A-Za-z0-9_.]*\s*=", s)) for s in inputs]
    if not all(named):  # an option given twice: the last one counts, as for any option
        return inputs[-1]
    return "; ".join(inputs)


def capture_progress(samples: int, batch_size: int | None) -> tuple[Any, Any]:
    """(reporter, capture's progress callback): batches, samples, layer and ETA on stderr."""
    import math

    from layerscope.engine.capture import DEFAULT_BATCH
    from layerscope.engine.cli.progress import ProgressReporter

    reporter = ProgressReporter("capture")
    bs = batch_size or DEFAULT_BATCH
    nb = max(1, math.ceil(samples / bs))
    passes = 1 if nb == 1 else 2

    def on_progress(done: int, total: int | None, name: str) -> None:
        if not total:
            reporter.update(None, f"{done} tensors · layer {name}")
            return
        per_batch = max(1, total // (nb * passes))
        k = min((done - 1) // per_batch, nb * passes - 1)
        b = k % nb + 1
        where = f"pass {k // nb + 1}/{passes} · " if passes > 1 else ""
        seen = min(samples, b * bs)
        reporter.update(
            done / total, f"{where}batch {b}/{nb} · {seen}/{samples} samples · layer {name}"
        )

    return reporter, on_progress


def run(args: argparse.Namespace) -> int:
    from layerscope.engine.capture import capture
    from layerscope.engine.errors import InputError
    from layerscope.engine.inputs import load_input, model_input_shape
    from layerscope.engine.io import check_user_target
    from layerscope.engine.loaders import load_model
    from layerscope.engine.loaders.torchscript_meta import require_trust
    from layerscope.engine.report import from_capture, save

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
        input_spec(args.input),
        input_shape=model_input_shape(model),
        data_dir=args.data_dir,
        max_samples=args.max_samples,
        seed=args.seed,
        normalize=args.normalize,
        model=model,
    )
    samples = int(batch.tensor.shape[0]) if batch.tensor.dim() else 1
    reporter, on_progress = capture_progress(samples, args.batch_size)
    try:
        result = capture(
            model,
            batch,
            bins=args.bins,
            batch_size=args.batch_size,
            gradients=args.gradients,
            target=target,
            progress=on_progress,
        )
    except BaseException:  # Ctrl-C included: the bar goes, nothing has been written yet
        reporter.close()
        raise
    reporter.close(f"{samples} samples")
    report = from_capture(result)
    path = save(report, out_dir / name, force=args.force, force_hint="pass --force to overwrite it")
    if args.json:
        from layerscope.engine.io import dumps

        sys.stdout.write(dumps({"report_path": str(path), **report.to_dict()}, indent=1))
        sys.stdout.write("\n")
    else:
        _print(result, path)
    return 0


def _target(spec: str | None) -> Any:
    """``--target``: a keyword, a class index, or a .npy file (read without pickles)."""
    from layerscope.engine.capture.gradients import parse_target

    return parse_target(spec, "--target")


def _fmt(v: Any) -> str:
    return "—" if v is None else f"{v:.3g}"


def _print(result: Any, path: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    from layerscope.engine.cli.progress import table_width

    grads = result.gradients
    cols = ["shape", "mean", "std", "min", "max", "zeros", "NaN/Inf"]
    if result.gradient_target is not None:
        cols.append("grad std")
    rows: list[tuple[list[str], str | None]] = []
    for a in result.activations.values():
        s = a.stats
        bad = s.nan + s.posinf + s.neginf
        extra = []
        if result.gradient_target is not None:
            extra = [_fmt(grads[a.name].stats.std) if a.name in grads else "—"]
        cells = [a.name or "(output)", a.kind, "×".join(map(str, s.shape)), _fmt(s.mean),
                 _fmt(s.std), _fmt(s.min), _fmt(s.max), f"{100 * s.zero_fraction:.0f}%",
                 str(bad) if bad else "", *extra]  # fmt: skip
        rows.append((cells, "red" if bad else None))
    # Piped: as wide as the longest cells, so no number breaks; on a terminal: its width, names
    # fold and numbers never do (no_wrap).
    console = Console(width=table_width([r for r, _ in rows], ["tensor", "kind", *cols]))
    table = Table(
        title=f"{result.model_path.name if result.model_path else 'model'} · {result.input['description']}",
        expand=True,
    )
    table.add_column("tensor", overflow="fold", ratio=3)  # long dotted names wrap, never vanish
    table.add_column("kind", overflow="fold", ratio=2)
    for col in cols:
        table.add_column(col, justify="right", no_wrap=True)
    for cells, style in rows:
        table.add_row(*cells, style=style)
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
