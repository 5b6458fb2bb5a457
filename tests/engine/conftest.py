"""Fixtures for the generation-engine tests: each family's small HF checkpoint (from
tests/authoring), converted once per session to a fast-form .tflite, and its HF model
as the greedy reference."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "authoring"))

try:
    import torch
    import transformers  # noqa: F401 (required by authoring_hf_models)
except ImportError:  # converting needs torch; the engine itself does not
    collect_ignore_glob = ["test_*.py"]
else:
    from authoring_hf_models import FAMILIES

MAX_CONTEXT = 64
NEW_TOKENS = 32


@dataclass
class Converted:
    name: str
    checkpoint: Path
    path: Path  # fast-form .tflite with a MAX_CONTEXT cache
    hf: Any  # the HF reference model (eval, eos disabled)
    vocab_size: int

    def hf_greedy(self, prompt: list[int], new_tokens: int = NEW_TOKENS) -> list[int]:
        ids = torch.tensor([prompt])
        with torch.no_grad():
            out = self.hf.generate(
                ids,
                attention_mask=torch.ones_like(ids),
                do_sample=False,
                max_new_tokens=new_tokens,
                min_new_tokens=new_tokens,
                pad_token_id=0,
            )
        return out[0, len(prompt) :].tolist()


@pytest.fixture(autouse=True)
def _single_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def _isolated_cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Weight caches go under the test's tmp dir, never the user's cache."""
    monkeypatch.setenv("LITEGEN_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture(scope="session")
def converted(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Converted]:
    """``converted(name)``: the family's checkpoint converted (fast form, fp32) once."""
    import litegen

    done: dict[str, Converted] = {}

    def get(name: str) -> Converted:
        if name not in done:
            torch.set_num_threads(1)
            spec = FAMILIES[name]
            root = tmp_path_factory.mktemp(f"engine_{name}")
            hf = spec.build()
            hf.save_pretrained(root / "ckpt")
            path = litegen.convert(
                root / "ckpt", root / "model.tflite", form="fast", max_context=MAX_CONTEXT
            )
            done[name] = Converted(name, root / "ckpt", path, hf, hf.config.vocab_size)
        return done[name]

    return get


def prompt_ids(vocab_size: int, length: int = 8, seed: int = 1) -> list[int]:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(3, vocab_size, (length,), generator=generator).tolist()
