"""The app's layering: no import cycles among ``tui`` modules, the palette imports no screen,
widgets own no workers, and no module grows past ~400 lines without saying why at its top."""

from __future__ import annotations

import ast
from pathlib import Path

import grimp
import pytest

TUI = Path(__file__).resolve().parents[2] / "tui"
MAX_LINES = 400


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    # Every import counts, lazy ones inside functions too: a cycle through a deferred import
    # is still two modules that need each other.
    return grimp.build_graph("layerscope", include_external_packages=False)


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan), each sorted."""
    modules = sorted(graph.modules)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(start: str) -> None:  # iterative: no recursion limit on a long chain
        nonlocal counter
        work = [(start, iter(sorted(graph.find_modules_directly_imported_by(start))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append(
                        (child, iter(sorted(graph.find_modules_directly_imported_by(child))))
                    )
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    found.append(sorted(group))

    for module in modules:
        if module not in index:
            visit(module)
    return found


def test_no_import_cycles_among_tui_modules(graph: grimp.ImportGraph) -> None:
    cycles = _cycles(graph)
    assert not cycles, "import cycles in tui: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_command_palette_imports_no_screen(graph: grimp.ImportGraph) -> None:
    screens = {m for m in graph.modules if m.startswith("layerscope.tui.screens")}
    imported = graph.find_modules_directly_imported_by("layerscope.tui.commands")
    assert not (imported & screens), f"layerscope.tui.commands imports {sorted(imported & screens)}"


def test_widgets_import_no_screen(graph: grimp.ImportGraph) -> None:
    """Widgets post messages; the screen that hosts them decides what to push or run."""
    bad = {
        (w, m)
        for w in graph.modules
        if w.startswith("layerscope.tui.widgets")
        for m in graph.find_modules_directly_imported_by(w)
        if m.startswith("layerscope.tui.screens")
    }
    assert not bad, f"widgets importing screens: {sorted(bad)}"


def _worker_methods(path: Path) -> list[str]:
    """Methods decorated with textual's ``@work`` in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for deco in node.decorator_list:
                target = deco.func if isinstance(deco, ast.Call) else deco
                if isinstance(target, ast.Name) and target.id == "work":
                    found.append(node.name)
    return found


def test_widgets_own_no_workers() -> None:
    owners = {
        p.name: names
        for p in sorted((TUI / "widgets").glob("*.py"))
        if (names := _worker_methods(p))
    }
    assert not owners, f"widgets running workers (screens own workers): {owners}"


def test_long_modules_say_why_at_their_top() -> None:
    """A module over ~400 lines names the reason in its docstring (``Long because ...``)."""
    long = []
    for path in sorted(TUI.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        if text.count("\n") <= MAX_LINES:
            continue
        doc = ast.get_docstring(ast.parse(text)) or ""
        if "long because" not in doc.lower():
            long.append(f"{path.relative_to(TUI.parent)} ({text.count(chr(10))} lines)")
    assert not long, f"modules over {MAX_LINES} lines without a reason at the top: {long}"
