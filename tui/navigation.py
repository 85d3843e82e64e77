"""Where each screen leads, in one place: Train <-> Runs, and from the inspector to the
Quantization view, the compare view, Runs and Train (and back to the inspector from a run).

Screens never import each other: they post a navigation message (``layerscope.tui.messages``) that bubbles
to the app, which calls these functions. The screens are imported on first use, so the app's
first frame does not wait for them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual.app import App

from layerscope.tui.log import logger

if TYPE_CHECKING:
    from layerscope.tui.activations import ActivationSession
    from layerscope.tui.screens.inspector import InspectorScreen
    from layerscope.tui.screens.runs import RunsScreen
    from layerscope.tui.screens.train import TrainScreen

RUN_SCREENS = ("train", "runs")  # replace each other on top of the inspector


def bring_up(app: App[Any], name: str) -> None:
    """Show the installed screen ``name``: Train and Runs replace each other on top of the
    inspector rather than piling up, and both stay alive (and keep following) when hidden."""
    screen = app.get_screen(name)
    if app.screen is screen:
        return
    if screen in app.screen_stack:
        while app.screen is not screen:
            app.pop_screen()
        return
    on_top = any(
        app.is_screen_installed(n) and app.screen is app.get_screen(n) for n in RUN_SCREENS
    )
    if on_top:
        app.switch_screen(name)
    else:
        app.push_screen(name)


def show_train(app: App[Any], follow: Path | None = None) -> TrainScreen:
    """Bring up the one Train screen (created on first use), following ``follow`` if given."""
    from layerscope.tui.screens.train import TrainScreen  # the training screens load on first use

    if not app.is_screen_installed("train"):
        app.install_screen(TrainScreen(getattr(app, "runs_dir", None), follow=follow), "train")
        screen = app.get_screen("train")
        bring_up(app, "train")
        return screen  # type: ignore[return-value]
    screen = app.get_screen("train")
    bring_up(app, "train")
    if follow is not None:
        screen.follow(follow)  # type: ignore[attr-defined]
    return screen  # type: ignore[return-value]


def runs_going(app: App[Any]) -> list[str]:
    """Names of the runs this app follows that are still starting or running."""
    if not app.is_screen_installed("train"):
        return []
    run = getattr(app.get_screen("train"), "run", None)
    if run is None or run.status not in ("starting", "running"):
        return []
    return [run.run_dir.name]


def show_help(app: App[Any]) -> None:
    """The keys of the screen the user is on (not over another help screen)."""
    from layerscope.tui.screens.help import HelpScreen

    if not isinstance(app.screen, HelpScreen):
        keys = [b for bs in app._bindings.key_to_bindings.values() for b in bs]
        app.push_screen(HelpScreen(app.screen, keys))


def show_runs(app: App[Any]) -> RunsScreen:
    """Bring up the one Runs screen (created on first use)."""
    from layerscope.tui.screens.runs import RunsScreen

    if not app.is_screen_installed("runs"):
        app.install_screen(RunsScreen(getattr(app, "runs_dir", None)), "runs")
    bring_up(app, "runs")
    return app.get_screen("runs")  # type: ignore[return-value]


def show_run_compare(app: App[Any], run_dirs: list[Path]) -> None:
    """The marked runs' curves overlaid and hyperparameters side by side, over the Runs screen
    (Escape comes back to it)."""
    from layerscope.tui.screens.run_compare import RunCompareScreen

    app.push_screen(RunCompareScreen(run_dirs))


def inspector_of(app: App[Any]) -> InspectorScreen | None:
    """The inspector: the screen at the bottom of the stack."""
    from layerscope.tui.screens.inspector import InspectorScreen

    return next((s for s in app.screen_stack if isinstance(s, InspectorScreen)), None)


def open_in_inspector(app: App[Any], path: Path, layer: str | None = None) -> None:
    """Back to the inspector, showing ``path``'s folder and opening it (on ``layer``, if given)."""
    inspector = inspector_of(app)
    if inspector is None:
        return
    while app.screen is not inspector:
        app.pop_screen()
    logger.info("Opening {} from its run", path)
    inspector.reveal_on_load = layer
    inspector.list_models(path.parent)
    inspector.open_model(path)


def show_health(app: App[Any], run_dir: Path) -> None:
    """The Layer health view of ``run_dir`` on top of the screen that asked (Runs or Train)."""
    from layerscope.tui.screens.health import HealthScreen

    app.push_screen(HealthScreen(run_dir))


def show_quantization(app: App[Any], path: Path, groups: list[Any] | None) -> None:
    """The Quantization view of ``path`` against its twin; ``g`` there comes back to the
    inspector on that layer. ``groups``: the inspector's listing of ``path``'s folder, if any."""
    from layerscope.tui.screens.quantization import QuantizationScreen

    inspector = inspector_of(app)
    if inspector is None:
        return
    session = inspector.capture_bar.session  # the input the user last captured with, if any
    screen = QuantizationScreen(
        path, model=inspector.model, groups=groups,
        trust=inspector.trust, device=inspector.device, arch=inspector.arch,
        arch_kwargs=inspector.arch_kwargs,
        inputs=session.batch.spec if session is not None else None,
        data_dir=inspector.capture_bar.cifar_folder,
    )  # fmt: skip

    def back(layer: str | None) -> None:
        if layer:
            inspector.reveal_layer(layer, path)

    app.push_screen(screen, back)


def compare_reports(app: App[Any], session: ActivationSession | None) -> None:
    """Ask for report paths, then open the compare view: two reports, or one (A) against
    ``session``, the current capture (B)."""
    from layerscope.engine.io import output_folder
    from layerscope.tui.screens.compare import CompareScreen
    from layerscope.tui.screens.report_prompt import ReportPrompt

    folder = Path.cwd()
    inspector = inspector_of(app)
    if inspector is not None and inspector.model is not None:
        saved = output_folder(inspector.model.path)
        folder = saved if saved.is_dir() else folder  # where the app saved this model's reports
    if session is not None:
        fields = [("A: saved report (the reference)", folder)]
        title = "Compare a saved report (A) with the current capture (B):"
    else:
        fields = [("A: reference report", folder), ("B: report to check", folder)]
        title = "Compare two activation reports (flags describe B):"

    def chosen(paths: list[Path] | None) -> None:
        if paths:
            screen = CompareScreen(paths[0], session if session is not None else paths[1])
            app.push_screen(screen, show_layer_activations)

    def show_layer_activations(layer: str | None) -> None:
        """Enter or g on a row: that layer in the inspector, with its captured activations."""
        inspector = inspector_of(app)
        if layer is None or inspector is None or inspector.model is None:
            return
        inspector.reveal_layer(layer, inspector.model.path)
        if inspector.capture_bar.session is not None:
            inspector.capture_bar.toggle.set(True)

    app.push_screen(ReportPrompt(title, fields), chosen)
