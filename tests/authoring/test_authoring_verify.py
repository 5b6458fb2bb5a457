"""The verify module: logit diffs, greedy agreement and per-layer divergence reports."""

from __future__ import annotations

import pytest
import torch

import litegen
from litegen.errors import VerificationError
from litegen.verify import compare_greedy, compare_logits, layer_divergence, verify

TOKENS = torch.randint(3, 256, (1, 12), generator=torch.Generator().manual_seed(11))


def test_clean_model_passes_against_hf_and_a_callable(saved_model):
    saved = saved_model("qwen3")
    model = litegen.from_pretrained(saved.path, progress=False)
    report = verify(model, saved.hf, TOKENS, num_greedy_tokens=16)
    assert report.passed and report.layers is not None
    assert report.layers.first_divergent is None and len(report.layers.layers) == 2
    assert "16/16 tokens agree" in str(report)

    def reference(tokens: torch.Tensor) -> torch.Tensor:  # any tokens -> logits callable
        return saved.hf(tokens).logits

    assert compare_logits(model, reference, TOKENS).within(1e-4)
    assert compare_greedy(model, reference, TOKENS, num_tokens=8).agree


def test_perturbed_layer_is_reported_first(saved_model):
    saved = saved_model("gemma2")
    model = litegen.from_pretrained(saved.path, progress=False)
    with torch.no_grad():
        # Additive noise: a pure rescale of down_proj would be undone by Gemma-2's post-norm.
        w = model.transformer_blocks[1].feed_forward.down_proj.weight
        w.add_(0.05 * torch.randn(w.shape, generator=torch.Generator().manual_seed(0)))

    report = layer_divergence(model, saved.hf, TOKENS, rtol=1e-4)
    assert report.first_divergent == 1
    assert report.layers[0].diff.within(1e-4)
    assert not report.layers[1].diff.within(1e-2)
    assert "<-- first divergence" in str(report).splitlines()[2]

    full = verify(model, saved.hf, TOKENS, num_greedy_tokens=4)
    assert not full.passed and full.layers is not None and full.layers.first_divergent == 1


def test_per_layer_outputs_from_a_callable(saved_model):
    saved = saved_model("llama")
    model = litegen.from_pretrained(saved.path, progress=False)

    def hidden_states(tokens: torch.Tensor) -> list[torch.Tensor]:
        outs: list[torch.Tensor] = []
        handles = [
            layer.register_forward_hook(lambda _m, _i, out: outs.append(out))
            for layer in saved.hf.model.layers
        ]
        try:
            saved.hf(tokens)
        finally:
            for h in handles:
                h.remove()
        return outs

    report = layer_divergence(model, hidden_states, TOKENS)
    assert report.first_divergent is None and len(report.layers) == 2


def test_mismatched_vocab_is_a_verification_error(saved_model):
    model = litegen.from_pretrained(saved_model("llama").path, progress=False)
    with pytest.raises(VerificationError, match="shapes differ"):
        compare_logits(model, lambda t: torch.zeros(1, t.shape[1], 10), TOKENS)
