"""Layer health over training: a layer made to collapse mid-run is named by an alert within one
sampling interval; the health file is readable while written, bounded, and matches autograd."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from torch import nn
from training_helpers import tiny_config

from layerscope.engine.errors import ConfigError, InputError
from layerscope.engine.training.callbacks.layer_health import LayerHealthCallback
from layerscope.engine.training.config import from_dict
from layerscope.engine.training.events import format_event, read_events
from layerscope.engine.training.health import (
    DATA_FILE,
    FIELDS,
    HEADER_FILE,
    HealthConfig,
    HealthLog,
    HealthWriter,
    nearest_checkpoint,
    record_bytes,
    record_dtype,
)

K = 8  # the step after which the layer is killed
EVERY = 2


def _kill_after(module: nn.Module, step_of, k: int = K) -> None:
    """Zero the module's output from optimizer step ``k`` on: a layer that dies mid-training."""

    def hook(_m, _a, out):  # noqa: ANN001, ANN202
        return out * 0 if step_of() >= k else out

    module.register_forward_hook(hook)


class HandWritten(pl.LightningModule):
    """A user's own LightningModule: its own layer names, loss and optimizer, no layerscope code."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU())
        self.head = nn.Linear(32, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))

    def training_step(self, batch, batch_idx):  # noqa: ANN001, ANN201
        x, y = batch
        return nn.functional.cross_entropy(self(x), y)

    def configure_optimizers(self):  # noqa: ANN201
        return torch.optim.SGD(self.parameters(), lr=0.05)


def _loader(n: int = 320, batch: int = 16) -> torch.utils.data.DataLoader:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 16, generator=g)
    y = (x[:, :4].argmax(1)).long()
    return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=batch)


def _trainer(root: Path, callbacks: list, epochs: int = 1) -> pl.Trainer:
    return pl.Trainer(
        max_epochs=epochs, accelerator="cpu", devices=1, logger=False,
        enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False,
        default_root_dir=root, callbacks=callbacks,
    )  # fmt: skip


def test_hand_written_lightning_script_collapse_is_named_within_one_interval(
    tmp_path: Path,
) -> None:
    torch.manual_seed(0)
    model = HandWritten()
    _kill_after(model.body[2], lambda: model.global_step)
    health = LayerHealthCallback(tmp_path, every=EVERY)  # the one line in a user's Trainer
    _trainer(tmp_path, [health]).fit(model, _loader())  # 20 steps

    log = HealthLog(tmp_path)
    assert log.refresh() == 10 and log.layers == ["body.0", "body.1", "body.2", "body.3", "head"]
    assert log.steps.tolist() == list(range(0, 20, EVERY))
    collapses = [e for e in read_events(tmp_path) if e["event"] == "alert"]
    first = next(e for e in collapses if e["rule"] == "collapse")
    assert first["layer"] == "body.2" and K <= first["step"] < K + EVERY
    assert not [e for e in collapses if e["step"] < K]  # nothing before the fault
    # The dead layer reads as dead in the stored data; the live one before it does not.
    std = log.values("act_std")
    after = log.steps >= K
    assert np.all(std[2, after] == 0) and np.all(std[0] > 0)
    assert "collapsed" in format_event(first) and "body.2" in format_event(first)
    marks = log.alert_marks()
    assert (2, int(np.flatnonzero(log.steps == first["step"])[0]), first) in marks
    assert all(col < 3 for _, col, _ in log.alert_marks(max_columns=3))
    # Nothing stays hooked between samples.
    assert not model.body[0]._forward_hooks and not model.head._forward_hooks


def test_recipe_run_has_health_on_by_default_and_names_the_collapsed_layer(
    tmp_path: Path,
) -> None:
    from layerscope.engine.training.build import build_run

    cfg = tiny_config(
        data={"batch_size": 16, "max_samples": 256},
        health={"every": EVERY},
        logging={"artifacts": False},
        export={"onnx": False},
    )
    assert cfg.health.enabled
    torch.manual_seed(0)
    parts = build_run(cfg, tmp_path)
    assert any(isinstance(c, LayerHealthCallback) for c in parts.callbacks)
    net = parts.module.model
    _kill_after(net.features[3], lambda: parts.module.global_step)
    trainer = pl.Trainer(**{**parts.trainer_kwargs, "max_epochs": 1}, callbacks=parts.callbacks)
    trainer.fit(parts.module, datamodule=parts.datamodule)  # 16 steps

    log = HealthLog(tmp_path)
    log.refresh()
    # Names as the inspector shows a Lightning checkpoint's layers: without the `model.` prefix.
    assert log.header["prefix"] == "model."
    assert log.layers[:3] == ["features.0", "features.1", "features.2"]
    alerts = log.alerts()
    assert not [a for a in alerts if a["step"] < K]
    first = next(a for a in alerts if a["rule"] == "collapse")
    assert first["layer"] == "features.3" and K <= first["step"] < K + EVERY
    # Upstream layers' activations are fine (their gradients vanish: nothing flows back).
    upstream = {"features.0", "features.1", "features.2"}
    assert not [a for a in alerts if a["layer"] in upstream and a["rule"] in ("collapse", "dead")]
    dead = [a for a in alerts if a["rule"] == "dead"]
    assert dead and dead[0]["layer"] == "features.4"  # the ReLU after it: 100% zeros
    # Enter on a cell opens the nearest checkpoint: the run's last.ckpt, at its step.
    found = log.nearest_checkpoint(first["step"])
    assert found is not None and found[0].name == "last.ckpt" and found[1] == 16


def test_nan_names_the_first_layer_in_forward_order_and_stop_on_nan_stops(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = HandWritten()

    def poison(_m, _a, out):  # noqa: ANN001, ANN202
        return out * float("nan") if model.global_step >= 6 else out

    model.body[2].register_forward_hook(poison)
    health = LayerHealthCallback(tmp_path, every=EVERY, alerts={"stop_on": "nan"})
    trainer = _trainer(tmp_path, [health])
    trainer.fit(model, _loader())
    nan = [a for a in health.alerts if a["rule"] == "nan"]
    assert nan[0]["layer"] == "body.2" and nan[0]["step"] == 6 and nan[0]["stop"]
    assert trainer.global_step == 7  # stopped right after the sampled step, not at 20
    assert [e["rule"] for e in read_events(tmp_path) if e["event"] == "alert"].count("nan") == 1


def test_gradient_and_update_statistics_match_autograd(tmp_path: Path) -> None:
    """One sampled step of a hand-written module against plain autograd."""
    torch.manual_seed(0)
    model = HandWritten()
    x, y = next(iter(_loader(n=16)))
    ref = HandWritten()
    ref.load_state_dict(model.state_dict())
    outs = {}
    handles = [
        m.register_forward_hook(
            lambda _m, _a, o, n=n: (outs.__setitem__(n, o), o.retain_grad())[0]
        )
        for n, m in ref.named_modules() if n in ("body.0", "body.2", "head")
    ]  # fmt: skip
    nn.functional.cross_entropy(ref(x), y).backward()
    for h in handles:
        h.remove()
    w0 = ref.body[0].weight.detach().clone()
    b0 = ref.body[0].bias.detach().clone()
    g0 = torch.cat([ref.body[0].weight.grad.flatten(), ref.body[0].bias.grad.flatten()]).double()
    health = LayerHealthCallback(tmp_path, every=100)
    trainer = pl.Trainer(
        max_steps=1, accelerator="cpu", devices=1, logger=False, enable_progress_bar=False,
        enable_model_summary=False, enable_checkpointing=False, callbacks=[health],
    )  # fmt: skip
    trainer.fit(model, torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), 16))
    log = HealthLog(tmp_path)
    log.refresh()
    cell = log.cell("body.0", 0)
    assert cell["grad_norm"] == pytest.approx(float(g0.norm()), rel=1e-5)
    assert cell["grad_std"] == pytest.approx(float(g0.std(unbiased=False)), rel=1e-4)
    assert cell["grad_nonfinite"] == 0
    for name in ("body.0", "body.2", "head"):
        g = outs[name].grad.double()
        c = log.cell(name, 0)
        assert c["out_grad_norm"] == pytest.approx(float(g.norm()), rel=1e-5)
        assert c["out_grad_std"] == pytest.approx(float(g.std(unbiased=False)), rel=1e-4)
        a = outs[name].detach().double()
        assert c["act_std"] == pytest.approx(float(a.std(unbiased=False)), rel=1e-5)
        assert c["act_mean"] == pytest.approx(float(a.mean()), rel=1e-4, abs=1e-7)
    # SGD(lr=0.05): Δw = -0.05 g exactly, so the update ratio is 0.05‖g‖/‖w‖.
    w = torch.cat([w0.flatten(), b0.flatten()]).double()
    assert cell["update_ratio"] == pytest.approx(float(0.05 * g0.norm() / w.norm()), rel=1e-4)
    assert cell["weight_norm"] == pytest.approx(float(w.norm()), rel=1e-5)
    counts, edges, step = log.histogram("body.0", 0)
    assert step == 0 and counts.sum() == outs["body.0"].numel() and len(edges) == 33
    assert edges[0] == pytest.approx(float(outs["body.0"].min()))
    assert edges[-1] == pytest.approx(float(outs["body.0"].max()))
    p = log.param_values("update_ratio")
    names = log.params
    wi = names.index("body.0.weight")
    dw = 0.05 * ref.body[0].weight.grad.double().norm() / w0.double().norm()
    assert p[wi, 0] == pytest.approx(float(dw), rel=1e-4)


def test_reader_sees_whole_records_while_written_and_downsamples_for_display(
    tmp_path: Path,
) -> None:
    layers = [{"name": f"l{i}", "kind": "Conv2d", "params": []} for i in range(100)]
    w = HealthWriter(tmp_path)
    w.open(layers, [], bins=32, every=10)
    log = HealthLog(tmp_path)
    assert log.refresh() == 0 and log.available and len(log) == 0
    dtype = record_dtype(100, 0, 32)
    rec = np.zeros((), dtype=dtype)
    for s in range(3):
        rec["step"] = s * 10
        rec["layer"][:, FIELDS.index("act_std")] = np.arange(100) + s
        w.append(rec)
    # A writer killed mid-record leaves a torn tail: readers take whole records only.
    with (tmp_path / DATA_FILE).open("ab") as fh:
        fh.write(rec.tobytes()[: dtype.itemsize // 2])
    assert log.refresh() == 3 and log.steps.tolist() == [0, 10, 20]
    assert log.refresh() == 0
    # A resumed run cuts the torn tail and the records from its resume step on.
    w2 = HealthWriter(tmp_path)
    w2.open(layers, [], bins=32, every=10)
    rec["step"] = 10
    w2.append(rec)
    fresh = HealthLog(tmp_path)
    fresh.refresh()
    assert fresh.steps.tolist() == [0, 10]
    # Display: 10k records into 200 columns, each the extreme that matters (min for std).
    big = np.zeros(10_000, dtype=dtype)
    big["step"] = np.arange(10_000)
    big["layer"][:, :, FIELDS.index("act_std")] = 1.0
    big["layer"][5000, 7, FIELDS.index("act_std")] = 0.0
    (tmp_path / DATA_FILE).write_bytes(big.tobytes())
    view = HealthLog(tmp_path)
    assert view.refresh() == 10_000
    steps, m = view.matrix("act_std", max_columns=200)
    assert m.shape == (100, 200) and len(steps) == 200 and steps[0] == 0
    assert m[7].min() == 0.0 and m[8].min() == 1.0  # one dead sample still shows
    assert view.values("act_std").shape == (100, 10_000)  # stored data: never downsampled
    with pytest.raises(InputError):
        view.matrix("no_such")
    # The size bound stated in docs/run-format.md: 100 layers, 200 parameters, 32 bins.
    assert record_bytes(100, 200, 32) <= 24_000


def test_health_config_is_checked_and_on_by_default() -> None:
    assert from_dict({}).health.enabled and from_dict({}).health.alerts.stop_rules() == ["nan"]
    cfg = from_dict({"health": {"every": 5, "alerts": {"stop_on": "nan,collapse"}}})
    assert cfg.health.every == 5 and cfg.health.alerts.stop_rules() == ["nan", "collapse"]
    for bad, needle in [
        ({"every": 0}, "health.every"),
        ({"alerts": {"stop_on": "fire"}}, "stop_on"),
        ({"alerts": {"collapse_ratio": -1}}, "collapse_ratio"),
        ({"bins": 0}, "health.bins"),
    ]:
        with pytest.raises(ConfigError, match=needle):
            from_dict({"health": bad})
    assert HealthConfig(every=3).every == 3


def test_nearest_checkpoint_and_bad_headers(tmp_path: Path) -> None:
    assert nearest_checkpoint(tmp_path, 5) is None
    (tmp_path / "a.ckpt").write_bytes(b"x")
    (tmp_path / "b.ckpt").write_bytes(b"x")
    lines = [
        {"event": "checkpoint", "path": str(tmp_path / "a.ckpt"), "step": 10},
        {"event": "checkpoint", "path": str(tmp_path / "b.ckpt"), "step": 30},
        {"event": "checkpoint", "path": str(tmp_path / "gone.ckpt"), "step": 21},
    ]
    (tmp_path / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in lines))
    assert nearest_checkpoint(tmp_path, 22) == (tmp_path / "b.ckpt", 30)
    assert nearest_checkpoint(tmp_path, 19) == (tmp_path / "a.ckpt", 10)
    (tmp_path / HEADER_FILE).write_text('{"schema": "something.else"}')
    with pytest.raises(InputError, match="not a layer-health header"):
        HealthLog(tmp_path).refresh()


def test_auto_interval_is_the_default_and_keeps_sampling_sparse(tmp_path: Path) -> None:
    """At the default ``every: auto`` the interval grows from its start to what the measured cost
    allows (never below AUTO_MIN), so a long run is not sampled every few steps."""
    from layerscope.engine.training.health import AUTO, AUTO_MIN, AUTO_START

    assert HealthConfig().every == AUTO
    with pytest.raises(ConfigError, match="health.every"):
        from_dict({"health": {"every": "often"}})
    torch.manual_seed(0)
    model = HandWritten()
    health = LayerHealthCallback(tmp_path)
    _trainer(tmp_path, [health], epochs=3).fit(model, _loader())  # 60 steps
    log = HealthLog(tmp_path)
    log.refresh()
    steps = log.steps.tolist()
    assert steps[:2] == [0, AUTO_START]
    assert all(b - a >= AUTO_MIN for a, b in zip(steps, steps[1:], strict=False))
    assert len(steps) <= 1 + 60 // AUTO_MIN


def test_interval_doubles_past_max_records_so_long_runs_stay_bounded(tmp_path: Path) -> None:
    torch.manual_seed(0)
    health = LayerHealthCallback(tmp_path, every=1, max_records=10)
    _trainer(tmp_path, [health]).fit(HandWritten(), _loader())  # 20 steps
    log = HealthLog(tmp_path)
    log.refresh()
    # 10 samples every step, then every 2nd step for the next 5, then every 4th.
    assert log.steps.tolist() == [*range(10), 11, 13, 15, 17, 19]
    assert (tmp_path / DATA_FILE).stat().st_size == 15 * log.header["record_bytes"]


def test_a_failing_statistic_or_a_full_disk_never_breaks_training(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import layerscope.engine.training.callbacks.layer_health as lh

    real = lh.fs.stats

    def flaky(x, bins, ws):  # noqa: ANN001, ANN202
        if x.shape[-1] == 4:  # the head's output
            raise RuntimeError("boom")
        return real(x, bins, ws)

    monkeypatch.setattr(lh.fs, "stats", flaky)
    health = LayerHealthCallback(tmp_path / "a", every=EVERY)
    trainer = _trainer(tmp_path, [health])
    trainer.fit(HandWritten(), _loader(n=64))
    assert trainer.global_step == 4 and "layer head" in health.errors
    log = HealthLog(tmp_path / "a")
    log.refresh()
    assert log.layers == ["body.0", "body.1", "body.2", "body.3"]  # head never recorded
    monkeypatch.setattr(lh.fs, "stats", real)

    def full(self, record):  # noqa: ANN001, ANN202
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(lh.HealthWriter, "append", full)
    health = LayerHealthCallback(tmp_path / "b", every=EVERY)
    trainer = _trainer(tmp_path, [health])
    trainer.fit(HandWritten(), _loader(n=64))
    assert trainer.global_step == 4 and "No space left" in health.errors["the health file"]


def test_own_script_hook_includes_layer_health(tmp_path: Path) -> None:
    """``layerscope.engine.training.hook.callbacks`` (the one line for a user's own Trainer) samples health."""
    from layerscope.engine.training.hook import callbacks

    torch.manual_seed(0)
    model = HandWritten()
    _kill_after(model.body[2], lambda: model.global_step)
    run = tmp_path / "run"
    cbs = callbacks(run_dir=run, artifacts=False, checkpoints=False, health={"every": EVERY})
    assert any(isinstance(c, LayerHealthCallback) for c in cbs)
    _trainer(tmp_path, cbs).fit(model, _loader())
    alerts = HealthLog(run).alerts()
    first = next(a for a in alerts if a["rule"] == "collapse")
    assert first["layer"] == "body.2" and K <= first["step"] < K + EVERY
    assert not any(isinstance(c, LayerHealthCallback) for c in callbacks(run_dir=run, health=False))


@pytest.mark.slow
def test_ddp_recipe_rank_zero_writes_one_record_per_sample(tmp_path: Path) -> None:
    """Two CPU processes (gloo): one header, one record per sampled step, on one schedule."""
    from layerscope.engine.cli import main

    configs = Path(__file__).resolve().parents[2] / "configs"
    rc = main(
        [
            "train", str(configs / "resnet8_digits_ddp.yaml"), "--runs-dir", str(tmp_path),
            "--name", "ddp", "--set", "model.arch=smallcnn", "--set", "trainer.max_epochs=2",
            "--set", "data.max_samples=256", "--set", "trainer.limit_val_batches=2",
            "--set", "logging.artifacts=false", "--set", "export.onnx=false",
            "--set", "health.every=2",
        ]
    )  # fmt: skip
    assert rc == 0
    (run_dir,) = tmp_path.iterdir()
    log = HealthLog(run_dir)
    log.refresh()
    assert log.header["world_size"] == 2 and log.layers[0] == "features.0"
    assert log.steps.tolist() == [0, 2, 4, 6]  # 4 steps per epoch, 2 epochs; no duplicates
    assert np.all(np.isfinite(log.values("act_std")))
