"""Map checkpoint tensors onto a litegen model through ``TensorNames`` templates.

Works on any model with the seed's attribute layout: ``tok_embedding``,
``transformer_blocks[i]`` (``pre_attn_norm``, ``attention.{q,k,v,qkv,o}_proj``,
``attention.{q,k}_norm``, ``post_attn_norm``, ``pre_ff_norm``,
``feed_forward.{gate,up,gate_up,down}_proj``, ``post_ff_norm``), ``final_norm``, ``lm_head``.
Fused and split projections are converted either way, weights are cast to each
parameter's dtype (bf16/fp16 checkpoints load into fp32 models), tied LM heads are skipped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import torch
from torch import nn

from litegen.errors import CheckpointError, ConfigError
from litegen.loading.checkpoint import Checkpoint


@dataclass(frozen=True)
class TensorNames:
    """Checkpoint tensor names (without ``.weight``/``.bias``); ``{}`` is the layer index."""

    embedding: str | None = None
    final_norm: str | None = None
    lm_head: str | None = None
    pre_attn_norm: str | None = None
    attn_query_proj: str | None = None
    attn_key_proj: str | None = None
    attn_value_proj: str | None = None
    attn_fused_qkv_proj: str | None = None
    attn_output_proj: str | None = None
    attn_query_norm: str | None = None
    attn_key_norm: str | None = None
    post_attn_norm: str | None = None
    pre_ff_norm: str | None = None
    ff_gate_proj: str | None = None
    ff_up_proj: str | None = None
    ff_gate_up_proj: str | None = None
    ff_down_proj: str | None = None
    post_ff_norm: str | None = None


@dataclass
class _Piece:
    source: str  # checkpoint tensor name
    expected: tuple[int, ...]  # its expected shape
    dest_rows: tuple[int, int] | None = None  # rows of the parameter it fills (concat)
    src_rows: tuple[int, int] | None = None  # rows of the source it provides (split)


@dataclass
class _Target:
    param_name: str
    param: torch.Tensor
    pieces: list[_Piece] = field(default_factory=list)


def _fmt(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ")"


class ModelLoader:
    """Loads a checkpoint into a model (the seed's ``ModelLoader``).

    ``ModelLoader(checkpoint, ModelLoader.TensorNames(...)).load(model)`` copies every
    parameter; missing tensors, shape mismatches and (when ``strict``) unused checkpoint
    tensors raise :class:`CheckpointError` naming the tensor and the shapes.
    """

    TensorNames: ClassVar[type[TensorNames]] = TensorNames
    # Non-weight buffers some checkpoints carry; never treated as extra tensors.
    IGNORED: ClassVar[tuple[str, ...]] = (r"\.rotary_emb\.inv_freq$", r"\.attn\.masked_bias$")

    def __init__(
        self,
        checkpoint: str | Path | Checkpoint,
        names: TensorNames,
        *,
        progress: bool = True,
    ) -> None:
        self.checkpoint = (
            checkpoint if isinstance(checkpoint, Checkpoint) else Checkpoint(checkpoint)
        )
        self.names = names
        self.progress = progress

    # -- public ----------------------------------------------------------------------------
    def load(self, model: nn.Module, strict: bool = True) -> None:
        """Copy all of ``model``'s parameters from the checkpoint."""
        for t in self._progress(self.plan(model, strict)):
            self._copy(t)

    def plan(self, model: nn.Module, strict: bool = True) -> list[_Target]:
        """Where each of ``model``'s parameters comes from, after checking that every
        tensor exists with the right shape (no data is read)."""
        ckpt = self.checkpoint
        targets, consumed = self._plan(model)
        missing = sorted({p.source for t in targets for p in t.pieces if p.source not in ckpt})
        if missing:
            needed = {p.source: (t.param_name, p.expected) for t in targets for p in t.pieces}
            lines = [
                f"'{m}' (for model parameter '{needed[m][0]}', shape {_fmt(needed[m][1])})"
                for m in missing[:10]
            ]
            more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
            raise CheckpointError(
                f"checkpoint {ckpt.path} is missing {len(missing)} tensor(s): "
                + "; ".join(lines)
                + more
            )
        self._check_covered(model, targets)
        for t in targets:  # all shapes before any data is read
            for piece in t.pieces:
                shape = ckpt.shape(piece.source)
                if shape != piece.expected:
                    raise CheckpointError(
                        f"tensor '{piece.source}' in {ckpt.file_of(piece.source)} has shape "
                        f"{_fmt(shape)} but model parameter '{t.param_name}' needs "
                        f"{_fmt(piece.expected)}"
                    )
        consumed |= {p.source for t in targets for p in t.pieces}
        if strict:
            extra = [
                n
                for n in ckpt.names()
                if n not in consumed and not any(re.search(r, n) for r in self.IGNORED)
            ]
            if extra:
                shown = "; ".join(f"'{n}' {_fmt(ckpt.shape(n))}" for n in extra[:10])
                more = f" and {len(extra) - 10} more" if len(extra) > 10 else ""
                raise CheckpointError(
                    f"checkpoint {ckpt.path} has {len(extra)} tensor(s) the model does not "
                    f"use: {shown}{more} (pass strict=False to ignore them)"
                )
        return targets

    # -- planning --------------------------------------------------------------------------
    def _plan(self, model: nn.Module) -> tuple[list[_Target], set[str]]:
        n = self.names
        targets: list[_Target] = []
        consumed: set[str] = set()
        targets += self._module(model, "tok_embedding", n.embedding, "embedding")
        tied = (
            hasattr(model, "lm_head")
            and hasattr(model, "tok_embedding")
            and model.lm_head.weight is model.tok_embedding.weight
        )
        if tied:
            # The embedding fills the shared weight; a stored copy of the head is redundant.
            if n.lm_head:
                consumed.add(f"{n.lm_head}.weight")
            bias = model.lm_head.bias
            if bias is not None:
                if n.lm_head is None:
                    raise ConfigError("TensorNames.lm_head is not set but the model has 'lm_head'")
                name = f"{n.lm_head}.bias"
                targets.append(_Target("lm_head.bias", bias, [_Piece(name, tuple(bias.shape))]))
        else:
            targets += self._module(model, "lm_head", n.lm_head, "lm_head")
        targets += self._module(model, "final_norm", n.final_norm, "final_norm")
        blocks = getattr(model, "transformer_blocks", None)
        if blocks is None:
            raise ConfigError("the model has no 'transformer_blocks' to load into")
        for i, block in enumerate(blocks):
            targets += self._block(block, f"transformer_blocks.{i}", i)
        return targets, consumed

    def _module(
        self, root: nn.Module, path: str, template: str | None, field_name: str, index: int = 0
    ) -> list[_Target]:
        return self._direct(getattr(root, path, None), path, template, field_name, index)

    def _direct(
        self,
        module: nn.Module | None,
        path: str,
        template: str | None,
        field_name: str,
        index: int,
    ) -> list[_Target]:
        if module is None:
            return []
        params = [(s, p) for s, p in module.named_parameters(recurse=False) if p is not None]
        if not params:
            return []
        if template is None:
            raise ConfigError(f"TensorNames.{field_name} is not set but the model has '{path}'")
        name = template.format(index)
        return [
            _Target(f"{path}.{s}", p, [_Piece(f"{name}.{s}", tuple(p.shape))]) for s, p in params
        ]

    def _block(self, block: nn.Module, prefix: str, i: int) -> list[_Target]:
        n = self.names
        out: list[_Target] = []
        for attr, field_name in (
            ("pre_attn_norm", "pre_attn_norm"),
            ("post_attn_norm", "post_attn_norm"),
            ("pre_ff_norm", "pre_ff_norm"),
            ("post_ff_norm", "post_ff_norm"),
        ):
            out += self._direct(
                getattr(block, attr, None),
                f"{prefix}.{attr}",
                getattr(n, field_name),
                field_name,
                i,
            )
        attn = block.get_submodule("attention")
        ap = f"{prefix}.attention"
        out += self._direct(attn.o_proj, f"{ap}.o_proj", n.attn_output_proj, "attn_output_proj", i)
        for attr, field_name in (("q_norm", "attn_query_norm"), ("k_norm", "attn_key_norm")):
            out += self._direct(
                getattr(attn, attr, None), f"{ap}.{attr}", getattr(n, field_name), field_name, i
            )
        c = attn.config
        q_rows, kv_rows = c.num_heads * c.head_dim, c.num_kv_heads * c.head_dim
        out += self._fusable(
            attn,
            ap,
            i,
            fused=("qkv_proj", "attn_fused_qkv_proj"),
            parts=[
                ("q_proj", "attn_query_proj", q_rows),
                ("k_proj", "attn_key_proj", kv_rows),
                ("v_proj", "attn_value_proj", kv_rows),
            ],
        )
        ff = block.get_submodule("feed_forward")
        fp = f"{prefix}.feed_forward"
        out += self._direct(ff.down_proj, f"{fp}.down_proj", n.ff_down_proj, "ff_down_proj", i)
        hidden = ff.config.intermediate_size
        if ff.config.gated:
            out += self._fusable(
                ff,
                fp,
                i,
                fused=("gate_up_proj", "ff_gate_up_proj"),
                parts=[("gate_proj", "ff_gate_proj", hidden), ("up_proj", "ff_up_proj", hidden)],
            )
        else:
            out += self._direct(ff.up_proj, f"{fp}.up_proj", n.ff_up_proj, "ff_up_proj", i)
        return out

    def _fusable(
        self,
        module: nn.Module,
        prefix: str,
        i: int,
        fused: tuple[str, str],
        parts: list[tuple[str, str, int]],
    ) -> list[_Target]:
        """Targets for a projection stored fused or split, in the model and/or checkpoint."""
        ckpt, n = self.checkpoint, self.names
        fused_attr, fused_field = fused
        fused_tmpl = getattr(n, fused_field)
        fused_name = fused_tmpl.format(i) if fused_tmpl else None
        part_names = [
            (attr, fld, rows, getattr(n, fld).format(i) if getattr(n, fld) else None)
            for attr, fld, rows in parts
        ]
        ckpt_split = all(pn is not None and f"{pn}.weight" in ckpt for *_, pn in part_names)
        ckpt_fused = fused_name is not None and f"{fused_name}.weight" in ckpt
        total = sum(rows for _, _, rows, _ in part_names)
        have_split = all(pn for *_, pn in part_names)
        if fused_name is None and not have_split:
            missing_field = next(fld for _, fld, _, pn in part_names if pn is None)
            raise ConfigError(
                f"neither TensorNames.{fused_field} nor TensorNames.{missing_field} is set "
                f"but the model has '{prefix}'"
            )
        # Prefer the checkpoint's own layout; if it has neither, report the configured names.
        use_fused = ckpt_fused or (not ckpt_split and not have_split)
        out: list[_Target] = []
        for suffix in ("weight", "bias"):
            if hasattr(module, fused_attr):
                p = getattr(getattr(module, fused_attr), suffix)
                if p is None:
                    continue
                target = _Target(f"{prefix}.{fused_attr}.{suffix}", p)
                if use_fused:
                    target.pieces.append(_Piece(f"{fused_name}.{suffix}", tuple(p.shape)))
                else:
                    start = 0
                    for _, _, rows, pn in part_names:
                        target.pieces.append(
                            _Piece(
                                f"{pn}.{suffix}",
                                (rows, *p.shape[1:]),
                                dest_rows=(start, start + rows),
                            )
                        )
                        start += rows
                out.append(target)
                continue
            start = 0
            for attr, _, rows, pn in part_names:
                p = getattr(getattr(module, attr), suffix)
                if p is not None:
                    target = _Target(f"{prefix}.{attr}.{suffix}", p)
                    if use_fused:
                        target.pieces.append(
                            _Piece(
                                f"{fused_name}.{suffix}",
                                (total, *p.shape[1:]),
                                src_rows=(start, start + rows),
                            )
                        )
                    else:
                        target.pieces.append(_Piece(f"{pn}.{suffix}", tuple(p.shape)))
                    out.append(target)
                start += rows
        return out

    # -- checks and copying ----------------------------------------------------------------
    def _check_covered(self, model: nn.Module, targets: list[_Target]) -> None:
        covered = {id(t.param) for t in targets}
        for name, p in model.named_parameters():
            if id(p) not in covered:
                raise CheckpointError(
                    f"model parameter '{name}' {_fmt(tuple(p.shape))} has no checkpoint "
                    f"tensor mapped to it (check the TensorNames)"
                )

    def _copy(self, target: _Target) -> None:
        ckpt = self.checkpoint
        with torch.no_grad():
            for piece in target.pieces:
                src = ckpt.get(piece.source, piece.src_rows)
                dest = target.param
                if piece.dest_rows is not None:
                    dest = dest[piece.dest_rows[0] : piece.dest_rows[1]]
                dest.copy_(src)

    def _progress(self, targets: list[_Target]) -> list[_Target]:
        if not self.progress:
            return targets
        try:
            from tqdm.auto import tqdm
        except ImportError:  # the bar is optional
            return targets
        return tqdm(targets, desc=f"Loading {self.checkpoint.path.name}", unit="tensor")
