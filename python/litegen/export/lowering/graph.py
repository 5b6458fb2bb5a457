"""Walk an exported ATen graph and lower every node into one TFLite subgraph.

Per node: symbolic-int nodes keep their SymInt (materialised only where an op needs a
run-time shape); assertion nodes vanish; view-like no-ops pass their input through; a node
whose inputs are all known at export time is evaluated with torch and becomes a constant
(constant folding: RoPE frequencies, ``1 + weight``, shape arithmetic...); everything else
goes through the registered lowering or raises :class:`UnsupportedOpError`.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import fx
from torch.export import ExportedProgram
from torch.export.graph_signature import InputKind

from litegen.errors import ExportError, UnsupportedOpError

# Importing the op modules registers their lowerings.
from litegen.export.lowering import (  # noqa: F401
    attention,
    creation,
    elementwise,
    glu,
    linalg,
    norm_rope,
    reductions,
    shape_ops,
)
from litegen.export.lowering.context import LoweringContext
from litegen.export.lowering.registry import lookup
from litegen.export.lowering.values import Layout, RTensor, Value, static_int

aten = torch.ops.aten

_SKIP = {
    aten._assert_tensor_metadata.default,
    aten._assert_scalar.default,
    aten.sym_constrain_range.default,
    aten.sym_constrain_range_for_size.default,
    aten._assert_async.msg,
}
_IDENTITY = {
    aten.alias.default,
    aten.clone.default,
    aten.detach.default,
    aten.lift_fresh_copy.default,
    aten.contiguous.default,
    aten.alias_copy.default,
    aten.detach_copy.default,
}
# Ops never evaluated at export time even when their inputs are constants.
_NO_FOLD = {torch.ops.litegen.sdpa.default, torch.ops.litegen.kv_cache_update.default}


@dataclass(frozen=True)
class InputSpec:
    """A user input of the exported program: its signature name, storage layout and,
    when it differs from the traced one, storage dtype (float16 KV caches)."""

    name: str
    layout: Layout = "plain"
    dtype: torch.dtype | None = None


@dataclass(frozen=True)
class OutputSpec:
    """A user output: its signature name, or None to leave it out of the signature."""

    name: str | None


def lower_program(
    ctx: LoweringContext,
    program: ExportedProgram,
    inputs: Sequence[InputSpec],
    outputs: Sequence[OutputSpec],
) -> None:
    """Lower ``program`` into ``ctx``'s subgraph, adding its inputs and outputs."""
    sig = program.graph_signature
    state = {**program.state_dict, **program.constants}
    kinds = {s.arg.name: s for s in sig.input_specs}  # type: ignore[union-attr]
    user_inputs = iter(inputs)
    env = ctx.lowered
    for node in program.graph.nodes:
        ctx.current_node = node.name
        try:
            if node.op == "placeholder":
                spec = kinds[node.name]
                if spec.kind == InputKind.USER_INPUT:
                    env[node] = _user_input(ctx, node, next(user_inputs))
                else:
                    tensor = state[spec.target]  # type: ignore[index]
                    if spec.kind == InputKind.PARAMETER:
                        names = ctx.param_names.setdefault(tensor.untyped_storage().data_ptr(), [])
                        names.append(_param_name(spec.target))
                    env[node] = tensor.detach() if isinstance(tensor, torch.Tensor) else tensor
            elif node.op == "call_function":
                env[node] = _lower_call(ctx, node, env)
            elif node.op == "output":
                _add_outputs(ctx, node, env, outputs)
            else:
                raise UnsupportedOpError(f"graph node kind {node.op!r} is not supported")
        except UnsupportedOpError as e:
            msg = str(e)
            if _op_name(node) not in msg:
                msg = f"{_op_name(node)}: {msg}"
            raise UnsupportedOpError(_with_location(msg, node)) from e
        except ExportError as e:
            raise type(e)(_with_location(f"lowering {_op_name(node)}: {e}", node)) from e
        except Exception as e:  # a lowering that did not expect these arguments: a bug
            raise ExportError(
                _with_location(
                    f"internal error lowering {_op_name(node)} ({type(e).__name__}: {e}); "
                    "please report it with the model",
                    node,
                )
            ) from e
    # Lowering can leave ops whose result nothing reads (a zero-size slice that a
    # concatenation skipped): they would still run at every invoke.
    ctx.sg.remove_dead_operators()


def _param_name(target: str | None) -> str:
    name = target or "weight"
    # CachedStep holds the user's model as ``m``: report the model's own names.
    return name[2:] if name.startswith("m.") else name


