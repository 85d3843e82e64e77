"""Run config loading, validation and --set overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from layerscope.engine.errors import ConfigError
from layerscope.engine.training.config import (
    ConfigValueError,
    apply_overrides,
    from_dict,
    load_config,
    save_config,
)

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@pytest.mark.parametrize("name", ["resnet8_digits", "resnet8_cifar10", "resnet8_digits_ddp"])
def test_shipped_configs_load(name: str) -> None:
    cfg = load_config(CONFIGS / f"{name}.yaml")
    assert cfg.name == name
    assert cfg.model.arch == "resnet8"


def test_ddp_config_is_two_cpu_processes() -> None:
    cfg = load_config(CONFIGS / "resnet8_digits_ddp.yaml")
    assert (cfg.trainer.strategy, cfg.trainer.devices, cfg.trainer.accelerator) == ("ddp", 2, "cpu")


def test_unknown_key_names_it_and_lists_allowed() -> None:
    with pytest.raises(ConfigError) as err:
        from_dict({"optimizer": {"lrr": 0.1}})
    msg = str(err.value)
    assert "'optimizer.lrr'" in msg and "lr" in msg and "momentum" in msg


def test_unknown_section_is_rejected() -> None:
    with pytest.raises(ConfigError, match="unknown key 'optimiser'"):
        from_dict({"optimiser": {"name": "sgd"}})


def test_bad_choice_is_a_value_error_listing_choices() -> None:
    with pytest.raises(ValueError) as err:
        from_dict({"optimizer": {"name": "rmsprop"}})
    assert isinstance(err.value, ConfigError)
    assert "optimizer.name" in str(err.value) and "adam, adamw, sgd" in str(err.value)
    with pytest.raises(ConfigValueError, match="none, warmup_cosine"):
        from_dict({"scheduler": {"name": "step"}})
    with pytest.raises(ConfigValueError, match="digits, cifar10, folder"):
        from_dict({"data": {"kind": "mnist"}})


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"data": {"batch_size": "lots"}}, "data.batch_size must be an integer"),
        ({"data": {"weighted_sampler": "maybe"}}, "data.weighted_sampler must be true or false"),
        ({"optimizer": {"lr": "fast"}}, "optimizer.lr must be a number"),
        ({"optimizer": {"betas": [0.9]}}, "optimizer.betas must be a list of 2"),
        ({"data": {"batch_size": 0}}, "data.batch_size must be greater than 0"),
        ({"data": {"val_split": 1.5}}, "data.val_split must be between 0 and 1"),
        ({"data": {"kind": "folder"}}, "data.path is required"),
        ({"model": {"num_classes": 1}}, "model.num_classes must be at least 2"),
        ({"trainer": 3}, "trainer must be a mapping"),
    ],
)
def test_bad_values_name_the_key(data: dict, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment.replace(".", r"\.")):
        from_dict(data)


def test_yaml_scientific_notation_is_a_float(tmp_path: Path) -> None:
    # YAML 1.1 (PyYAML) reads 1e-3 as a string; the loader must still give a float.
    p = tmp_path / "c.yaml"
    p.write_text("optimizer:\n  lr: 1e-3\n")
    assert load_config(p).optimizer.lr == pytest.approx(1e-3)


def test_overrides_coerce_types(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text("name: x\ntrainer:\n  devices: 1\n")
    cfg = load_config(
        p,
        [
            "optimizer.name=sgd",
            "optimizer.momentum=0.95",
            "optimizer.nesterov=true",
            "optimizer.lr=5e-2",
            "optimizer.betas=[0.8, 0.9]",
            "trainer.devices=auto",
            "trainer.max_epochs=7",
            "data.max_samples=null",
            "trainer.gradient_clip_val=0.5",
        ],
    )
    assert cfg.optimizer.name == "sgd" and cfg.optimizer.nesterov is True
    assert cfg.optimizer.momentum == 0.95 and cfg.optimizer.lr == 0.05
    assert cfg.optimizer.betas == (0.8, 0.9)
    assert cfg.trainer.devices == "auto" and cfg.trainer.max_epochs == 7
    assert cfg.data.max_samples is None and cfg.trainer.gradient_clip_val == 0.5
    assert load_config(p, ["trainer.devices=2"]).trainer.devices == 2


def test_override_errors_name_the_key(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text("name: x\n")
    with pytest.raises(ConfigError, match="section.key=value"):
        load_config(p, ["optimizer.lr"])
    with pytest.raises(ConfigError, match="unknown key 'optimizer.foo'"):
        load_config(p, ["optimizer.foo=1"])
    with pytest.raises(ConfigError, match="'name' is not a section"):
        apply_overrides({"name": "x"}, ["name.sub=1"])
    with pytest.raises(ConfigError, match="trainer.max_epochs must be an integer"):
        load_config(p, ["trainer.max_epochs=ten"])


def test_file_errors_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [unclosed\n")
    with pytest.raises(ConfigError, match=r"not valid YAML \(line"):
        load_config(bad)
    listy = tmp_path / "list.yaml"
    listy.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        load_config(listy)


def test_error_names_the_file(tmp_path: Path) -> None:
    p = tmp_path / "recipe.yaml"
    p.write_text("optimizer:\n  name: lion\n")
    with pytest.raises(ConfigValueError, match="recipe.yaml: optimizer.name is 'lion'"):
        load_config(p)


def test_save_and_reload_round_trip(tmp_path: Path) -> None:
    cfg = load_config(CONFIGS / "resnet8_digits.yaml", ["optimizer.name=adamw"])
    save_config(cfg, tmp_path / "config.yaml")
    again = load_config(tmp_path / "config.yaml")
    assert again == cfg


def test_cpu_devices_beyond_the_cores_are_refused(tmp_path) -> None:
    """A typo like devices: 301 on CPU would fork hundreds of trainer processes."""
    import pytest

    from layerscope.engine.errors import ConfigError
    from layerscope.engine.training.config import load_config

    p = tmp_path / "c.yaml"
    p.write_text("name: x\ntrainer:\n  accelerator: cpu\n  devices: 301\n")
    with pytest.raises(ConfigError, match="trainer.devices is 301"):
        load_config(p)
    p.write_text("name: x\ntrainer:\n  accelerator: cpu\n  devices: 0\n")
    with pytest.raises(ConfigError, match="trainer.devices must be"):
        load_config(p)
