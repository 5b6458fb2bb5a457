"""Per-layer divergence: the hidden state after each block against the reference's."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from litegen.errors import VerificationError
from litegen.verify.logits import TensorDiff, tensor_diff


@dataclass(frozen=True)
class LayerDiff:
    index: int
    diff: TensorDiff


@dataclass(frozen=True)
class DivergenceReport:
    """Per-layer output differences; ``first_divergent`` is the first beyond ``rtol``."""

    layers: list[LayerDiff]
    rtol: float
    first_divergent: int | None = field(default=None)

    def __str__(self) -> str:
        rows = [f"{'layer':>5}  {'max_abs':>11}  {'max_rel':>11}"]
        for d in self.layers:
            flag = "  <-- first divergence" if d.index == self.first_divergent else ""
            rows.append(f"{d.index:>5}  {d.diff.max_abs:11.3e}  {d.diff.max_rel:11.3e}{flag}")
        if self.first_divergent is None:
            rows.append(f"all {len(self.layers)} layers within rtol={self.rtol:g}")
        return "\n".join(rows)


def collect_layer_outputs(
    model: nn.Module, layers: Sequence[nn.Module], tokens: torch.Tensor
) -> list[torch.Tensor]:
    """Run ``model(tokens)`` and return the output of each module in ``layers``."""
    outputs: list[torch.Tensor | None] = [None] * len(layers)

    def hook(i: int) -> Callable[..., None]:
        def save(_m: nn.Module, _inp: object, out: object) -> None:
            outputs[i] = (out[0] if isinstance(out, (tuple, list)) else out).detach()

        return save

    handles = [layer.register_forward_hook(hook(i)) for i, layer in enumerate(layers)]
    try:
        with torch.no_grad():
            model(tokens)
    finally:
        for h in handles:
            h.remove()
    if any(o is None for o in outputs):
        raise VerificationError("some layers did not run during the forward pass")
    return [o for o in outputs if o is not None]


def find_decoder_layers(model: nn.Module, num_layers: int) -> nn.ModuleList:
    """The first ``nn.ModuleList`` of ``num_layers`` modules (e.g. HF ``model.layers``)."""
    for _, module in model.named_modules():
        if isinstance(module, nn.ModuleList) and len(module) == num_layers:
            return module
    raise VerificationError(f"no list of {num_layers} decoder layers found in the reference")


def layer_divergence(
    model: nn.Module,
    reference: nn.Module | Callable[[torch.Tensor], Sequence[torch.Tensor]],
    tokens: torch.Tensor,
    rtol: float = 1e-4,
) -> DivergenceReport:
    """Compare the hidden state after every transformer block with the reference's.

    ``reference`` is an ``nn.Module`` whose decoder layers are found automatically (HF
    models), or a callable returning the per-layer outputs for ``tokens``.
    """
    ours = collect_layer_outputs(model, list(model.transformer_blocks), tokens)
    if isinstance(reference, nn.Module):
        ref_layers = find_decoder_layers(reference, len(ours))
        theirs = collect_layer_outputs(reference, list(ref_layers), tokens)
    else:
        with torch.no_grad():
            theirs = list(reference(tokens))
    if len(theirs) != len(ours):
        raise VerificationError(f"{len(ours)} layers vs {len(theirs)} reference layers")
    diffs = [
        LayerDiff(i, tensor_diff(a, b, f"layer {i}"))
        for i, (a, b) in enumerate(zip(ours, theirs, strict=True))
    ]
    first = next((d.index for d in diffs if not d.diff.within(rtol)), None)
    return DivergenceReport(diffs, rtol, first)
