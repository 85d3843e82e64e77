"""The layer tree: the model's hierarchy, children added only when a node is expanded.

A model with 10,000 tensors stays fluid because only expanded nodes exist as tree nodes, and a
node with very many children adds them in pages ("… N more" loads the next page).
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING

from rich.cells import cell_len
from rich.text import Text
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from layerscope.engine.formatting import human_count
from layerscope.engine.model import close_names

if TYPE_CHECKING:
    from collections.abc import Iterator

    from layerscope.engine.model import Layer, Model

PAGE = 200  # children added per page under one node
MAX_MATCHES = 500  # filter results shown at once; more would make typing sluggish
_MORE = "\0more"  # data marker of the "… N more" node


class LayerTree(Tree[str]):
    """Tree of layer names (node data is the layer's full name)."""

    DEFAULT_CSS = """
    LayerTree {
        height: 1fr;
        min-height: 4;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("(no model)", id=id)
        self.border_title = "Layers"
        self.model: Model | None = None
        self.filter_text = ""
        self._filled: set[int] = set()  # ids of nodes whose children exist
        self._first_match: str | None = None  # of the filter, for the cursor
        self._labels: dict[str, Text] = {}  # per layer of the model: built once, not per key
        self._lowered: list[tuple[str, str]] = []  # (name.lower(), name), the filter's index
        self._last: tuple[str, list[str]] = ("", [])  # the last filter's needle and matches
        self._bulk = 0  # > 0 while many nodes are added: one invalidation at the end
        self._bulk_dirty = False

    # -- building ------------------------------------------------------------------------------
    def label_for(self, layer: Layer) -> Text:
        """The node label of ``layer`` (cached: the tree copies a label before styling it)."""
        label = self._labels.get(layer.name)
        if label is None:
            label = self._labels[layer.name] = self._make_label(layer)
        return label

    def _make_label(self, layer: Layer) -> Text:
        assert self.model is not None
        params = self.model.subtree_param_count(layer.name)
        name = layer.short_name if layer.name else self.model.path.name
        label = Text(name, "bold" if layer.tensors else "")
        if layer.kind and layer.kind != name:
            label.append(f" {layer.kind}", "cyan")
        if params:
            label.append(f" {human_count(params)}", "dim")
        return label

    def show_model(self, model: Model | None) -> None:
        """Show ``model``'s hierarchy collapsed to its top level (or nothing)."""
        self.model = model
        self.filter_text = ""
        self._labels.clear()
        self._lowered = []
        self._last = ("", [])
        self._rebuild()

    def _rebuild(self) -> None:
        self._unlink_nodes()
        self.clear()
        self._filled.clear()
        if self.model is None:
            self.root.set_label("(no model)")
            return
        self.root.set_label(self.label_for(self.model.root))
        self.root.data = ""
        if self.filter_text:
            self._fill_filtered()
        else:
            self._fill(self.root, 0)
        self.root.expand()

    # -- cheaper bulk building (a filter keystroke adds up to ~2,000 nodes) ---------------------
    def _unlink_nodes(self) -> None:
        """Empty the child lists of the nodes about to be cleared: a parent and its children
        form reference cycles, which only full collections free (~20-30 ms each, every few
        keystrokes once a keystroke leaves ~2,000 nodes behind); unlinked, they go at once."""
        stack = [self.root]
        while stack:
            node = stack.pop()
            stack.extend(node._children)
            node._children.clear()

    @contextmanager
    def _adding(self) -> Iterator[None]:
        """Add many nodes with one invalidation (Textual's re-lays the tree out on each add)."""
        self._bulk += 1
        try:
            yield
        finally:
            self._bulk -= 1
            if not self._bulk and self._bulk_dirty:
                self._bulk_dirty = False
                self._invalidate()

    def _invalidate(self) -> None:
        if self._bulk:
            self._bulk_dirty = True
            return
        super()._invalidate()

    def process_label(self, label: str | Text) -> Text:
        # Textual splits every label into lines to keep the first; ours are one line already.
        if isinstance(label, Text) and "\n" not in label.plain:
            return label
        return super().process_label(label)

    def get_label_width(self, node: TreeNode[str]) -> int:
        # What render_label draws, measured without drawing it: the tree measures every line
        # (its scroll width) each time it is laid out, visible or not.
        icon = ""
        if node.allow_expand:
            icon = self.ICON_NODE_EXPANDED if node.is_expanded else self.ICON_NODE
        return cell_len(icon) + node.label.cell_len

    def _add_child(self, node: TreeNode[str], layer: Layer) -> TreeNode[str]:
        label = self.label_for(layer)
        if layer.children:
            return node.add(label, data=layer.name)
        return node.add_leaf(label, data=layer.name)

    def _fill(self, node: TreeNode[str], start: int) -> None:
        """Add one page of ``node``'s children from ``start`` on."""
        with self._adding():
            self._fill_page(node, start)

    def _fill_page(self, node: TreeNode[str], start: int) -> None:
        assert self.model is not None and node.data is not None
        names = self.model.layers[node.data].children
        for name in names[start : start + PAGE]:
            self._add_child(node, self.model.layers[name])
        rest = len(names) - start - PAGE
        if rest > 0:
            label = Text(f"… {rest:,} more (Enter)", "italic dim")
            node.add_leaf(label, data=f"{_MORE}{node.data}\0{start + PAGE}")
        self._filled.add(node.id)

    def _fill_filtered(self) -> None:
        """Matches of the filter, with their ancestors, fully expanded."""
        with self._adding():
            self._fill_matches()

    def _fill_matches(self) -> None:
        assert self.model is not None
        matches = self._matching(self.filter_text.lower())
        self._first_match = matches[0] if matches else None
        nodes: dict[str, TreeNode[str]] = {"": self.root}
        for name in matches[:MAX_MATCHES]:
            chain = []
            cur: str | None = name
            while cur is not None and cur not in nodes:
                chain.append(cur)
                cur = self.model.layers[cur].parent
            for part in reversed(chain):
                layer = self.model.layers[part]
                parent = nodes[layer.parent or ""]
                node = parent.add(self.label_for(layer), data=part, expand=True)
                node.allow_expand = bool(layer.children)
                nodes[part] = node
                self._filled.add(node.id)  # filtered view: only matching children shown
        self._filled.add(self.root.id)
        hidden = len(matches) - MAX_MATCHES
        if hidden > 0:
            self.root.add_leaf(Text(f"… {hidden:,} more matches: type more", "italic dim"))
        label = Text.assemble(
            self.label_for(self.model.root), (f"  {len(matches):,} match", "yellow")
        )
        if not matches:  # a typo: offer the names it was probably meant to be, as the CLI does
            for name in close_names(self.filter_text, self.model.layers):
                self.root.add_leaf(Text(f"did you mean {name}?", "yellow"), data=name)
        self.root.set_label(label)

    def _matching(self, needle: str) -> list[str]:
        """Names containing ``needle``, in the model's order; a needle that extends the last
        one (typing on) searches only the last matches."""
        assert self.model is not None
        if not self._lowered:
            self._lowered = [(n.lower(), n) for n in self.model.layers if n]
        last, last_matches = self._last
        if last and last in needle:
            matches = [n for n in last_matches if needle in n.lower()]
        else:
            matches = [n for low, n in self._lowered if needle in low]
        self._last = (needle, matches)
        return matches

    def set_filter(self, text: str) -> None:
        """Narrow the tree to layers whose name contains ``text`` (case-insensitive)."""
        if text == self.filter_text:
            return
        keep = self.current_layer  # the user's place: kept while it still matches, and after
        self.filter_text = text
        self._rebuild()
        if keep and (not text or text.lower() in keep.lower()):
            self.reveal(keep)
        elif text and self._first_match is not None:
            self.reveal(self._first_match)

    def reveal(self, name: str) -> TreeNode[str] | None:
        """Expand the path to layer ``name`` and move the cursor there."""
        if self.model is None or name not in self.model.layers:
            return None
        chain = []
        cur: str | None = name
        while cur:
            chain.append(cur)
            cur = self.model.layers[cur].parent
        node = self.root
        for part in reversed(chain):
            if node.id not in self._filled:
                self._fill(node, 0)
            node.expand()
            found = next((c for c in node.children if c.data == part), None)
            while found is None and node.children and str(node.children[-1].data).startswith(_MORE):
                self._load_more(node.children[-1])
                found = next((c for c in node.children if c.data == part), None)
            if found is None:
                return None
            node = found
        # Lines are laid out on the next refresh; before that the new node has no line yet.
        self.call_after_refresh(self.move_cursor, node)
        return node

    def _load_more(self, more: TreeNode[str]) -> None:
        start = str(more.data).rsplit("\0", 1)[1]
        parent = more.parent
        assert parent is not None
        more.remove()
        self._fill(parent, int(start))

    # -- events --------------------------------------------------------------------------------
    def on_tree_node_expanded(self, event: Tree.NodeExpanded[str]) -> None:
        node = event.node
        if node.id not in self._filled and node.data is not None and self.model is not None:
            self._fill(node, 0)

    def on_tree_node_selected(self, event: Tree.NodeSelected[str]) -> None:
        if str(event.node.data).startswith(_MORE):
            event.stop()
            line = event.node.line
            self._load_more(event.node)
            self.cursor_line = line

    @property
    def current_layer(self) -> str | None:
        """Name of the layer under the cursor (``None`` on placeholder rows)."""
        node = self.cursor_node
        if node is None or node.data is None or str(node.data).startswith(_MORE):
            return None
        return node.data
