"""Lazily loaded models: the large weights stay in the checkpoint until the exporter
writes them.

:func:`lazy_pretrained` builds the model like :func:`~litegen.loading.from_pretrained`,
but only loads the small parameters (norm scales, biases). Every parameter with two or
more dimensions (projections, embedding tables: nearly all the bytes) keeps the
uninitialised storage :meth:`DecoderModel.empty` gave it - memory the process reserved
but never touched, so it costs no RSS - and gets a :class:`LazyWeight` that reads its
rows from the checkpoint, converted to float32 chunk by chunk, when asked.

The storage still matters: ``torch.export`` traces the model's real parameters (shapes,
dtypes, distinct storages identify the weights), and the exporter maps each parameter's
storage to its :class:`LazyWeight`. The model's own forward would compute with garbage:
use such a model only for export, and discard it after.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch

from litegen.authoring.model import DecoderModel
from litegen.loading.checkpoint import Checkpoint
from litegen.loading.loader import ModelLoader, _Piece

__all__ = ["LazyWeight", "lazy_pretrained"]

# Parameters with fewer dimensions are loaded eagerly: they are tiny, and lowerings may
# fold them into other constants (e.g. Gemma's 1 + w norm scale) by computing on them.
_LAZY_MIN_NDIM = 2


class LazyWeight:
    """A float32 parameter read from the checkpoint on demand, rows at a time.

    It may be assembled from several checkpoint tensors (a fused qkv projection from
    q, k and v) or be a row range of one (q from a fused checkpoint tensor).
    """

    dtype = np.dtype(np.float32)

    def __init__(
        self, name: str, shape: tuple[int, ...], pieces: list[_Piece], checkpoint: Checkpoint
    ) -> None:
        self.name = name
        self.shape = shape
        self._pieces = pieces
        self._checkpoint = checkpoint

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * 4

    def read_rows(self, start: int, stop: int) -> np.ndarray:
        """Rows [start, stop) of dimension 0 as a new float32 array."""
        rows = self.shape[0]
        out = np.empty((stop - start, *self.shape[1:]), np.float32)
        for piece in self._pieces:
            d0, d1 = piece.dest_rows or (0, rows)
            lo, hi = max(start, d0), min(stop, d1)
            if lo >= hi:
                continue
            s0 = piece.src_rows[0] if piece.src_rows else 0
            src = self._checkpoint.read_rows(piece.source, s0 + lo - d0, s0 + hi - d0)
            # bf16/fp16 -> float32 here, one chunk at a time: never the whole model.
            _to_float32(src, out[lo - start : hi - start])
        return out

    def __repr__(self) -> str:
        return f"LazyWeight({self.name!r}, shape={self.shape})"


def _to_float32(src: torch.Tensor, out: np.ndarray) -> None:
    """``out[...] = src`` as float32. bfloat16 is widened by a 16-bit shift in numpy
    (its bits are the top half of a float32): measured ~15x faster than torch's
    ``.to(torch.float32)`` on 1 MB chunks, which made it the largest cost of a
    conversion (37 s of 63 for TinyLlama-1.1B)."""
    if src.dtype == torch.bfloat16:
        bits = src.view(torch.int16).numpy().view(np.uint16)
        np.left_shift(bits, 16, out=out.view(np.uint32), dtype=np.uint32)
    else:
        np.copyto(out, src.numpy(), casting="unsafe")


def lazy_pretrained(
    hf_dir: str | Path,
    *,
    kv_cache_max_len: int | None = None,
    fused_projections: bool | None = None,
    strict: bool = True,
) -> tuple[DecoderModel, Mapping[int, LazyWeight]]:
    """The float32 model for a HuggingFace checkpoint directory with its large weights
    left in the checkpoint, and ``{parameter storage data_ptr: LazyWeight}`` for them.
    ``fused_projections`` as in :func:`from_pretrained`.

    Checks the checkpoint exactly as :func:`from_pretrained` does (missing tensors,
    shapes, unused tensors when ``strict``) before returning.
    """
    from litegen.loading.pretrained import read_hf_config
    from litegen.models import HFConfig, get_family

    hf = HFConfig(read_hf_config(hf_dir), source=str(Path(hf_dir) / "config.json"))
    family = get_family(hf.model_type)
    config = family.build_config(hf)
    if kv_cache_max_len is not None:
        config = config.replace(kv_cache_max_len=kv_cache_max_len)
    if fused_projections is not None:
        config = config.with_fused_projections(fused_projections)
    model = DecoderModel.empty(config, dtype=torch.float32)
    loader = ModelLoader(hf_dir, family.tensor_names, progress=False)
    lazy: dict[int, LazyWeight] = {}
    for target in loader.plan(model, strict=strict):
        param = target.param
        if param.dim() >= _LAZY_MIN_NDIM and param.dtype == torch.float32:
            key = param.untyped_storage().data_ptr()
            lazy[key] = LazyWeight(
                target.param_name, tuple(param.shape), target.pieces, loader.checkpoint
            )
        else:
            loader._copy(target)
    return model.requires_grad_(False), lazy
