"""Logit comparison with a reference (HF model or any tokens -> logits callable).

Relative differences are ``max|ours - ref| / max|ref|`` over the compared tensor, so one
number describes a whole logits or hidden-state tensor regardless of its scale.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from litegen.errors import VerificationError

LogitsFn = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class TensorDiff:
    """``max_abs = max|a - b|``; ``max_rel = max_abs / max|b|`` (b is the reference)."""

    max_abs: float
    max_rel: float

    def within(self, rtol: float) -> bool:
        return self.max_rel <= rtol


def tensor_diff(ours: torch.Tensor, ref: torch.Tensor, what: str = "tensor") -> TensorDiff:
    if ours.shape != ref.shape:
        raise VerificationError(
            f"{what}: shapes differ, ours {tuple(ours.shape)} vs reference {tuple(ref.shape)}"
        )
    a, b = ours.detach().double(), ref.detach().double()
    max_abs = float((a - b).abs().max()) if a.numel() else 0.0
    scale = float(b.abs().max()) if b.numel() else 0.0
    return TensorDiff(max_abs, max_abs / scale if scale > 0 else max_abs)


def as_logits_fn(reference: nn.Module | Callable[..., object]) -> LogitsFn:
    """Wrap a reference (HF model: ``.logits`` output; tuple: first item) as tokens->logits."""

    def run(tokens: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            out = reference(tokens)
        if hasattr(out, "logits"):
            out = out.logits
        elif isinstance(out, (tuple, list)):
            out = out[0]
        if not torch.is_tensor(out):
            raise VerificationError(f"the reference returned {type(out).__name__}, not logits")
        return out

    return run


def _ours(model: nn.Module) -> LogitsFn:
    def run(tokens: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return model(tokens)

    return run


def compare_logits(
    model: nn.Module, reference: nn.Module | Callable[..., object], tokens: torch.Tensor
) -> TensorDiff:
    """Full-forward logits of ``model`` vs ``reference`` on ``tokens`` [B, T]."""
    return tensor_diff(_ours(model)(tokens), as_logits_fn(reference)(tokens), "logits")
