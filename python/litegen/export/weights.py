"""Constant data of the exported model: parameters streamed to the file, folded constants.

Every parameter becomes ONE model buffer however many subgraphs (signatures) and tensors
use it: buffers are keyed by the parameter's storage, not by the node that reads it.
Parameter bytes are never copied at conversion time: :class:`TensorSource` hands the
writer zero-copy views of the torch storage while the file is written.

Quantization hook: a :class:`WeightRecipe` decides, per weight (by its parameter names
and use), how it is stored and read: it may emit the weight's constants (and e.g. a
DEQUANTIZE or EMBEDDING_LOOKUP) itself, or return None to keep the float32 default;
``litegen.quantize.RecipeWeights`` is the recipe the converter plugs in.

Lazy weights: a parameter may have no data of its own (a model loaded with
:func:`litegen.loading.lazy.lazy_pretrained`); the pool then maps its storage to a
:class:`LazyWeight` that reads rows from the checkpoint, and both the float path and the
recipe read it chunk by chunk while the file is written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch

from litegen.errors import ExportError
from litegen.export.tflite_writer import ModelWriter, SubgraphWriter, TensorHandle

# Chunk size for streaming: bounds the progress granularity, not memory (views, no copies).
_CHUNK_BYTES = 64 << 20
# Lazy weights are read (and converted to float32) this many bytes at a time.
_LAZY_CHUNK_BYTES = 16 << 20
# Folded constants up to this size are deduplicated by content (they are cheap to hash).
_CONTENT_KEY_LIMIT = 1 << 20

_FILE_DTYPES: dict[torch.dtype, torch.dtype] = {
    torch.float32: torch.float32,
    torch.float64: torch.float32,  # TFLite kernels compute in float32
    torch.int64: torch.int32,  # indices and shapes: TFLite's kernels want int32
    torch.int32: torch.int32,
    torch.bool: torch.bool,
}


def file_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype a tensor of ``dtype`` has in the file."""
    try:
        return _FILE_DTYPES[dtype]
    except KeyError:
        raise ExportError(
            f"tensors of dtype {dtype} cannot be exported yet (float32 models only: "
            "convert the model with model.float())"
        ) from None


