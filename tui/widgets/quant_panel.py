"""Quantization facts of the shown tensor: scheme, scale/zero point, range use, per-channel table."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from layerscope.engine.formatting import num
from layerscope.tui.widgets.channel_table import ChannelTable

if TYPE_CHECKING:
    from layerscope.engine.model import TensorRef


class QuantPanel(Vertical):
    """Hidden for float tensors; per-channel tensors get a compact table of their channels."""

    DEFAULT_CSS = """
    QuantPanel {
        display: none;
        height: auto;
        max-height: 100%;
        width: 1fr;
        padding: 0 1;
    }
    QuantPanel.-shown {
        display: block;
    }
    QuantPanel > Static {
        height: auto;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.border_title = "Quantization"

    def compose(self) -> ComposeResult:
        yield Static(id="quant-facts")
        yield ChannelTable(id="channels")

    def show(self, ref: TensorRef | None, details: dict[str, Any] | None) -> None:
        """Fill in ``ref.quant`` and the engine's ``health``/``channels`` for it."""
        quant = ref.quant if ref is not None else None
        self.set_class(quant is not None, "-shown")
        if quant is None:
            return
        details = details or {}
        grid = Table.grid(padding=(0, 1))
        grid.add_column(style="dim", no_wrap=True)
        grid.add_column()
        grid.add_row("type", Text(f"{quant.qdtype} ({quant.scheme})", "magenta"))
        if quant.per_channel:
            grid.add_row("per-channel", f"axis {quant.axis}, {len(quant.scale)} channels")
        else:
            grid.add_row("scale", num(float(quant.scale[0]), 6))
            grid.add_row("zero point", str(int(quant.zero_point[0])))
        lo, hi = quant.qrange
        health = details.get("health")
        if health is not None:
            grid.add_row("range used", f"{health.range_used:.1%} of {lo}…{hi}")
            grid.add_row("at lo / hi", f"{health.saturated_low:.2%} / {health.saturated_high:.2%}")
        summary = details.get("channel_summary")
        if summary is not None:  # the table below may not fit (7 rows at 40, none at 24): this does
            zp_lo, zp_hi = summary["zp_min"], summary["zp_max"]
            grid.add_row(
                "scales", f"{num(summary['scale_min'], 4)} … {num(summary['scale_max'], 4)}"
            )
            grid.add_row("zero points", str(zp_lo) if zp_lo == zp_hi else f"{zp_lo} … {zp_hi}")
            worst = summary["worst_saturated"]
            grid.add_row(
                "most at ends",
                f"ch {summary['worst_channel']}: {worst:.2%}" if worst else "none at the ends",
            )
        self.query_one("#quant-facts", Static).update(grid)
        self.query_one(ChannelTable).show_rows(details.get("channels"))
