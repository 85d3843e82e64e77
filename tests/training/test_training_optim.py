"""Optimizer/scheduler factory and the module's configure_optimizers."""

from __future__ import annotations

import pytest
import torch

from layerscope.engine.training.config import OptimizerConfig, SchedulerConfig
from layerscope.engine.training.module import ClassifierModule
from layerscope.engine.training.optim import build_optimizer, build_scheduler, warmup_cosine
from layerscope.engine.zoo import SmallCNN


def _params() -> list[torch.nn.Parameter]:
    return list(torch.nn.Linear(3, 2).parameters())


def test_adam() -> None:
    opt = build_optimizer(
        _params(), OptimizerConfig(name="adam", lr=0.01, betas=(0.8, 0.9), weight_decay=0.1)
    )
    assert type(opt) is torch.optim.Adam
    g = opt.param_groups[0]
    assert (g["lr"], g["betas"], g["weight_decay"]) == (0.01, (0.8, 0.9), 0.1)


def test_adamw() -> None:
    opt = build_optimizer(_params(), OptimizerConfig(name="adamw", lr=0.02, weight_decay=0.05))
    assert type(opt) is torch.optim.AdamW
    assert opt.param_groups[0]["weight_decay"] == 0.05


def test_sgd() -> None:
    opt = build_optimizer(
        _params(), OptimizerConfig(name="sgd", lr=0.1, momentum=0.8, nesterov=True)
    )
    assert type(opt) is torch.optim.SGD
    g = opt.param_groups[0]
    assert (g["lr"], g["momentum"], g["nesterov"]) == (0.1, 0.8, True)


def test_unknown_optimizer_is_value_error_listing_valid_names() -> None:
    with pytest.raises(ValueError, match="unknown optimizer 'lion'; valid: adam, adamw, sgd"):
        build_optimizer(_params(), OptimizerConfig(name="lion"))


def test_no_scheduler() -> None:
    opt = build_optimizer(_params(), OptimizerConfig())
    assert (
        build_scheduler(opt, SchedulerConfig(name="none"), steps_per_epoch=10, max_epochs=3) is None
    )


def test_unknown_scheduler_is_value_error_listing_valid_names() -> None:
    opt = build_optimizer(_params(), OptimizerConfig())
    with pytest.raises(ValueError, match="unknown scheduler 'step'; valid: none, warmup_cosine"):
        build_scheduler(opt, SchedulerConfig(name="step"), steps_per_epoch=10, max_epochs=3)


def test_warmup_cosine_is_attached_to_the_built_optimizer_and_shapes_lr() -> None:
    opt = build_optimizer(_params(), OptimizerConfig(name="sgd", lr=1.0))
    cfg = SchedulerConfig(name="warmup_cosine", warmup_epochs=1, min_lr_ratio=0.1)
    sched = build_scheduler(opt, cfg, steps_per_epoch=4, max_epochs=3)
    assert sched is not None and sched.optimizer is opt
    lrs = []
    for _ in range(12):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[:4] == pytest.approx([0.25, 0.5, 0.75, 1.0])  # linear warm-up over one epoch
    assert all(a >= b for a, b in zip(lrs[3:], lrs[4:], strict=False))  # then decays
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1)  # to min_lr_ratio at the end


def test_warmup_cosine_endpoints() -> None:
    assert warmup_cosine(0, 0, 100, 0.0) == pytest.approx(1.0)
    assert warmup_cosine(50, 0, 100, 0.0) == pytest.approx(0.5)
    assert warmup_cosine(100, 0, 100, 0.2) == pytest.approx(0.2)


@pytest.mark.parametrize("name", ["adam", "adamw", "sgd"])
def test_module_builds_configured_optimizer(name: str) -> None:
    module = ClassifierModule(SmallCNN(), optimizer=OptimizerConfig(name=name, lr=0.05))
    opt = module.configure_optimizers()
    assert type(opt).__name__.lower() == name
    assert opt.param_groups[0]["lr"] == 0.05


def test_module_defaults_still_work() -> None:
    # The demo-model builder relies on ClassifierModule(model, num_classes=10[, lr=...]).
    module = ClassifierModule(SmallCNN(), num_classes=10, lr=0.004)
    opt = module.configure_optimizers()
    assert type(opt) is torch.optim.Adam and opt.param_groups[0]["lr"] == 0.004


def test_module_attaches_scheduler_to_the_optimizer_it_built() -> None:
    for name in ("adam", "adamw", "sgd"):
        module = ClassifierModule(
            SmallCNN(),
            optimizer=OptimizerConfig(name=name, lr=0.1),
            scheduler=SchedulerConfig(name="warmup_cosine", warmup_epochs=1),
        )
        conf = module.configure_optimizers()
        opt, sched = conf["optimizer"], conf["lr_scheduler"]
        assert type(opt).__name__.lower() == name
        assert sched["scheduler"].optimizer is opt and sched["interval"] == "step"
