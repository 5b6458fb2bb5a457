"""Numerical verification of a litegen model against a reference implementation."""

from litegen.verify.greedy import (
    GreedyComparison,
    compare_greedy,
    greedy_generate,
    reference_greedy,
)
from litegen.verify.layers import (
    DivergenceReport,
    LayerDiff,
    collect_layer_outputs,
    find_decoder_layers,
    layer_divergence,
)
from litegen.verify.logits import TensorDiff, as_logits_fn, compare_logits, tensor_diff
from litegen.verify.report import VerificationReport, verify

__all__ = [
    "DivergenceReport",
    "GreedyComparison",
    "LayerDiff",
    "TensorDiff",
    "VerificationReport",
    "as_logits_fn",
    "collect_layer_outputs",
    "compare_greedy",
    "compare_logits",
    "find_decoder_layers",
    "greedy_generate",
    "layer_divergence",
    "reference_greedy",
    "tensor_diff",
    "verify",
]
