"""Fixtures for the authoring tests: each family's HF model, saved once per session."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

# Use the source tree when litegen is not installed (pure-Python parts only).
if importlib.util.find_spec("litegen") is None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "python"))

try:
    import torch
    import transformers  # noqa: F401 (required by authoring_hf_models)
except ImportError:  # these tests need torch and transformers (the runtime does not)
    collect_ignore_glob = ["*.py"]
else:
    from authoring_hf_models import FAMILIES, FamilySpec


@dataclass
class SavedModel:
    name: str
    spec: FamilySpec
    hf: Any  # the transformers model (fp32, eval)
    path: Path


@pytest.fixture(autouse=True)
def _single_thread() -> Iterator[None]:
    """Tiny models: multi-threaded kernels are dominated by thread wake-ups (~100x slower
    on a busy 2-core machine), so run these tests single-threaded."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def saved_model(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], SavedModel]:
    """``saved_model(name)``: the family's HF model, saved (safetensors) once per session."""
    saved: dict[str, SavedModel] = {}

    def get(name: str) -> SavedModel:
        if name not in saved:
            spec = FAMILIES[name]
            hf = spec.build()
            path = tmp_path_factory.mktemp(name)
            hf.save_pretrained(path)
            saved[name] = SavedModel(name, spec, hf, path)
        return saved[name]

    return get
