"""Signatures: a model's cached step (prefill or decode) traced with ``torch.export``.

Each signature runs ``model(tokens, input_pos, kv_cache)`` on flat inputs:

- ``tokens`` int32 [1, T], ``input_pos`` int32 [T] (absolute positions);
- per layer ``kv_cache_k_{i}``, ``kv_cache_v_{i}`` float32 [1, Hkv, S_max, D];
- outputs ``logits`` [1, T, V] (or [1, 1, V], the last position only, with
  ``last_logits``: what generation reads; the LM head then runs on one row) and the
  updated caches (the converter decides which
  outputs the file keeps: the fast form updates caches in place and drops them).

T is dynamic (1..S_max, no padding) when the sample has more than one token (prefill),
static otherwise (decode), unless ``dynamic`` says otherwise.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.export import Dim, ExportedProgram

from litegen.authoring.kv_cache import KVCache
from litegen.errors import ConfigError, ExportError


@dataclass(frozen=True)
class SignatureSpec:
    """One signature to export: its name, the model and sample inputs."""

    name: str
    model: nn.Module
    tokens: torch.Tensor
    input_pos: torch.Tensor
    kv_cache: KVCache
    dynamic: bool
    last_logits: bool = False

    @property
    def num_layers(self) -> int:
        return len(self.kv_cache.k)

    def input_names(self) -> list[str]:
        names = ["tokens", "input_pos"]
        for i in range(self.num_layers):
            names += [f"kv_cache_k_{i}", f"kv_cache_v_{i}"]
        return names


def make_signature(
    name: str,
    model: nn.Module,
    sample_args: Any,
    dynamic: bool | None = None,
    last_logits: bool = False,
) -> SignatureSpec:
    """Validate ``sample_args`` — ``(tokens, input_pos, kv_cache)`` or a dict with those
    keys — and build the :class:`SignatureSpec`."""
    if not isinstance(name, str) or not name.isidentifier():
        raise ConfigError(f"signature name must be an identifier, got {name!r}")
    if not isinstance(model, nn.Module):
        raise ConfigError(f"signature {name!r}: model must be a torch.nn.Module")
    if isinstance(sample_args, Mapping):
        missing = {"tokens", "input_pos", "kv_cache"} - set(sample_args)
        if missing:
            raise ConfigError(f"signature {name!r}: sample_args lacks {sorted(missing)}")
        tokens, input_pos, kv_cache = (
            sample_args["tokens"],
            sample_args["input_pos"],
            sample_args["kv_cache"],
        )
    elif isinstance(sample_args, (tuple, list)) and len(sample_args) == 3:
        tokens, input_pos, kv_cache = sample_args
    else:
        raise ConfigError(
            f"signature {name!r}: sample_args must be (tokens, input_pos, kv_cache) or a dict "
            "with those keys"
        )
    if not isinstance(tokens, torch.Tensor) or tokens.dim() != 2 or tokens.shape[0] != 1:
        raise ConfigError(f"signature {name!r}: tokens must be a [1, T] integer tensor")
    if tokens.dtype not in (torch.int32, torch.int64):
        raise ConfigError(f"signature {name!r}: tokens must be int32/int64, got {tokens.dtype}")
    t = tokens.shape[1]
    if (
        not isinstance(input_pos, torch.Tensor)
        or input_pos.dim() != 1
        or input_pos.numel() != t
        or input_pos.dtype not in (torch.int32, torch.int64)
    ):
        raise ConfigError(f"signature {name!r}: input_pos must be an int32 [T] tensor (T={t})")
    if not isinstance(kv_cache, KVCache) or not kv_cache.k:
        raise ConfigError(f"signature {name!r}: kv_cache must be a litegen KVCache")
    for c in (*kv_cache.k, *kv_cache.v):
        if c.dtype != torch.float32 or c.dim() != 4 or c.shape[0] != 1:
            raise ConfigError(
                f"signature {name!r}: caches must be float32 [1, Hkv, S, D], got {c.dtype} "
                f"{tuple(c.shape)}"
            )
    if t < 1 or t > kv_cache.max_seq_len:
        raise ConfigError(
            f"signature {name!r}: {t} sample tokens do not fit the cache ({kv_cache.max_seq_len})"
        )
    return SignatureSpec(
        name,
        model,
        tokens.to(torch.int32),
        input_pos.to(torch.int32),
        kv_cache,
        dynamic=t > 1 if dynamic is None else bool(dynamic),
        last_logits=bool(last_logits),
    )


class CachedStep(nn.Module):
    """``model(tokens, input_pos, kv_cache)`` with the caches as flat tensors
    (k0, v0, k1, v1, ...) in and out, as torch.export wants. ``last_logits`` keeps the
    last position's logits only; a model whose forward has a ``last_logits`` argument
    (litegen's ``DecoderModel``) then skips the LM head for the other rows."""

    def __init__(self, model: nn.Module, last_logits: bool = False) -> None:
        super().__init__()
        self.m = model
        self.last_logits = last_logits
        self.native_last = (
            last_logits and "last_logits" in inspect.signature(model.forward).parameters
        )

    def forward(
        self, tokens: torch.Tensor, input_pos: torch.Tensor, *caches: torch.Tensor
    ) -> tuple[torch.Tensor, ...]:
        cache = KVCache(list(caches[0::2]), list(caches[1::2]))
        if self.native_last:
            logits = self.m(tokens, input_pos, cache, last_logits=True)
        else:
            logits = self.m(tokens, input_pos, cache)
            if self.last_logits:
                logits = logits[:, -1:, :]
        flat: list[torch.Tensor] = []
        for k, v in zip(cache.k, cache.v, strict=True):
            flat += [k, v]
        return (logits, *flat)


def export_signature(spec: SignatureSpec) -> ExportedProgram:
    """``torch.export`` (non-strict) of the signature's cached step."""
    caches: list[torch.Tensor] = []
    for k, v in zip(spec.kv_cache.k, spec.kv_cache.v, strict=True):
        caches += [k, v]
    args = (spec.tokens, spec.input_pos, *caches)
    cache_shapes = tuple(None for _ in caches)
    if spec.dynamic:
        t = Dim(f"T_{spec.name}", min=1, max=spec.kv_cache.max_seq_len)
        dynamic_shapes: Any = ({1: t}, {0: t}, cache_shapes)
    else:
        dynamic_shapes = (None, None, cache_shapes)
    was_training = spec.model.training
    spec.model.eval()
    try:
        with torch.no_grad():
            program = torch.export.export(
                CachedStep(spec.model, spec.last_logits),
                args,
                dynamic_shapes=dynamic_shapes,
                strict=False,
            )
    except Exception as e:  # torch raises many types; keep the cause chained
        raise ExportError(f"torch.export of signature {spec.name!r} failed: {e}") from e
    finally:
        spec.model.train(was_training)
    if _has_mutations(program):
        program = program.run_decompositions({})  # functionalize in-place ops
    return program


def _has_mutations(program: ExportedProgram) -> bool:
    for node in program.graph.nodes:
        target = node.target
        if (
            node.op == "call_function"
            and isinstance(target, torch._ops.OpOverload)
            and target._schema.is_mutable
        ):
            return True
    return False
