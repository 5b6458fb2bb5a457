"""Greedy decoding agreement between a litegen model and a reference."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from litegen.authoring.kv_cache import KVCache
from litegen.errors import VerificationError
from litegen.verify.logits import as_logits_fn


def greedy_generate(
    model: nn.Module, prompt: torch.Tensor | Sequence[int], num_tokens: int
) -> list[int]:
    """``num_tokens`` greedy tokens from a litegen model: one prefill, then cached decode."""
    tokens = as_batch(prompt)
    t = tokens.shape[1]
    dtype = next(model.parameters()).dtype
    cache = KVCache.create(model.config, max_seq_len=t + num_tokens, dtype=dtype)
    out: list[int] = []
    with torch.no_grad():
        logits = model(tokens, torch.arange(t), cache)
        for step in range(num_tokens):
            nxt = int(logits[0, -1].argmax())
            out.append(nxt)
            if step + 1 < num_tokens:
                logits = model(torch.tensor([[nxt]]), torch.tensor([t + step]), cache)
    return out


def reference_greedy(
    reference: nn.Module | Callable[..., object],
    prompt: torch.Tensor | Sequence[int],
    num_tokens: int,
) -> list[int]:
    """Greedy tokens from any tokens->logits callable (a full forward per step)."""
    fn = as_logits_fn(reference)
    tokens = as_batch(prompt)
    out: list[int] = []
    for _ in range(num_tokens):
        nxt = int(fn(tokens)[0, -1].argmax())
        out.append(nxt)
        tokens = torch.cat([tokens, torch.tensor([[nxt]])], dim=1)
    return out


@dataclass(frozen=True)
class GreedyComparison:
    ours: list[int]
    reference: list[int]

    @property
    def matching(self) -> int:
        """Length of the common prefix."""
        n = 0
        for a, b in zip(self.ours, self.reference, strict=False):
            if a != b:
                break
            n += 1
        return n

    @property
    def agree(self) -> bool:
        return self.ours == self.reference


def compare_greedy(
    model: nn.Module,
    reference: nn.Module | Callable[..., object],
    prompt: torch.Tensor | Sequence[int],
    num_tokens: int = 32,
) -> GreedyComparison:
    """Greedy tokens of ``model`` (cached) vs ``reference`` over ``num_tokens`` steps."""
    return GreedyComparison(
        greedy_generate(model, prompt, num_tokens), reference_greedy(reference, prompt, num_tokens)
    )


def as_batch(prompt: torch.Tensor | Sequence[int]) -> torch.Tensor:
    tokens = prompt if torch.is_tensor(prompt) else torch.tensor(list(prompt))
    if tokens.dim() == 1:
        tokens = tokens[None]
    if tokens.dim() != 2 or tokens.shape[0] != 1:
        raise VerificationError(f"prompt must be [T] or [1, T], got {tuple(tokens.shape)}")
    return tokens.long()
