"""Damaged model files of every format, through every verb: a clean one-line refusal or a result.

A fixed-seed plan (``hostile_fuzz.plan``) truncates, flips and zeroes bytes, breaks safetensors
headers and ONNX protos, and removes or damages zip members; each damaged file goes through
``inspect``, ``inspect --summary``, ``inspect --layer`` and, for runnable formats, ``capture``,
in-process. Every case must exit 0 or 2 with at most one line on stderr; nothing may escape
``main``. TorchScript is never given ``--trust``, so its capture must be refused.
"""

from __future__ import annotations

import traceback
from pathlib import Path

import pytest
from hostile_fuzz import Mutation, Seed, argv_for, build_seeds, materialize, plan, verbs_for

from layerscope.engine.cli import main

CASES = [pytest.param(m, verb, id=f"{m.id}-{verb}") for m in plan() for verb in verbs_for(m.fmt)]


@pytest.fixture(scope="module")
def seeds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Seed]:
    return build_seeds(tmp_path_factory.mktemp("fuzz-seeds"))


@pytest.fixture(scope="module")
def damaged(tmp_path_factory: pytest.TempPathFactory, seeds: dict[str, Seed]):
    """Each damaged file written once, on first use, and shared by its verbs."""
    folder = tmp_path_factory.mktemp("fuzz-mutants")
    made: dict[Mutation, Path] = {}

    def get(m: Mutation) -> Path:
        if m not in made:
            made[m] = materialize(m, seeds, folder)
        return made[m]

    return get


def test_every_seed_opens_cleanly(seeds: dict[str, Seed], tmp_path: Path, capsys) -> None:
    """The undamaged seeds work, so a refusal below is caused by the damage, not the seed."""
    for fmt, seed in seeds.items():
        for verb in verbs_for(fmt):
            rc = main(argv_for(verb, seed, seed.path, tmp_path))
            err = capsys.readouterr().err
            expected = 2 if (fmt, verb) == ("torchscript", "capture") else 0  # needs --trust
            assert rc == expected, f"{fmt} {verb}: exit {rc}: {err}"


@pytest.mark.timeout(60)  # a hang guard, not a speed assertion
@pytest.mark.parametrize(("mutation", "verb"), CASES)
def test_damaged_file_is_refused_in_one_line_or_read(
    mutation: Mutation, verb: str, seeds: dict[str, Seed], damaged, tmp_path: Path, capsys
) -> None:
    path = damaged(mutation)
    argv = argv_for(verb, seeds[mutation.fmt], path, tmp_path / "out")
    try:
        rc = main(argv)
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - the point is that nothing escapes
        frames = traceback.extract_tb(exc.__traceback__)
        ours = [f for f in frames if "/engine/" in f.filename] or frames
        where = ", ".join(f"{Path(f.filename).name}:{f.lineno}" for f in (ours[-1], frames[-1]))
        first = str(exc).splitlines()[0] if str(exc) else ""
        pytest.fail(f"{type(exc).__name__} escaped main: {first} (at {where})", pytrace=False)
    err = capsys.readouterr().err.strip()
    assert rc in (0, 2), f"exit {rc}; stderr: {err[:500]}"
    assert len(err.splitlines()) <= 1, f"stderr has {len(err.splitlines())} lines:\n{err[:2000]}"
    if mutation.fmt == "torchscript" and verb == "capture":
        assert rc == 2, "damaged TorchScript ran without --trust"