class TensorSource:
    """A :class:`~litegen.export.tflite_writer.BufferSource` over a torch tensor's bytes."""

    def __init__(self, tensor: torch.Tensor, on_bytes: Callable[[int], None] | None = None) -> None:
        if tensor.dtype != file_dtype(tensor.dtype):
            raise ExportError(f"TensorSource: {tensor.dtype} data must be converted first")
        self._tensor = tensor
        self._on_bytes = on_bytes

    @property
    def nbytes(self) -> int:
        return self._tensor.numel() * self._tensor.element_size()

    def chunks(self) -> Iterator[np.ndarray]:
        # contiguous() is a no-op for parameters (always contiguous here) and keeps the
        # view zero-copy; numpy() shares the storage.
        flat = self._tensor.detach().contiguous().reshape(-1).numpy()
        step = max(1, _CHUNK_BYTES // max(1, flat.itemsize))
        for start in range(0, flat.size, step):
            chunk = flat[start : start + step]
            yield chunk
            if self._on_bytes is not None:
                self._on_bytes(chunk.nbytes)


class LazyWeight(Protocol):
    """A float32 parameter whose data is read on demand (e.g. from a checkpoint), rows at a
    time: :class:`litegen.loading.lazy.LazyWeight`, a quantizer ``RowReader``."""

    shape: tuple[int, ...]

    @property
    def nbytes(self) -> int: ...

    def read_rows(self, start: int, stop: int) -> np.ndarray: ...


class LazySource:
    """A :class:`~litegen.export.tflite_writer.BufferSource` reading a :class:`LazyWeight`
    in chunks of rows while the file is written (one chunk in memory at a time)."""

    def __init__(self, weight: LazyWeight, on_bytes: Callable[[int], None] | None = None) -> None:
        self._weight = weight
        self._on_bytes = on_bytes

    @property
    def nbytes(self) -> int:
        return self._weight.nbytes

    def chunks(self) -> Iterator[np.ndarray]:
        shape = self._weight.shape
        rows = shape[0] if shape else 1
        row_bytes = max(1, self.nbytes // max(1, rows))
        step = max(1, _LAZY_CHUNK_BYTES // row_bytes)
        for start in range(0, rows, step):
            chunk = self._weight.read_rows(start, min(rows, start + step))
            yield chunk
            if self._on_bytes is not None:
                self._on_bytes(chunk.nbytes)


class WeightRecipe(Protocol):
    """Decides how weights are stored (the quantization hook).

    ``names`` are all parameter names of the weight (several for tied weights, e.g.
    ``("tok_embedding.weight", "lm_head.weight")``). Implementations store each weight's
    buffers once per model (they are shared by all subgraphs) and return None to leave a
    weight in float32.
    """

    def fully_connected(
        self,
        model: ModelWriter,
        sg: SubgraphWriter,
        names: tuple[str, ...],
        weight: torch.Tensor | LazyWeight,
    ) -> tuple[TensorHandle, Any] | None:
        """The FULLY_CONNECTED filter operand of ``sg`` and the op's options."""
        ...

    def fast_linear(
        self,
        model: ModelWriter,
        sg: SubgraphWriter,
        names: tuple[str, ...],
        weight: torch.Tensor | LazyWeight,
    ) -> tuple[TensorHandle, TensorHandle, TensorHandle] | None:
        """The fast form's LITEGEN_FC operands ``(weights, scales, wsum)`` (see
        docs/custom_ops.md), or None to use :meth:`fully_connected` instead."""
        ...

    def embedding(
        self,
        model: ModelWriter,
        sg: SubgraphWriter,
        names: tuple[str, ...],
        table: torch.Tensor | LazyWeight,
        ids: TensorHandle,
        out_name: str,
    ) -> TensorHandle | None:
        """Rows ``ids`` (1-D int32) of ``table`` as a float32 [len(ids), dim] tensor."""
        ...


class ConstantPool:
    """Model-level constant buffers shared by all subgraphs (deduplicated)."""

    def __init__(
        self,
        writer: ModelWriter,
        recipe: WeightRecipe | None = None,
        on_bytes: Callable[[int], None] | None = None,
        lazy: Mapping[int, LazyWeight] | None = None,
    ) -> None:
        self.writer = writer
        self.recipe = recipe
        self._on_bytes = on_bytes
        # Parameters whose data stays in the checkpoint, by storage (see source_of).
        self._lazy = dict(lazy or {})
        self._lazy_used: set[int] = set()
        self._buffers: dict[tuple[object, ...], StoredConstant] = {}
        # Keeps folded tensors alive while the writer holds views of them.
        self._keep: list[torch.Tensor] = []
        self.param_bytes = 0

    def source_of(self, tensor: torch.Tensor) -> torch.Tensor | LazyWeight:
        """What to read ``tensor``'s data from: its :class:`LazyWeight` when it is a lazily
        loaded parameter (its own storage holds no data), else the tensor itself."""
        key = tensor.untyped_storage().data_ptr()
        weight = self._lazy.get(key)
        if weight is None:
            return tensor
        if (
            tensor.storage_offset() != 0
            or tuple(tensor.shape) != tuple(weight.shape)
            or not tensor.is_contiguous()
        ):
            raise ExportError(
                f"lazily loaded weight {weight!r} is used as a view {tuple(tensor.shape)}; "
                "this model needs a fully loaded conversion"
            )
        self._lazy_used.add(key)
        return weight

    def check_lazy_used(self) -> None:
        """Raise if a lazily loaded weight never reached the file through
        :meth:`source_of`: a lowering then computed with its (unloaded) storage."""
        unused = [w for k, w in self._lazy.items() if k not in self._lazy_used]
        if unused:
            raise ExportError(
                f"internal error: lazily loaded weights {unused[:3]} were read without their "
                "data (folded into other constants?); please report it with the model"
            )

    def plain(self, tensor: torch.Tensor, *, is_param: bool = False) -> StoredConstant:
        """``tensor`` stored unquantized in its file dtype (deduplicated)."""
        tensor = tensor.detach()
        dtype = file_dtype(tensor.dtype)
        if tensor.dtype != dtype:
            tensor, is_param = tensor.to(dtype), False
        shape = tuple(tensor.shape)
        nbytes = tensor.numel() * tensor.element_size()
        if not is_param and nbytes <= _CONTENT_KEY_LIMIT:
            data = tensor.contiguous().reshape(-1).numpy().tobytes()
            key: tuple[object, ...] = ("content", dtype, shape, data)
        else:
            key = ("storage", *_identity_key(tensor))
        found = self._buffers.get(key)
        if found is not None:
            return found
        if is_param:
            self.param_bytes += nbytes
            source = self.source_of(tensor)
            if isinstance(source, torch.Tensor):
                buffer = self.writer.add_buffer(TensorSource(tensor, self._on_bytes))
            else:
                buffer = self.writer.add_buffer(LazySource(source, self._on_bytes))
        else:
            tensor = tensor.contiguous()
            self._keep.append(tensor)
            buffer = self.writer.add_buffer(tensor.reshape(-1).numpy())
        stored = StoredConstant(buffer, dtype, shape)
        self._buffers[key] = stored
        return stored


@dataclass(frozen=True)
class StoredConstant:
    """A constant's buffer with its file dtype and shape."""

    buffer: int
    dtype: torch.dtype
    shape: tuple[int, ...]


def _identity_key(tensor: torch.Tensor) -> tuple[object, ...]:
    return (
        tensor.untyped_storage().data_ptr(),
        tensor.storage_offset(),
        tuple(tensor.shape),
        tuple(tensor.stride()),
        tensor.dtype,
    )
