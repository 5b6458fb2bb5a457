from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures.cpp_models import write_custom_op_model, write_two_signature_fc


@pytest.fixture(autouse=True)
def _isolated_cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Default weight caches go under the test's tmp dir, never the user's cache."""
    monkeypatch.setenv("LITEGEN_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def fc_model(tmp_path: Path) -> Path:
    path = tmp_path / "fc.tflite"
    write_two_signature_fc(path)
    return path


@pytest.fixture
def custom_op_model(tmp_path: Path) -> Path:
    path = tmp_path / "custom.tflite"
    write_custom_op_model(path, "LITEGEN_NOT_REGISTERED")
    return path