def _user_input(ctx: LoweringContext, node: fx.Node, spec: InputSpec) -> RTensor:
    val = node.meta["val"]
    shape = tuple(val.shape)
    if spec.layout == "v_transposed":
        phys = (*shape[:-2], shape[-1], shape[-2])
        value = ctx.input(spec.name, phys, val.dtype, storage=spec.dtype)
        return RTensor(value.handle, shape, value.dtype, layout="v_transposed")
    return ctx.input(spec.name, shape, val.dtype, storage=spec.dtype)


def _lower_call(ctx: LoweringContext, node: fx.Node, env: dict[fx.Node, Value]) -> Value:
    target = node.target
    if target in _SKIP:
        return None
    if node in ctx.fused:
        return ctx.fused.pop(node)
    val = node.meta.get("val")
    if isinstance(val, (torch.SymInt, torch.SymFloat, torch.SymBool)):
        # Symbolic scalar arithmetic: keep the value; ops that need it at run time
        # compute it from the input shapes (LoweringContext.sym).
        s = static_int(val) if isinstance(val, torch.SymInt) else None
        return s if s is not None else val
    args = fx.node.map_arg(node.args, lambda n: env[n])
    kwargs = fx.node.map_arg(node.kwargs, lambda n: env[n])
    if target is operator.getitem:
        return args[0][args[1]]
    if target in _IDENTITY:
        return args[0]
    if target is aten._to_copy.default and _same_dtype(args[0], kwargs.get("dtype")):
        return args[0]  # a no-op cast; for parameters this also avoids a copy
    if target not in _NO_FOLD and _foldable(args) and _foldable(kwargs):
        return _fold(node, args, kwargs)
    fn = lookup(target)
    if fn is None:
        raise UnsupportedOpError(f"the op {_op_name(node)} has no TFLite lowering")
    return fn(ctx, node, tuple(args), dict(kwargs))


def _same_dtype(x: Value, dtype: torch.dtype | None) -> bool:
    if dtype is None:
        return True
    if isinstance(x, RTensor):
        return False  # RTensor dtypes are file dtypes; let the cast lowering decide
    return isinstance(x, torch.Tensor) and x.dtype == dtype


def _foldable(obj: Any) -> bool:
    if isinstance(obj, (RTensor, torch.SymInt, torch.SymFloat, torch.SymBool)):
        return False
    if isinstance(obj, (list, tuple)):
        return all(_foldable(o) for o in obj)
    if isinstance(obj, dict):
        return all(_foldable(o) for o in obj.values())
    return True


def _fold(node: fx.Node, args: Any, kwargs: Any) -> Value:
    try:
        with torch.no_grad():
            out = node.target(*args, **kwargs)  # type: ignore[operator]
    except Exception as e:
        raise ExportError(f"cannot evaluate {_op_name(node)} at export time: {e}") from e
    return list(out) if isinstance(out, tuple) else out


def _add_outputs(
    ctx: LoweringContext, node: fx.Node, env: dict[fx.Node, Value], outputs: Sequence[OutputSpec]
) -> None:
    results = fx.node.map_arg(node.args[0], lambda n: env[n])
    if len(results) != len(outputs):
        raise ExportError(f"the program has {len(results)} outputs, expected {len(outputs)}")
    for value, spec in zip(results, outputs, strict=True):
        if spec.name is None:
            continue
        if not isinstance(value, RTensor):
            raise ExportError(f"output {spec.name!r} is a constant; it must depend on the inputs")
        if value.handle in ctx.sg.inputs:
            raise ExportError(
                f"output {spec.name!r} is an unchanged input (is the KV cache updated?)"
            )
        if value.deps:
            raise ExportError(f"output {spec.name!r} is a cache updated in place (fast form)")
        ctx.sg.add_output(value.handle, name=spec.name)


def _op_name(node: fx.Node) -> str:
    target = node.target
    if isinstance(target, torch._ops.OpOverload):
        return f"{target.namespace}.{target._opname}.{target._overloadname}"
    return getattr(target, "__name__", str(target))


_FRAME = re.compile(r'^\s*File "(.+)", line (\d+), in (.+)$')


def source_location(node: fx.Node) -> str | None:
    """``file:line (in fn): code`` of the innermost Python frame that produced ``node``."""
    trace = node.meta.get("stack_trace")
    if not trace:
        return None
    lines = trace.splitlines()
    found = None
    for i, line in enumerate(lines):
        m = _FRAME.match(line)
        if m is None:
            continue
        nxt = lines[i + 1].strip() if i + 1 < len(lines) else ""
        code = "" if _FRAME.match(lines[i + 1] if i + 1 < len(lines) else "") else nxt
        found = (m.group(1), m.group(2), m.group(3), code)
    if found is None:
        return None
    path, line_no, fn, code = found
    where = f"{path}:{line_no} (in {fn})"
    return f"{where}: {code}" if code else where


def _with_location(message: str, node: fx.Node) -> str:
    where = source_location(node)
    if where is None or where in message:
        return message
    return f"{message} (at {where})"
