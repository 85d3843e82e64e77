"""The Quantization view's header: which pair, on what inputs, how the output fared, what to exclude."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Group
from rich.text import Text
from textual.app import RenderResult
from textual.widget import Widget

from layerscope.tui.widgets.quant_table import db

if TYPE_CHECKING:
    from layerscope.engine.quant_compare import Comparison


class QuantSummary(Widget):
    """A few lines above the table; every figure is the engine's."""

    DEFAULT_CSS = """
    QuantSummary {
        height: auto;
        padding: 0 1;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.border_title = "Float vs quantized"
        self.lines: list[Text] = [Text("Looking for the float/quantized twin…", "dim italic")]

    def _set(self, lines: list[Text]) -> None:
        self.lines = lines
        self.refresh(layout=True)

    @property
    def text(self) -> str:
        """The summary as plain text (what a user reads)."""
        return "\n".join(line.plain for line in self.lines)

    def show_message(self, text: str, style: str = "dim italic") -> None:
        """One line of state: searching, comparing, no twin, failed."""
        self._set([Text(text, style)])

    def show_progress(self, pair: tuple[Path, Path], stage: str, done: int, total: int) -> None:
        f, q = pair
        step = f" · {stage} {done}/{total}" if total else f" · {stage}"
        self._set([Text.assemble(("Comparing ", "dim"), _pair(f, q), (f"…{step}", "dim"))])

    def show_result(
        self, result: Comparison, twin_note: str = "", hint: str = "", inputs: str = ""
    ) -> None:
        """Pair, output agreement, flagged counts (and the ``inputs`` the verdict rests on),
        suggested exclusions, notes."""
        head = Text.assemble(
            _pair(Path(result.float_path), Path(result.quant_path)),
            (f"  {twin_note}" if twin_note else "", "dim"),
        )
        lines = [head]
        out = result.output
        if out is not None:
            top1 = out.top1_agreement
            good = (top1 is None or top1 >= 0.99) and out.figures.sqnr_db >= result.threshold_db
            line = Text("output  ", "dim")
            if top1 is not None:
                line.append(f"top-1 agreement {top1:.1%}", "bold" if good else "bold red")
                line.append(" · ")
            line.append(f"SQNR {db(out.figures.sqnr_db)} dB", "" if good else "bold red")
            if out.figures.cosine is not None:
                line.append(f" · cos {out.figures.cosine:.4f}")
            line.append(f" · {out.samples} samples", "dim")
            lines.append(line)
        flagged = len(result.flagged)
        acts = sum(1 for a in result.activations if a.flagged)
        line = Text("flagged ", "dim")
        line.append(f"{flagged} of {len(result.layers)} layers", "bold red" if flagged else "green")
        if result.activations:
            line.append(
                f", {acts} of {len(result.activations)} further activations",
                "bold red" if acts else "",
            )
        line.append(f" below {result.threshold_db:g} dB", "dim")
        if inputs:
            line.append(" on ", "dim")
            line.append(inputs, "bold")
        unmatched = len(result.unmatched_float) + len(result.unmatched_quant)
        if unmatched:
            line.append(f" · {unmatched} layers unmatched", "yellow")
        lines.append(line)
        names = result.suggest_exclude()
        line = Text("exclude ", "dim", no_wrap=True, overflow="ellipsis")
        if names:  # one line: the count and the copy key come first, the names as they fit
            line.append(f"{len(names)} nodes", "bold red")
            line.append(" (c copies them): ", "dim")
            line.append(", ".join(names), "bold")
        elif result.quant_path.endswith(".onnx"):
            line.append("nothing: every layer is above the threshold", "green")
        else:
            line.append("node names are offered for ONNX models only", "dim")
        lines.append(line)
        for note in [*result.notes, *([hint] if hint else [])]:
            lines.append(Text(f"note    {note}", "yellow"))
        sides = (("float", result.unmatched_float), ("quantized", result.unmatched_quant))
        for side, left in sides:
            if left:
                lines.append(Text(f"no partner in the {side} model: {', '.join(left)}", "yellow"))
        self._set(lines)

    def render(self) -> RenderResult:
        return Group(*self.lines)


def _pair(f: Path, q: Path) -> Text:
    return Text.assemble((f.name, "bold"), " ⇄ ", (q.name, "bold magenta"))
