"""``layerscope diff``: compare two activation reports layer by layer, flagging signs of collapse."""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("diff", help="compare two activation reports and flag collapsing layers")
    p.add_argument("a", help="reference report (e.g. a healthy run)")
    p.add_argument("b", help="report to check against it")
    p.add_argument("--flagged", action="store_true", help="show flagged tensors only")
    p.add_argument(
        "--std-factor", type=float, default=3.0, help="flag std changes beyond this factor (3)"
    )
    p.add_argument(
        "--std-drift",
        type=float,
        default=1.5,
        help="flag smaller std changes beyond this factor that stand out from the quietest "
        "layers' changes (1.5)",
    )
    p.add_argument(
        "--ks-distance",
        type=float,
        default=0.15,
        help="flag value distributions that moved by this Kolmogorov-Smirnov distance (0.15)",
    )
    p.add_argument(
        "--mean-shift",
        type=float,
        default=1.0,
        help="flag mean moves beyond this many A stds (1.0)",
    )
    p.add_argument(
        "--dead-fraction", type=float, default=0.9, help="zeros share marking a dead ReLU (0.9)"
    )
    p.add_argument(
        "--dead-rise", type=float, default=0.5, help="flag a zeros share up by this much (0.5)"
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from layerscope.engine.diff import diff
    from layerscope.engine.errors import InputError

    if args.std_factor <= 1:
        raise InputError(f"--std-factor must be above 1, got {args.std_factor}")
    if not 0 < args.dead_fraction <= 1:
        raise InputError(f"--dead-fraction must be in (0, 1], got {args.dead_fraction}")
    if not 1 <= args.std_drift <= args.std_factor:
        raise InputError(f"--std-drift must be in [1, --std-factor], got {args.std_drift}")
    for name in ("ks_distance", "dead_rise"):
        if not 0 < getattr(args, name) <= 1:
            raise InputError(
                f"--{name.replace('_', '-')} must be in (0, 1], got {getattr(args, name)}"
            )
    d = diff(
        args.a,
        args.b,
        std_factor=args.std_factor,
        std_drift=args.std_drift,
        ks_distance=args.ks_distance,
        mean_shift=args.mean_shift,
        dead_fraction=args.dead_fraction,
        dead_rise=args.dead_rise,
    )
    if args.json:
        from layerscope.engine.io import dumps

        sys.stdout.write(dumps(d.to_dict(), indent=1))  # no Inf/NaN literals
        sys.stdout.write("\n")
        return 0
    from rich.console import Console
    from rich.table import Table

    console = Console()
    for warning in d.warnings:  # before anything else: they change what the flags mean
        console.print(f"warning: {warning}", style="bold yellow", markup=False, highlight=False)
    table = Table(title=f"A: {d.a}   B: {d.b}", expand=True)
    table.add_column("tensor", overflow="fold", ratio=2)
    table.add_column("kind", overflow="fold", ratio=1)
    for col in ("std A→B", "mean A→B", "zeros B"):
        table.add_column(col, justify="right", overflow="fold", ratio=1)
    table.add_column("flags", overflow="fold", ratio=3)
    for r in d.flagged if args.flagged else d.rows:
        table.add_row(
            r.label,
            r.kind,
            f"{_f(r.a.std)} → {_f(r.b.std)}",
            f"{_f(r.a.mean)} → {_f(r.b.mean)}",
            f"{100 * r.b.zero_fraction:.0f}%",
            "; ".join(f.message for f in r.flags),
            style="bold red" if r.flags else None,
        )
    console.print(table)
    if d.only_a:
        console.print(
            f"only in A ({len(d.only_a)}): {', '.join(d.only_a[:20])}{' …' if len(d.only_a) > 20 else ''}"
        )
    if d.only_b:
        console.print(
            f"only in B ({len(d.only_b)}): {', '.join(d.only_b[:20])}{' …' if len(d.only_b) > 20 else ''}"
        )
    console.print(f"{len(d.rows)} tensors matched · {len(d.flagged)} flagged")
    return 0


def _f(v: float | None) -> str:
    return "—" if v is None else f"{v:.3g}"
