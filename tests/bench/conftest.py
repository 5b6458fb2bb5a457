"""Fixtures for the benchmark-harness tests: one tiny int8 fast-form model (the shape
``benchmarks/bench.py --quick`` uses), converted once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

TINY_CONTEXT = 64


@pytest.fixture(autouse=True)
def _isolated_cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Default weight caches go under the test's tmp dir, never the user's cache."""
    monkeypatch.setenv("LITEGEN_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("torch")
    import torch
    from benchmarks.convert_benchmark import TINY, write_checkpoint

    import litegen

    root = tmp_path_factory.mktemp("bench_tiny")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        ckpt = write_checkpoint(TINY, root / "ckpt")
        path = litegen.convert(ckpt, root / "tiny.tflite", quant="int8", max_context=TINY_CONTEXT)
    finally:
        torch.set_num_threads(threads)
    return Path(path)
