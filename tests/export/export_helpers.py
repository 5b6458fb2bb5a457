"""Shared constants and helpers of the exporter tests."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

# Every export uses a cache this long: a prefill of PREFILL_LEN and DECODE_STEPS decode
# steps fit, and Gemma 2's sliding window (8) is crossed.
MAX_CONTEXT = 32
PREFILL_LEN = 7
DECODE_STEPS = 4
LOGIT_RTOL = 1e-4
# With float16 KV caches (the fast form's default) every cached key / value is rounded to
# 11 significant bits (relative error <= 2^-11 ~ 4.9e-4); through the test families' few
# layers the logits move by about that much (measured 5e-4 .. 1e-3 relative to max|logit|).
# 4e-3 leaves headroom for the random models while a misread cache (wrong rows, wrong
# conversion) gives errors of order 1.
LOGIT_RTOL_FP16_KV = 4e-3


def sample_args(model: Any, length: int) -> tuple[torch.Tensor, torch.Tensor, Any]:
    """(tokens, input_pos, kv_cache) sample inputs of ``length`` tokens."""
    cache = model.new_kv_cache(max_seq_len=MAX_CONTEXT)
    return (
        torch.zeros((1, length), dtype=torch.int32),
        torch.arange(length, dtype=torch.int32),
        cache,
    )


def rel_diff(ours: np.ndarray, ref: np.ndarray) -> float:
    """max|ours - ref| / max|ref|."""
    return float(np.abs(ours.astype(np.float64) - ref).max() / np.abs(ref).max())


def prompt(vocab_size: int, length: int = PREFILL_LEN) -> torch.Tensor:
    return torch.randint(3, vocab_size, (1, length), generator=torch.Generator().manual_seed(1))


def cache_feeds(
    cache: Any, *, transposed_v: bool, dtype: Any = np.float32
) -> dict[str, np.ndarray]:
    """The reference cache state as signature inputs (copies: the reference goes on), in
    ``dtype`` (float16 rounds to nearest even, as LITEGEN_KV_CACHE_UPDATE does)."""
    feeds = {}
    for i, (k, v) in enumerate(zip(cache.k, cache.v, strict=True)):
        feeds[f"kv_cache_k_{i}"] = k.numpy().astype(dtype)
        v_np = v.numpy().transpose(0, 1, 3, 2) if transposed_v else v.numpy()
        feeds[f"kv_cache_v_{i}"] = v_np.astype(dtype, order="C")
    return feeds


def kv_rtol(kv_dtype: str) -> float:
    """The logits tolerance of a fast-form model with ``kv_dtype`` caches."""
    return LOGIT_RTOL_FP16_KV if kv_dtype == "float16" else LOGIT_RTOL
