"""Constant data of the exported model: parameters streamed to the file, folded constants.

Every parameter becomes ONE model buffer however many subgraphs (signatures) and tensors
use it: buffers are keyed by the parameter's storage, not by the node that reads it.
Parameter bytes are never copied at conversion time: :class:`TensorSource` hands the
writer zero-copy views of the torch storage while the file is written.

Quantization hook: a :class:`WeightRecipe` decides, per weight (by its parameter names
and use), how it is stored and read: it may emit the weight's constants (and e.g. a
DEQUANTIZE or EMBEDDING_LOOKUP) itself, or return None to keep the float32 default. Today
only the float32 default exists; ``litegen.quantize`` provides the recipes to plug in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch

from litegen.errors import ExportError
from litegen.export.tflite_writer import ModelWriter, SubgraphWriter, TensorHandle

# Chunk size for streaming: bounds the progress granularity, not memory (views, no copies).
_CHUNK_BYTES = 64 << 20
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
        weight: torch.Tensor,
    ) -> tuple[TensorHandle, Any] | None:
        """The FULLY_CONNECTED filter operand of ``sg`` and the op's options."""
        ...

    def embedding(
        self,
        model: ModelWriter,
        sg: SubgraphWriter,
        names: tuple[str, ...],
        table: torch.Tensor,
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
    ) -> None:
        self.writer = writer
        self.recipe = recipe
        self._on_bytes = on_bytes
        self._buffers: dict[tuple[object, ...], StoredConstant] = {}
        # Keeps folded tensors alive while the writer holds views of them.
        self._keep: list[torch.Tensor] = []
        self.param_bytes = 0

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
            buffer = self.writer.add_buffer(TensorSource(tensor, self._on_bytes))
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
