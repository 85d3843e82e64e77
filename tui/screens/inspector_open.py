"""How the inspector opens things: its two-step start, the folder listing and model loading.

A mixin of ``InspectorScreen``, kept apart so each module stays readable. The first frame is the
picker alone; ``_mount_rest`` mounts the other widgets right after it and then opens the start
model (``open_model`` waits for it). The listing and loading run in workers and post
``ModelsListed`` / ``ModelLoaded``; the screen shows a loaded model. Handlers use Textual's
``on_<message>`` names (a mixin's ``@on`` handlers are not collected).
"""

from __future__ import annotations

import gc
import time
from pathlib import Path
from typing import TYPE_CHECKING

from textual import work
from textual.widgets import Footer
from textual.worker import get_current_worker

from layerscope.tui.log import logger
from layerscope.tui.messages import ModelLoaded, ModelOpenRequested, ModelsListed

if TYPE_CHECKING:
    from textual.screen import Screen

    from layerscope.engine.model import Model
    from layerscope.tui.widgets.layer_tree import LayerTree
    from layerscope.tui.widgets.model_picker import ModelPicker

    _Host = Screen
else:
    _Host = object


def freeze_long_lived() -> None:
    """Keep the app's long-lived objects out of the garbage collector's full passes.

    A model of 10,000 tensors is ~100k objects, the app and torch several 100k more; CPython's
    full collection walks all of them (150-300 ms at that size), and one landing while a key is
    typed holds the UI thread. Called after each load: what earlier loads froze is let go
    first, since a model dropped since may be held by a cycle (the first model opened, for
    one, is referenced from torch's import frames when torch is imported by that load), then
    one full collection, then everything alive is frozen until the next load.
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()


class InspectorOpening(_Host):
    """The start, the listing and the loading of ``InspectorScreen`` (see the module)."""

    if TYPE_CHECKING:  # provided by InspectorScreen
        start_path: Path
        trust: bool
        device: str
        arch: str | None
        arch_kwargs: dict | None
        bins: int
        model: Model | None
        loading_path: Path | None
        built: bool
        _building: bool
        _open_when_built: tuple[Path, bool | None] | None
        picker: ModelPicker
        tree: LayerTree

        def sync_keys(self) -> None: ...

    def on_screen_resume(self) -> None:
        if not self.built:  # a screen pushed before the first frame's follow-up mount came off
            self.call_after_refresh(self._mount_rest, self.loading_path)

    async def _mount_rest(self, open_path: Path | None) -> None:
        """Mount everything but the picker (after the first frame), then open ``open_path``.

        Not while another screen is on top (a key pressed during the first frame): the mount
        would hold up that screen's start; ``on_screen_resume`` mounts it on the way back."""
        if self.built or self._building or not self.is_current:
            return
        self._building = True
        # Imported here, not at the top: the first frame does not wait for their modules either.
        from layerscope.tui.widgets.input_source import InputSource
        from layerscope.tui.widgets.layer_filter import LayerFilter
        from layerscope.tui.widgets.layer_tree import LayerTree
        from layerscope.tui.widgets.log_pane import LogPane
        from layerscope.tui.widgets.tensor_list import TensorList
        from layerscope.tui.widgets.tensor_view import TensorView

        footer = self.query_one(Footer)
        mounts = [
            self.query_one("#sidebar").mount(
                LayerFilter(id="filter"), LayerTree(id="layers"), TensorList(id="tensors")
            ),
            self.query_one("#main-column").mount(
                InputSource(id="capture"), TensorView(self.bins, id="main")
            ),
            self.mount(LogPane(id="log"), before=footer),
        ]
        for mount in mounts:
            await mount
        self.built = True
        log = self.query_one(LogPane)
        for line in getattr(self.app, "backlog", ()):  # logged before the pane existed
            log.add_line(line.text, line.level)
        if self._open_when_built is not None:  # the start path, or Enter in the picker meanwhile
            path, trust = self._open_when_built
            self._open_when_built = None
            self.open_model(path, trust=trust)
            if path == open_path:
                # Where the model will appear; the keys typed meanwhile land here (set_focus:
                # now, before they are let through below).
                self.set_focus(self.tree)
        self.refresh_bindings()  # the screen's keys work from now on (check_action)
        release_keys = getattr(self.app, "release_keys", None)
        if release_keys is not None:  # the keys typed meanwhile, in order, once the widgets'
            self.call_after_refresh(release_keys)  # own first-refresh work (plot, log) is done

    def on_mount(self) -> None:
        path = self.start_path
        opens = path.is_file() or (path.is_dir() and any(path.glob("*.safetensors.index.json")))
        self.call_after_refresh(self._mount_rest, path if opens else None)
        if opens:
            self.list_models(path.parent)
            self.open_model(path)  # once the tree is mounted
        elif path.is_dir():
            self.list_models(path)
            self.picker.focus()
        else:
            msg = f"{path}: no such file or folder. Open one with ctrl+p › model: open path."
            self.notify(msg, title="Nothing to open", severity="warning", timeout=10)
            logger.warning(msg)
            self.picker.show_groups(path, [])

    def open_model(self, path: Path, *, trust: bool | None = None) -> None:
        self.loading_path = path
        if not self.built:  # before the first frame's follow-up mount: open once it is done
            self._open_when_built = (path, trust)
            return
        self.tree.loading = True
        self.sync_keys()
        self.load_model(path, self.trust if trust is None else trust)

    @work(
        thread=True,
        exclusive=True,
        group="discover",
        exit_on_error=False,
        description="list models",
    )
    def list_models(self, folder: Path) -> None:
        from layerscope.engine.discover import list_folder

        listing = list_folder(folder)
        if not get_current_worker().is_cancelled:
            self.post_message(ModelsListed(folder, listing.groups, listing.skipped))

    @work(thread=True, exclusive=True, group="load", exit_on_error=False, description="load model")
    def load_model(self, path: Path, trust: bool) -> None:
        logger.info("Loading {}…", path.name)
        start = time.perf_counter()
        from layerscope.engine import load_model  # torch/onnx are imported here, off the UI thread

        model = load_model(
            path, arch=self.arch, arch_kwargs=self.arch_kwargs, trust=trust, device=self.device
        )
        freeze_long_lived()
        if not get_current_worker().is_cancelled:
            self.post_message(ModelLoaded(model, time.perf_counter() - start))

    def on_models_listed(self, message: ModelsListed) -> None:
        self.picker.show_groups(message.folder, message.groups, message.skipped)
        shown = self.model.path if self.model is not None else self.loading_path
        if shown is not None:
            self.picker.highlight_path(shown)

    def on_model_open_requested(self, message: ModelOpenRequested) -> None:
        self.open_model(message.path)
