"""The exporter's quantization hook (``litegen.export.weights.WeightRecipe``) on a recipe.

:class:`RecipeWeights` answers the lowering's two questions - "what is the FULLY_CONNECTED
filter for this parameter?" and "look these rows up in this table" - by quantizing each
parameter once (per scheme), storing it once per model and emitting its tensors in each
subgraph. Weights the recipe leaves in fp32 get ``None`` back, so the exporter's own
zero-copy float path stores them. Usage in the converter::

    weights = RecipeWeights("int4,lm_head=int8")   # or a QuantRecipe; .is_float: skip it
    ... lowering calls weights.fully_connected(model, sg, names, w)
                    and weights.embedding(model, sg, names, table, ids, out_name) ...
    print(weights.report.format())                 # after the write (lazy statistics)

torch is not imported here: parameters are converted with their own ``.detach()`` /
``.numpy()`` methods - zero-copy for CPU float32 tensors; other float dtypes (bfloat16)
become a float32 copy, which a lazy weight keeps until the model is written.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from ai_edge_litert import schema_py_generated as schema

from litegen.export.tflite_writer import ModelWriter, SubgraphWriter, TensorHandle
from litegen.quantize.errors import QuantizationError
from litegen.quantize.quantizers import RowReader
from litegen.quantize.recipe import QuantRecipe, Usage, parse_recipe
from litegen.quantize.report import QuantReport
from litegen.quantize.schemes import QuantScheme, WeightFormat
from litegen.quantize.weights import (
    QuantizedWeight,
    StoredWeight,
    fully_connected_options,
    quantize,
)

__all__ = ["RecipeWeights"]


def _as_numpy(tensor: Any) -> np.ndarray:
    """A float array view of a numpy array or CPU torch tensor (no copy for float32)."""
    if isinstance(tensor, (np.ndarray, RowReader)):
        return tensor  # type: ignore[return-value]  # a RowReader is read rows at a time
    detach = getattr(tensor, "detach", None)
    if detach is None:
        return np.asarray(tensor)
    t = detach()
    if not t.is_floating_point():
        raise QuantizationError(f"cannot quantize a {t.dtype} tensor (float weights only)")
    # numpy has no bfloat16: widen those (and any non-float32) to float32 first.
    return t.cpu().float().numpy()


class RecipeWeights:
    """Implements the exporter's ``WeightRecipe`` protocol with a :class:`QuantRecipe`.

    Each weight is quantized once per scheme (a tied embedding / lm_head whose usages
    resolve to the same scheme is stored once and read by both ops). ``report`` collects
    sizes, and errors once computed. ``lazy`` (default) encodes the quantized data only
    while the model file is written, reading the parameters again then: they must stay
    alive and unchanged until the export (as for the exporter's own float path); error
    statistics are then complete after the write. ``on_bytes(n)`` is called as lazy
    data is written (progress; :attr:`nbytes` is the total).
    """

    def __init__(
        self,
        recipe: QuantRecipe | QuantScheme | str,
        *,
        stats: bool = True,
        lazy: bool = True,
        on_bytes: Callable[[int], None] | None = None,
    ) -> None:
        self.recipe = parse_recipe(recipe)
        self.report = QuantReport()
        self._stats = stats
        self._lazy = lazy
        self._on_bytes = on_bytes
        # Per model: a hook reused for another conversion must not reuse the weights of
        # a previous model that had the same parameter names.
        self._weights: weakref.WeakKeyDictionary[
            ModelWriter, dict[tuple[tuple[str, ...], QuantScheme], QuantizedWeight]
        ] = weakref.WeakKeyDictionary()

    def quantized(self, model: ModelWriter) -> tuple[QuantizedWeight, ...]:
        """The weights quantized for ``model`` so far, in order."""
        return tuple(self._weights.get(model, {}).values())

    @property
    def nbytes(self) -> int:
        """Bytes of all weights quantized so far (what a progress total should count)."""
        return self.report.nbytes

    @property
    def is_float(self) -> bool:
        """True when every weight stays fp32 (the hook never emits anything)."""
        return all(s.format is WeightFormat.FP32 for s in self.recipe.schemes())

    def _stored(
        self, model: ModelWriter, names: Sequence[str], usage: Usage, tensor: Any
    ) -> tuple[StoredWeight, QuantScheme] | None:
        scheme = self.recipe.scheme_for(names, usage)
        if scheme.format is WeightFormat.FP32:
            return None
        weights = self._weights.setdefault(model, {})
        key = (tuple(sorted(names)), scheme)  # the same weight whatever the name order
        weight = weights.get(key)
        if weight is None:
            weight = quantize(
                _as_numpy(tensor),
                scheme,
                names[0],
                stats=self._stats,
                lazy=self._lazy,
                on_bytes=self._on_bytes,
            )
            weights[key] = weight
            self.report.add(weight)
        return weight.add_to(model), scheme

    def fully_connected(
        self, model: ModelWriter, sg: SubgraphWriter, names: tuple[str, ...], weight: Any
    ) -> tuple[TensorHandle, schema.FullyConnectedOptionsT] | None:
        """The filter operand for ``weight`` [out, in] in ``sg`` and the FC options (with
        ``keep_num_dims``, like the exporter's float path), or None to keep it fp32."""
        found = self._stored(model, names, "fully_connected", weight)
        if found is None:
            return None
        stored, scheme = found
        options = fully_connected_options(scheme)
        options.keepNumDims = True
        return stored.constant(sg), options

    def fast_linear(
        self, model: ModelWriter, sg: SubgraphWriter, names: tuple[str, ...], weight: Any
    ) -> tuple[TensorHandle, TensorHandle, TensorHandle] | None:
        """LITEGEN_FC's ``(weights, scales, wsum)`` operands for ``weight`` in ``sg``, or None
        when its scheme has no such form (then :meth:`fully_connected` applies)."""
        found = self._stored(model, names, "fully_connected", weight)
        if found is None:
            return None
        return found[0].fast_linear_operands(sg)

    def embedding(
        self,
        model: ModelWriter,
        sg: SubgraphWriter,
        names: tuple[str, ...],
        table: Any,
        ids: TensorHandle,
        out_name: str,
    ) -> TensorHandle | None:
        """Rows ``ids`` (1-D int32) of ``table`` as float32 ``[len(ids), dim]``, or None to
        keep the table fp32."""
        found = self._stored(model, names, "embedding", table)
        if found is None:
            return None
        return found[0].lookup(sg, ids, out_name)
