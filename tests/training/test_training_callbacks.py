"""Each callback on a plain Trainer: its artifact exists, is a valid PNG/JSON, and holds the right numbers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from training_helpers import assert_png, read_json

from layerscope.engine.training.callbacks import (
    ConfusionMatrixCallback,
    DatasetStatisticsCallback,
    EventsCallback,
    ModelInfoCallback,
    OnnxExportCallback,
    SamplerDistributionCallback,
    SampleVisualizationCallback,
    TrainingHistoryCallback,
)
from layerscope.engine.training.config import DataConfig
from layerscope.engine.training.data import ImageDataModule
from layerscope.engine.training.module import ClassifierModule
from layerscope.engine.zoo import SmallCNN


def _fit(out: Path, callbacks: list[pl.Callback], data: DataConfig, epochs: int = 2, **kw) -> tuple:
    torch.manual_seed(0)
    dm = ImageDataModule(data)
    module = ClassifierModule(SmallCNN(), num_classes=10, grad_norm_every=2)
    options = {"enable_checkpointing": False, **kw}
    trainer = pl.Trainer(
        max_epochs=epochs,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=callbacks,
        default_root_dir=out,
        **options,
    )
    trainer.fit(module, datamodule=dm)
    return trainer, module, dm


@pytest.fixture(scope="module")
def fitted(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, ImageDataModule, ClassifierModule]:
    out = tmp_path_factory.mktemp("callbacks")
    callbacks = [
        ModelInfoCallback(out),
        DatasetStatisticsCallback(out),
        ConfusionMatrixCallback(out),
        SampleVisualizationCallback(out, num_samples=6),
        SamplerDistributionCallback(out),
        TrainingHistoryCallback(out),
        OnnxExportCallback(out),
    ]
    # Full validation set (359 images) so the confusion matrix total can be checked exactly.
    _, module, dm = _fit(
        out, callbacks, DataConfig(batch_size=64, max_samples=256, weighted_sampler=True)
    )
    return out, dm, module


def test_confusion_matrix_per_epoch_totals_equal_val_set(fitted) -> None:
    out, dm, _ = fitted
    # The counts every epoch; the picture is certain for the last epoch only (an earlier one
    # may be replaced while it waits for a core: docs/run-format.md).
    assert_png(out / "epoch_001" / "confusion_matrix.png")
    for epoch in (0, 1):
        data = read_json(out / f"epoch_{epoch:03d}" / "confusion_matrix.json")
        matrix = np.array(data["matrix"])
        assert matrix.shape == (10, 10)
        assert matrix.sum() == len(dm.val_set) == 359
        # Rows are true labels: each row sums to that class's count in the validation set.
        assert (
            matrix.sum(1).tolist() == np.bincount(dm.val_set.targets.numpy(), minlength=10).tolist()
        )
        assert data["classes"] == dm.class_names


def test_dataset_statistics(fitted) -> None:
    out, dm, _ = fitted
    stats = read_json(out / "dataset_statistics.json")
    assert stats["total"] == 256
    assert [c["count"] for c in stats["classes"]] == dm.class_counts()
    assert sum(c["percent"] for c in stats["classes"]) == pytest.approx(100, abs=0.1)
    assert stats["classes"][3]["name"] == "3"


def test_model_info_and_labels(fitted) -> None:
    out, _, module = fitted
    info = read_json(out / "model_info.json")
    n = sum(p.numel() for p in module.model.parameters())
    assert info["parameters"] == info["trainable_parameters"] == n
    assert info["architecture"] == "SmallCNN"
    assert info["size_mb"] == pytest.approx(n * 4 / 2**20, rel=0.01)
    assert read_json(out / "labels_mapping.json") == {str(i): str(i) for i in range(10)}


def test_training_history(fitted) -> None:
    out, _, _ = fitted
    history = read_json(out / "history.json")
    assert [h["epoch"] for h in history] == [0, 1]
    for h in history:
        assert {"train_loss_epoch", "val_loss", "val_acc", "val_acc_top5", "lr"} <= h.keys()
        assert 0 <= h["val_acc"] <= h["val_acc_top5"] <= 1
    assert_png(out / "loss.png")
    assert_png(out / "accuracy.png")


def test_sampler_distribution(fitted) -> None:
    out, dm, _ = fitted
    epochs = read_json(out / "sampler_distribution.json")
    assert [e["epoch"] for e in epochs] == [0, 1]
    for e in epochs:
        assert sum(c["drawn"] for c in e["classes"]) == 256
        assert sum(c["expected"] for c in e["classes"]) == pytest.approx(256, abs=0.1)
        # Balanced weights: every class is expected equally often.
        assert {round(c["expected"], 1) for c in e["classes"]} == {25.6}


def test_sample_grid(fitted) -> None:
    out, _, _ = fitted
    # The last epoch's grid always exists; an earlier one only when the drawing kept up (a
    # figure still queued is replaced by the next epoch's: docs/run-format.md).
    assert_png(out / "epoch_001" / "samples.png")
    if (out / "epoch_000" / "samples.png").exists():
        assert_png(out / "epoch_000" / "samples.png")


def test_onnx_export_matches_torch(fitted) -> None:
    import onnxruntime as ort

    out, dm, module = fitted
    record = read_json(out / "onnx_export.json")
    assert record["verified"] is True and record["max_abs_diff"] <= 1e-4
    session = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    x = torch.stack([dm.val_set[i][0] for i in range(5)])  # batch of 5: the batch axis is dynamic
    got = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    module.model.eval()
    with torch.no_grad():
        want = module.model(x).numpy()
    np.testing.assert_allclose(got, want, atol=1e-4)


def test_sampler_distribution_skipped_without_weighted_sampler(tmp_path: Path) -> None:
    from loguru import logger

    lines: list[str] = []
    sink = logger.add(lines.append, format="{message}")
    try:
        _fit(
            tmp_path,
            [SamplerDistributionCallback(tmp_path)],
            DataConfig(max_samples=64),
            epochs=1,
            limit_val_batches=1,
        )
    finally:
        logger.remove(sink)
    assert not (tmp_path / "sampler_distribution.json").exists()
    assert sum("sampler distribution skipped" in m for m in lines) == 1


def test_events_stream_order_and_content(tmp_path: Path) -> None:
    from layerscope.engine.training.events import read_events

    events_cb = EventsCallback(tmp_path, every_n_steps=2)
    ckpt = pl.callbacks.ModelCheckpoint(
        dirpath=tmp_path, save_last=True, monitor="val_acc", mode="max"
    )
    data = DataConfig(batch_size=32, max_samples=128)  # 4 steps per epoch
    _fit(
        tmp_path, [events_cb, ckpt], data, epochs=2, limit_val_batches=2, enable_checkpointing=True
    )
    events = read_events(tmp_path)
    kinds = [e["event"] for e in events]
    assert kinds[0] == "started" and kinds[-1] == "finished"
    assert kinds.count("epoch") == 2 and kinds.count("started") == 1
    progress = [e for e in events if e["event"] == "progress"]
    assert [e["step"] for e in progress] == [2, 4, 6, 8]
    for e in progress:
        assert (
            e["total_steps"] == 8 and e["loss"] > 0 and e["lr"] == 1e-3 and e["samples_per_sec"] > 0
        )
        assert e["epoch"] == (e["step"] - 1) // 4
        assert e["elapsed_s"] >= 0 and e["eta_s"] >= 0
    assert progress[-1]["eta_s"] == 0  # the last step: nothing left
    epochs = [e for e in events if e["event"] == "epoch"]
    assert [e["epoch"] for e in epochs] == [0, 1]
    assert {"val_loss", "val_acc", "val_acc_top5", "train_loss_epoch"} <= epochs[0][
        "metrics"
    ].keys()
    # Each epoch's checkpoint is reported after that epoch's metrics, before the next epoch's.
    first_ckpt = kinds.index("checkpoint")
    assert kinds.index("epoch") < first_ckpt < len(kinds) - 1 - kinds[::-1].index("epoch")
    assert any(e["event"] == "checkpoint" and e["path"].endswith("last.ckpt") for e in events)
    assert all(Path(e["path"]).is_file() for e in events if e["event"] == "checkpoint")
    times = [e["time"] for e in events]
    assert times == sorted(times)


class _Boom(ClassifierModule):
    def training_step(self, batch, batch_idx):  # noqa: ANN001, ANN201
        if self.global_step == 3:
            raise RuntimeError("exploded at step 3")
        return super().training_step(batch, batch_idx)


def test_events_failed_with_error(tmp_path: Path) -> None:
    from layerscope.engine.training.events import read_events

    dm = ImageDataModule(DataConfig(batch_size=16, max_samples=128))
    trainer = pl.Trainer(
        max_epochs=1, logger=False, enable_progress_bar=False, enable_checkpointing=False,
        callbacks=[EventsCallback(tmp_path, every_n_steps=1)], limit_val_batches=1,
    )  # fmt: skip
    with pytest.raises(RuntimeError, match="exploded"):
        trainer.fit(_Boom(SmallCNN()), datamodule=dm)
    events = read_events(tmp_path)
    assert [e["event"] for e in events] == ["started", "progress", "progress", "progress", "failed"]
    assert events[-1]["error"] == "RuntimeError: exploded at step 3"
    assert "training_step" in events[-1]["traceback"]


def test_grad_norm_is_logged(fitted) -> None:
    out, _, _ = fitted
    assert any("grad_norm" in h for h in read_json(out / "history.json"))


def test_every_epoch_figures_keeps_each_epoch_s_pictures(tmp_path: Path) -> None:
    """With ``every_epoch``, no epoch's picture is replaced while it waits: after fit, every
    epoch folder has its confusion matrix and sample grid, whatever the cores were doing."""
    callbacks = [
        ConfusionMatrixCallback(tmp_path, every_epoch=True),
        SampleVisualizationCallback(tmp_path, num_samples=4, every_epoch=True),
    ]
    _fit(tmp_path, callbacks, DataConfig(batch_size=64, max_samples=128), epochs=3)
    for epoch in range(3):
        assert_png(tmp_path / f"epoch_{epoch:03d}" / "confusion_matrix.png")
        assert_png(tmp_path / f"epoch_{epoch:03d}" / "samples.png")
