"""The state of lowering one exported graph into one subgraph, and the emit helpers
every op lowering uses (constants, new tensors, ops, runtime shapes)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import torch
from torch import fx

from litegen.errors import ExportError
from litegen.export.lowering.values import Dim, RTensor, Value, file_shape, same_shape, static_int
from litegen.export.tflite_schema import schema
from litegen.export.tflite_writer import SubgraphWriter, TensorHandle
from litegen.export.weights import ConstantPool, StoredConstant, file_dtype

Form = Literal["fast", "portable"]
# Builtin ops whose kernels are registered from a version above 1 (BROADCAST_TO starts at 2);
# every other op is written as version 1, which each registers.
_MIN_VERSION = {"BROADCAST_TO": 2}


class LoweringContext:
    """Emits TFLite tensors and ops into ``subgraph`` for one exported signature."""

    def __init__(self, subgraph: SubgraphWriter, pool: ConstantPool, form: Form) -> None:
        self.sg = subgraph
        self.pool = pool
        self.form = form
        self._names: dict[str, int] = {}
        self._used: set[str] = set()
        self._const_handles: dict[tuple[object, ...], TensorHandle] = {}
        # symbolic dim (sympy expr) -> its [1] int32 runtime tensor
        self._sym_tensors: dict[object, TensorHandle] = {}
        # sympy symbol -> (runtime tensor, dim) where it can be read with SHAPE
        self._sym_sources: dict[object, tuple[RTensor, int]] = {}
        self._shape_of: dict[int, TensorHandle] = {}
        # Names of parameters by storage (several for tied weights): tensor names, recipes.
        self.param_names: dict[int, list[str]] = {}
        # Per-subgraph caches that lowerings may share (e.g. attention masks).
        self.memo: dict[object, Any] = {}
        # The values of the graph nodes lowered so far (a lowering may look at a user's other
        # operands to fuse it, see linalg._fusable_residual) ...
        self.lowered: dict[fx.Node, Value] = {}
        # ... and those of later nodes a lowering computed while fusing them into its op.
        self.fused: dict[fx.Node, Value] = {}
        # RESHAPE outputs -> their input: a reshape of a reshape reads the original (the
        # intermediate one is dropped when nothing else reads it).
        self._reshaped_from: dict[int, RTensor] = {}
        self.current_node: str = ""

    # -- names ---------------------------------------------------------------------------

    def name(self, base: str) -> str:
        """A tensor name not used yet in this subgraph."""
        base = base or "t"
        candidate, n = base, self._names.get(base, 0)
        while candidate in self._used:
            n += 1
            candidate = f"{base}_{n}"
        self._names[base] = n
        self._used.add(candidate)
        return candidate

    # -- tensors -------------------------------------------------------------------------

    def input(
        self,
        name: str,
        shape: tuple[Dim, ...],
        dtype: torch.dtype,
        storage: torch.dtype | None = None,
        **kw: Any,
    ) -> RTensor:
        """A signature input traced as ``dtype``; ``storage``: its dtype in the file when
        that differs (the fast form's float16 KV caches, read only by litegen's kernels)."""
        if storage is not None:
            handle = self.sg.add_input(self.name(name), _np(storage), file_shape(shape))
            value = RTensor(handle, tuple(shape), storage, **kw)
            self.register_dims(value)
            return value
        handle = self.sg.add_input(self.name(name), _np(dtype), file_shape(shape))
        value = RTensor(handle, tuple(shape), file_dtype(dtype), **kw)
        self.register_dims(value)
        return value

    def register_dims(self, value: RTensor) -> None:
        """Remember where each new symbol of ``value``'s shape can be read at run time."""
        for i, d in enumerate(value.shape):
            if isinstance(d, torch.SymInt) and static_int(d) is None:
                expr = d.node.expr
                if expr.is_Symbol and expr not in self._sym_sources:
                    self._sym_sources[expr] = (value, i)

    def new(
        self, shape: Sequence[Dim], dtype: torch.dtype, base: str | None = None, **kw: Any
    ) -> RTensor:
        """A fresh intermediate tensor (to be written by the next op)."""
        fd = file_dtype(dtype)
        handle = self.sg.add_tensor(
            self.name(base or self.current_node or "t"), _np(fd), file_shape(tuple(shape))
        )
        return RTensor(handle, tuple(shape), fd, **kw)

    def const(
        self,
        value: torch.Tensor | np.ndarray | float | int | bool,
        dtype: torch.dtype | None = None,
        name: str = "const",
    ) -> TensorHandle:
        """A constant tensor of this subgraph (its buffer shared model-wide)."""
        t = value if isinstance(value, torch.Tensor) else torch.as_tensor(np.asarray(value))
        if dtype is not None and t.dtype != dtype:
            t = t.to(dtype)
        names = self.param_names.get(t.untyped_storage().data_ptr())
        stored = self.pool.plain(t, is_param=names is not None)
        return self._const_handle(stored, names[0] if names else name)

    def fully_connected_weight(self, w: torch.Tensor) -> tuple[TensorHandle, Any]:
        """The filter operand for ``w`` [out, in] and the FULLY_CONNECTED options
        (float32, or as the quantization recipe stores it)."""
        names = self.param_names.get(w.untyped_storage().data_ptr())
        recipe = self.pool.recipe
        if recipe is not None and names is not None:
            source = self.pool.source_of(w)  # a LazyWeight is quantized as it streams
            found = recipe.fully_connected(self.pool.writer, self.sg, tuple(names), source)
            if found is not None:
                return found
        opts = schema.FullyConnectedOptionsT()
        opts.keepNumDims = True
        return self.const(w, name="weight"), opts

    def fast_linear_weight(
        self, w: torch.Tensor
    ) -> tuple[TensorHandle, TensorHandle, TensorHandle] | None:
        """LITEGEN_FC's weight operands for ``w`` [out, in] in the fast form, when the
        quantization recipe stores it in a format that op reads (else None)."""
        names = self.param_names.get(w.untyped_storage().data_ptr())
        recipe = self.pool.recipe
        if self.form != "fast" or recipe is None or names is None:
            return None
        return recipe.fast_linear(self.pool.writer, self.sg, tuple(names), self.pool.source_of(w))

    def embedding_lookup(
        self, table: torch.Tensor, ids: RTensor, out_shape: tuple[Dim, ...]
    ) -> RTensor:
        """Rows ``ids`` of the constant ``table`` (any index shape), as float32."""
        names = self.param_names.get(table.untyped_storage().data_ptr())
        recipe = self.pool.recipe
        if recipe is not None and names is not None:
            flat = self.reshape(self.cast(ids, torch.int32), (-1,))
            source = self.pool.source_of(table)
            rows = recipe.embedding(
                self.pool.writer, self.sg, tuple(names), source, flat.handle, self.name("embedding")
            )
            if rows is not None:
                found = RTensor(rows, (*flat.shape, table.shape[1]), torch.float32)
                return self.reshape(found, out_shape)
        opts = schema.GatherOptionsT()
        opts.axis = 0
        return self.op(
            "GATHER",
            [self.const(table, name="embedding"), self.as_handle(ids, torch.int32)],
            out_shape,
            torch.float32,
            opts,
        )

    def _const_handle(self, stored: StoredConstant, name: str) -> TensorHandle:
        key = (stored.buffer, stored.shape, stored.dtype)
        handle = self._const_handles.get(key)
        if handle is None:
            handle = self.sg.add_constant(
                self.name(name), stored.buffer, _np(stored.dtype), stored.shape
            )
            self._const_handles[key] = handle
        return handle

    def as_handle(self, value: Value, dtype: torch.dtype | None = None) -> TensorHandle:
        """A tensor handle for a runtime tensor, constant or scalar (cast to ``dtype``)."""
        if isinstance(value, RTensor):
            value = self.plain(value)
            if dtype is not None and file_dtype(dtype) != value.dtype:
                return self.cast(value, dtype).handle
            return value.handle
        if isinstance(value, torch.SymInt):
            return self.scalar_sym(value, dtype or torch.int32)
        if isinstance(value, (torch.Tensor, int, float, bool)):
            return self.const(value, dtype)
        raise ExportError(f"cannot use {type(value).__name__} {value!r} as a tensor")

    def plain(self, value: RTensor) -> RTensor:
        """``value`` in its logical layout (a TRANSPOSE for transposed caches)."""
        if value.deps:
            raise ExportError(
                "a KV cache updated in place by LITEGEN_KV_CACHE_UPDATE can only be read by "
                "litegen::sdpa in the fast form (export with form='portable' instead)"
            )
        if value.layout == "plain":
            return value
        perm = list(range(value.rank))
        perm[-1], perm[-2] = perm[-2], perm[-1]
        phys = RTensor(value.handle, _swap_last(value.shape), value.dtype)
        return self.transpose(phys, perm)

    # -- ops -----------------------------------------------------------------------------

    def op(
        self,
        opname: str,
        inputs: Sequence[TensorHandle | RTensor | None],
        shape: Sequence[Dim],
        dtype: torch.dtype,
        options: Any | None = None,
        base: str | None = None,
    ) -> RTensor:
        """Emit builtin ``opname`` with one new output tensor of ``shape``/``dtype``."""
        out = self.new(shape, dtype, base)
        handles = [x.handle if isinstance(x, RTensor) else x for x in inputs]
        self.sg.add_builtin_op(
            opname, handles, [out.handle], options=options, version=_MIN_VERSION.get(opname, 1)
        )
        return out

    def cast(self, x: RTensor, dtype: torch.dtype) -> RTensor:
        fd = file_dtype(dtype)
        if x.dtype == fd:
            return x
        return self.op("CAST", [x], x.shape, fd)

    def transpose(self, x: RTensor, perm: Sequence[int]) -> RTensor:
        perm = [p % max(1, x.rank) for p in perm]
        if perm == list(range(x.rank)):
            return x
        shape = tuple(x.shape[p] for p in perm)
        # Moving only dims of size 1 keeps the element order: that is a reshape (decode's
        # [B, 1, H, D] <-> [B, H, 1, D]), which then folds into the reshapes around it.
        if [p for p in perm if static_int(x.shape[p]) != 1] == [
            i for i in range(x.rank) if static_int(x.shape[i]) != 1
        ]:
            return self.reshape(x, shape)
        return self.op("TRANSPOSE", [x, self.const(np.asarray(perm, np.int32))], shape, x.dtype)

    def reshape(self, x: RTensor, shape: Sequence[Dim]) -> RTensor:
        """RESHAPE to ``shape``: a constant shape when at most one dim is dynamic (as -1),
        else a shape tensor computed at run time."""
        shape = tuple(shape)
        source = self._reshaped_from.get(x.handle.index)
        if source is not None and not same_shape(source.shape, shape):
            x = source  # (back to the source's own shape stays a RESHAPE: it may be an output)
        if same_shape(x.shape, shape):
            return x
        dynamic = [i for i, d in enumerate(shape) if static_int(d) is None]
        if len(dynamic) <= 1:
            spec = self.const(np.asarray(file_shape(shape), np.int32))
        else:
            spec = self.int_vector(shape)
        out = self.op("RESHAPE", [x, spec], shape, x.dtype)
        self._reshaped_from[out.handle.index] = x
        return out

    # -- symbolic ints -------------------------------------------------------------------

    def int_vector(self, values: Sequence[Dim]) -> TensorHandle:
        """A [len(values)] int32 tensor: constant when every value is static."""
        statics = [static_int(v) for v in values]
        if all(s is not None for s in statics):
            return self.const(np.asarray(statics, np.int32))
        parts: list[TensorHandle] = []
        run: list[int] = []
        for v, s in zip(values, statics, strict=True):
            if s is not None:
                run.append(s)
                continue
            if run:
                parts.append(self.const(np.asarray(run, np.int32)))
                run = []
            parts.append(self.sym(v))  # type: ignore[arg-type]
        if run:
            parts.append(self.const(np.asarray(run, np.int32)))
        if len(parts) == 1:
            return parts[0]
        opts = schema.ConcatenationOptionsT()
        opts.axis = 0
        return self.op("CONCATENATION", parts, (len(values),), torch.int32, opts, "shape").handle

    def sym(self, d: torch.SymInt) -> TensorHandle:
        """A [1] int32 tensor holding the run-time value of symbolic int ``d``."""
        s = static_int(d)
        if s is not None:
            return self.const(np.asarray([s], np.int32))
        return self._sym_expr(d.node.expr)

    def scalar_sym(self, d: torch.SymInt, dtype: torch.dtype) -> TensorHandle:
        """A 0-d tensor of ``dtype`` holding ``d``."""
        vec = RTensor(self.sym(d), (1,), torch.int32)
        out = self.reshape(vec, ())
        return self.cast(out, dtype).handle

    def _sym_expr(self, expr: Any) -> TensorHandle:
        found = self._sym_tensors.get(expr)
        if found is not None:
            return found
        if expr.is_Symbol:
            source = self._sym_sources.get(expr)
            if source is None:
                raise ExportError(f"no input tensor carries the dynamic size {expr}")
            tensor, dim = source
            shape = self._shape_of.get(tensor.handle.index)
            if shape is None:
                opts = schema.ShapeOptionsT()
                opts.outType = schema.TensorType.INT32
                shape = self.op(
                    "SHAPE", [tensor], (tensor.rank,), torch.int32, opts, "shape"
                ).handle
                self._shape_of[tensor.handle.index] = shape
            out = self.strided_slice_1d(shape, dim)
        elif expr.is_Integer:
            out = self.const(np.asarray([int(expr)], np.int32))
        elif expr.is_Add or expr.is_Mul:
            opname = "ADD" if expr.is_Add else "MUL"
            args = list(expr.args)
            out = self._sym_expr(args[0])
            for a in args[1:]:
                rhs = self._sym_expr(a)
                out = self.op(opname, [out, rhs], (1,), torch.int32, base="dim").handle
        else:
            raise ExportError(f"cannot compute the dynamic size {expr} at run time")
        self._sym_tensors[expr] = out
        return out

    def strided_slice_1d(self, vec: TensorHandle, index: int) -> TensorHandle:
        """``vec[index:index+1]`` of a 1-D int32 tensor."""
        return self.op(
            "STRIDED_SLICE",
            [
                vec,
                self.const(np.asarray([index], np.int32)),
                self.const(np.asarray([index + 1], np.int32)),
                self.const(np.asarray([1], np.int32)),
            ],
            (1,),
            torch.int32,
            schema.StridedSliceOptionsT(),
            "dim",
        ).handle


def _np(dtype: torch.dtype) -> np.dtype:
    return torch.empty((), dtype=dtype).numpy().dtype


def _swap_last(shape: tuple[Dim, ...]) -> tuple[Dim, ...]:
    return (*shape[:-2], shape[-1], shape[-2])
