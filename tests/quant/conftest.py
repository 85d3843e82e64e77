"""Quantized models made once per session with the real quantizers (ONNX Runtime, torch.ao)."""

from __future__ import annotations

import warnings

import pytest
from quant_factory import Models, ResNet8Files, build_all, build_resnet8


@pytest.fixture(scope="session")
def models(tmp_path_factory: pytest.TempPathFactory) -> Models:
    with warnings.catch_warnings():  # quantizers warn about pre-processing and deprecations
        warnings.simplefilter("ignore")
        return build_all(tmp_path_factory.mktemp("quant_models"))


@pytest.fixture(scope="session")
def resnet8_files(tmp_path_factory: pytest.TempPathFactory) -> ResNet8Files:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return build_resnet8(tmp_path_factory.mktemp("resnet8"))
