"""``verify``: logits, greedy agreement and per-layer divergence in one report."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from litegen.verify.greedy import GreedyComparison, as_batch, compare_greedy
from litegen.verify.layers import DivergenceReport, layer_divergence
from litegen.verify.logits import TensorDiff, compare_logits


@dataclass(frozen=True)
class VerificationReport:
    logits: TensorDiff
    greedy: GreedyComparison
    layers: DivergenceReport | None
    rtol: float

    @property
    def passed(self) -> bool:
        return self.logits.within(self.rtol) and self.greedy.agree

    def __str__(self) -> str:
        g = self.greedy
        lines = [
            f"logits: max_abs={self.logits.max_abs:.3e} max_rel={self.logits.max_rel:.3e} "
            f"(rtol {self.rtol:g}) {'OK' if self.logits.within(self.rtol) else 'FAIL'}",
            f"greedy: {g.matching}/{len(g.reference)} tokens agree {'OK' if g.agree else 'FAIL'}",
        ]
        if self.layers is not None:
            lines.append(str(self.layers))
        return "\n".join(lines)


def verify(
    model: nn.Module,
    reference: nn.Module | Callable[..., object],
    tokens: torch.Tensor | Sequence[int],
    num_greedy_tokens: int = 32,
    rtol: float = 1e-4,
    reference_layers: Callable[[torch.Tensor], Sequence[torch.Tensor]] | None = None,
) -> VerificationReport:
    """Logit difference, greedy agreement and (when possible) per-layer divergence.

    Per-layer outputs come from ``reference_layers`` if given, else from hooks on the
    reference's decoder layers when it is an ``nn.Module``.
    """
    batch = as_batch(tokens)
    layers = None
    if reference_layers is not None or isinstance(reference, nn.Module):
        layers = layer_divergence(model, reference_layers or reference, batch, rtol)  # type: ignore[arg-type]
    return VerificationReport(
        logits=compare_logits(model, reference, batch),
        greedy=compare_greedy(model, reference, batch, num_greedy_tokens),
        layers=layers,
        rtol=rtol,
    )
