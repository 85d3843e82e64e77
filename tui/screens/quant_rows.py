"""The Quantization view's rows: the selected row's float and dequantized histograms.

A mixin of ``QuantizationScreen``, kept apart so each module stays readable: which histograms a
row shows, the answers kept per row (the screen's ``compute_histograms`` worker asks the engine),
the caption, and the keys that change what the rows show. Its handler uses Textual's
``on_<message>`` name (a mixin's ``@on`` handlers are not collected).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from layerscope.engine.usecases.quant import quant_variant
from layerscope.tui.messages import QuantHistogramsReady
from layerscope.tui.widgets.quant_histograms import QuantHistograms, stats_caption
from layerscope.tui.widgets.quant_table import FLAG, QuantRow, QuantTable, db

if TYPE_CHECKING:
    from pathlib import Path

    from textual.screen import Screen

    from layerscope.engine.quant_compare import Comparison
    from layerscope.engine.usecases.quant import ComparisonRun

    _Host = Screen
else:
    _Host = object


class QuantRows(_Host):
    """Histograms of the selected row, and the keys that choose what the rows show."""

    if TYPE_CHECKING:  # provided by QuantizationScreen
        result: Comparison | None
        rows: list[QuantRow]
        flagged_only: bool
        tensor_kind: str
        _run: ComparisonRun | None
        _shown_key: str | None
        _drawn: dict[str, QuantHistogramsReady]
        table: QuantTable
        histograms: QuantHistograms
        pair: tuple[Path, Path] | None

        def compute_histograms(self, row: QuantRow, key: str, kind: str) -> None: ...

    def _kind(self, row: QuantRow) -> str:
        """What the row's histograms show: an activation row has no weight, a layer row may
        lack an activation (weights-only comparison)."""
        if row.layer is None:
            return "activation"
        if self.tensor_kind == "activation" and row.layer.activation is not None:
            return "activation"
        return "weight" if row.layer.weight is not None else "activation"

    def show_row(self, row: QuantRow | None) -> None:
        """Ask for the row's histograms (the engine bins float and dequantized alike)."""
        if row is None:
            self.histograms.show_hint("No row to show." if self.result else "Comparing…")
            return
        kind = self._kind(row)
        key = f"{row.key}:{kind}"
        if key == self._shown_key:
            return
        self._shown_key = key
        if key in self._drawn:  # seen before: no worker round trip
            self.histograms_ready(self._drawn[key])
            return
        if kind == "activation" and (self._run is None or self._run.batch is None):
            self.workers.cancel_group(self, "quant-hist")
            self.histograms.show_hint(f"{row.name}: no inputs ran, so no activation to plot.")
            return
        if kind == "activation":  # a capture of both models: seconds, not milliseconds
            self.histograms.show_hint(f"Running both models again for {row.name}'s activation…")
        self.compute_histograms(row, key, kind)

    def on_quant_histograms_ready(self, message: QuantHistogramsReady) -> None:
        self.histograms_ready(message)

    def histograms_ready(self, message: QuantHistogramsReady) -> None:
        """Draw a row's histograms with its SQNR caption, if the row is still the selected one."""
        self._drawn[message.key] = message
        row = self.table.current
        if row is None or message.key != f"{row.key}:{self._kind(row)}":
            return  # the user has moved on
        kind = self._kind(row)
        labels = ("float", f"dequantized {self._qdtype()}".strip())
        w = row.layer.weight if row.layer is not None else None
        a = row.layer.activation if row.layer is not None else row.act
        threshold = self.result.threshold_db if self.result is not None else 0.0
        parts = []
        for what, c in (("weight", w), ("activation", a)):
            if c is not None:  # both: the weights can be fine while the activation flags the row
                bad = c.sqnr_db < threshold or c.figures.nonfinite
                parts.append(f"{what} SQNR {db(c.sqnr_db)} dB" + (f" {FLAG}" if bad else ""))
        caption = ", ".join(parts) + " · " + stats_caption(message.float_stats, message.quant_stats)
        if kind == "weight" and w is not None and w.folded_bn:
            caption += " · BN folded into the float weight"
        self.histograms.show(message.float_stats, message.quant_stats, labels, caption)
        shown = w if kind == "weight" else a
        name = shown.float_name if shown is not None else ""
        self.histograms.border_title = f"{row.name} · {kind} {name}"

    def _qdtype(self) -> str:
        return quant_variant(self.pair[1]) if self.pair is not None else ""

    # -- actions (keys and palette) ------------------------------------------------------------
    def action_toggle_tensor(self) -> None:
        """Layer rows: the weight's histograms or the layer output's (activation)."""
        self.tensor_kind = "activation" if self.tensor_kind == "weight" else "weight"
        self.show_row(self.table.current)

    def action_toggle_overlay(self) -> None:
        mode = "side" if self.histograms.mode == "overlay" else "overlay"
        self.histograms.set_mode(mode)

    def action_toggle_flagged(self) -> None:
        if self.result is None:
            return
        self.flagged_only = not self.flagged_only
        self.table.show_rows(self.rows, flagged_only=self.flagged_only)
        if self.flagged_only and not self.table.rows_shown:
            self.notify(f"No row is below {self.result.threshold_db:g} dB.", title="Flagged only")
        self._shown_key = None
        self.show_row(self.table.current)
