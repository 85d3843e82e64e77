"""``layerscope demo``: train ResNet-8 on digits and write it in every format layerscope reads."""

from __future__ import annotations

import argparse
import json
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="train the demo ResNet-8 on digits and write every model format into a folder",
        description="Train ResNet-8 (MLPerf Tiny) for a few epochs on scikit-learn's digits "
        "(upscaled to 32×32×3; offline), then write it as torch pickle, state dict, Lightning "
        "checkpoint, safetensors, ONNX, and int8/uint8 ONNX and torch.ao int8 TorchScript, "
        "each with its test accuracy measured from the written file.",
    )
    p.add_argument("--out", default="models", help="output folder (default: models)")
    p.add_argument("--epochs", type=int, default=3, help="training epochs (default 3)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--json", action="store_true", help="print the manifest as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from layerscope.engine.demo import build_demo_models, read_manifest

    # Progress goes to stderr so that --json output on stdout stays parseable.
    def progress(msg: str) -> None:
        print(f"demo: {msg}", file=sys.stderr, flush=True)

    results = build_demo_models(args.out, epochs=args.epochs, seed=args.seed, progress=progress)
    manifest = read_manifest(args.out)
    if args.json:
        json.dump(manifest, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0

    from rich.console import Console
    from rich.table import Table

    # Accuracy is measured by loading each written file back in its own framework.
    table = Table(
        title=f"Demo models in {args.out}: accuracy on {manifest['test_images']} digits test "
        "images, each file run by its own framework"
    )
    table.add_column("file", no_wrap=True)
    table.add_column("format", no_wrap=True)
    table.add_column("size", justify="right", no_wrap=True)
    table.add_column("accuracy", justify="right", no_wrap=True)
    for r in results:
        table.add_row(r.file, r.format, f"{r.size_bytes / 1024:.1f} KiB", f"{r.accuracy:.1%}")
    console = Console()
    console.print(table)
    plural = "epoch" if manifest["epochs"] == 1 else "epochs"
    console.print(
        f"trained {manifest['epochs']} {plural} in {manifest['train_seconds']:.1f} s on CPU; "
        f"exported and quantized in {manifest['export_seconds']:.1f} s"
    )
    return 0
