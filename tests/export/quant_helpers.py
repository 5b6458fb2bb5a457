"""Quantized exports vs the float32 PyTorch model: logits cosine and top-1 agreement over
random prompts (a prefill, then decode steps on the reference's greedy tokens)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from export_helpers import MAX_CONTEXT, cache_feeds

NUM_PROMPTS = 8
PROMPT_LEN = 7
DECODE_STEPS = 4
# Small random models with HF's usual init (initializer_range 0.02): with the authoring
# tests' 0.2 the random networks are chaotic (tiny weight changes flip the argmax).
INIT_RANGE = 0.02

# (signature, tokens [1, T], positions [T], reference caches before the step) -> logits
StepFn = Callable[[str, np.ndarray, np.ndarray, Any], np.ndarray]


@dataclass(frozen=True)
class Agreement:
    min_cosine: float
    mean_cosine: float
    top1: float  # fraction of positions whose argmax equals the reference's
    positions: int

    def __str__(self) -> str:
        return (
            f"cosine min {self.min_cosine:.5f} mean {self.mean_cosine:.5f}, "
            f"top-1 {self.top1:.1%} of {self.positions}"
        )


def compare(model: Any, step: StepFn, seed: int = 0, num_prompts: int = NUM_PROMPTS) -> Agreement:
    """Run ``step`` and the PyTorch ``model`` over the same inputs; every position of the
    prefill and of each decode step counts."""
    gen = torch.Generator().manual_seed(seed)
    vocab = model.config.vocab_size
    cosines: list[float] = []
    agree = 0
    for _ in range(num_prompts):
        tokens = torch.randint(3, vocab, (1, PROMPT_LEN), generator=gen)
        cache = model.new_kv_cache(max_seq_len=MAX_CONTEXT)
        pos = torch.arange(PROMPT_LEN)
        for _ in range(DECODE_STEPS + 1):
            sig = "prefill" if tokens.shape[1] > 1 else "decode"
            ours = step(sig, tokens.numpy().astype(np.int32), pos.numpy().astype(np.int32), cache)
            with torch.no_grad():
                ref = model(tokens, pos, cache).numpy()  # updates ``cache`` after ``step``
            for a, b in zip(ours.reshape(-1, vocab), ref.reshape(-1, vocab), strict=True):
                a64, b64 = a.astype(np.float64), b.astype(np.float64)
                cosines.append(float(a64 @ b64 / (np.linalg.norm(a64) * np.linalg.norm(b64))))
                agree += int(a.argmax() == b.argmax())
            tokens = torch.tensor([[int(ref[0, -1].argmax())]])
            pos = pos[-1:] + 1
    return Agreement(min(cosines), float(np.mean(cosines)), agree / len(cosines), len(cosines))


def runtime_step(runtime: Any) -> StepFn:
    """litegen.runtime (fast form): Model.run copies its inputs, so each step gets the
    reference's cache state (in the model's KV-cache dtype, float16 by default)."""
    (k0,) = (s for s in runtime.signatures["decode"].inputs if s.name == "kv_cache_k_0")

    def step(sig: str, tokens: np.ndarray, pos: np.ndarray, cache: Any) -> np.ndarray:
        feeds = cache_feeds(cache, transposed_v=False, dtype=k0.dtype)
        out = runtime.run(sig, tokens=tokens, input_pos=pos, **feeds)
        return np.asarray(out["logits"])

    return step


def interpreter_step(interp: Any) -> StepFn:
    """The stock ai_edge_litert interpreter (portable form; V caches transposed)."""
    runners = {s: interp.get_signature_runner(s) for s in ("prefill", "decode")}

    def step(sig: str, tokens: np.ndarray, pos: np.ndarray, cache: Any) -> np.ndarray:
        out = runners[sig](tokens=tokens, input_pos=pos, **cache_feeds(cache, transposed_v=True))
        return np.asarray(out["logits"])

    return step
