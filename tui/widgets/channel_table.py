"""Per-channel quantization parameters: one compact row per channel (scale, zero point, range)."""

from __future__ import annotations

from typing import Any

from textual.widgets import DataTable

from layerscope.engine.formatting import num


class ChannelTable(DataTable):
    """Shown only for per-channel quantized tensors."""

    DEFAULT_CSS = """
    ChannelTable {
        display: none;
        height: auto;
        max-height: 12;
    }
    ChannelTable.-shown {
        display: block;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        self.add_columns("ch", "scale", "zp", "min", "max")

    def show_rows(self, rows: list[dict[str, Any]] | None) -> None:
        """Rows from ``layerscope.engine.quant.channel_table``; hides itself for per-tensor quantization."""
        self.clear()
        if not rows or len(rows) < 2:
            self.remove_class("-shown")
            return
        self.add_rows(
            (
                str(r["channel"]),
                num(r["scale"], 4),
                str(r["zero_point"]),
                num(r["min"], 4),
                num(r["max"], 4),
            )
            for r in rows
        )
        self.add_class("-shown")
