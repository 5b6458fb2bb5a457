"""Quantization recipes: a default scheme plus per-layer overrides chosen by name patterns.

Recipe strings (``--quant``) are comma-separated: at most one bare scheme name (the
default, ``fp32`` when absent) and any number of ``pattern=scheme`` overrides::

    "int4"                          every weight int4 blockwise (block 32)
    "int4-b64,lm_head=int8"         int4 block 64, except lm_head which is int8
    "int8,transformer_blocks.0=fp16,re:.*\\.mlp\\..*=int4-b128"

Patterns are matched against litegen parameter names (``transformer_blocks.3.attn.q_proj
.weight``, ``lm_head.weight``, ``tok_embedding.weight``):

* a glob (``fnmatch``, case-sensitive, ``*`` also crosses dots) matches a name itself or,
  naming a module, everything under it: ``lm_head`` matches ``lm_head.weight``,
  ``transformer_blocks.1`` matches block 1 but not block 10;
* ``re:<regex>`` must match the whole name (``re.fullmatch``). Regexes in recipe strings
  cannot contain commas; build a :class:`QuantRecipe` in Python for those.

The **last** matching override wins, so put general rules first and exceptions after.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Literal

from litegen.quantize.errors import RecipeError
from litegen.quantize.schemes import (
    FP32,
    INT8,
    QuantScheme,
    WeightFormat,
    scheme_from_name,
)

if TYPE_CHECKING:
    import numpy as np

    from litegen.quantize.weights import QuantizedWeight

__all__ = ["USAGES", "LayerOverride", "QuantRecipe", "Usage", "parse_recipe"]

Usage = Literal["fully_connected", "embedding", "other"]
USAGES: tuple[str, ...] = ("fully_connected", "embedding", "other")
_REGEX_PREFIX = "re:"


@dataclass(frozen=True)
class LayerOverride:
    """Use ``scheme`` for parameters whose name matches ``pattern`` (see module docstring)."""

    pattern: str
    scheme: QuantScheme
    _regex: re.Pattern[str] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.pattern, str) or not self.pattern.strip():
            raise RecipeError(f"override pattern must be a non-empty string, got {self.pattern!r}")
        object.__setattr__(self, "pattern", self.pattern.strip())
        object.__setattr__(self, "scheme", scheme_from_name(self.scheme))
        if self.pattern.startswith(_REGEX_PREFIX):
            try:
                regex = re.compile(self.pattern[len(_REGEX_PREFIX) :])
            except re.error as exc:
                raise RecipeError(f"invalid regex in override {self.pattern!r}: {exc}") from None
            object.__setattr__(self, "_regex", regex)

    def matches(self, name: str) -> bool:
        if self._regex is not None:
            return self._regex.fullmatch(name) is not None
        # A module path selects everything below it (``lm_head`` -> ``lm_head.weight``).
        return fnmatchcase(name, self.pattern) or fnmatchcase(name, self.pattern + ".*")

    def __str__(self) -> str:
        return f"{self.pattern}={self.scheme.name}"


OverrideLike = LayerOverride | tuple[str, QuantScheme | str]


@dataclass(frozen=True)
class QuantRecipe:
    """Which scheme each weight gets: ``default`` unless an override's pattern matches.

    ``QuantRecipe(default=INT4_B32, overrides=[("lm_head*", INT8)])``; overrides may be
    given as ``(pattern, scheme or scheme name)`` pairs and are stored as a tuple.
    """

    default: QuantScheme = FP32
    overrides: Sequence[OverrideLike] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "default", scheme_from_name(self.default))
        normalized: list[LayerOverride] = []
        for item in self.overrides:
            if isinstance(item, LayerOverride):
                normalized.append(item)
            elif isinstance(item, tuple) and len(item) == 2:
                normalized.append(LayerOverride(item[0], item[1]))  # type: ignore[arg-type]
            else:
                raise RecipeError(
                    f"an override must be a LayerOverride or a (pattern, scheme) pair, got {item!r}"
                )
        object.__setattr__(self, "overrides", tuple(normalized))

    @classmethod
    def parse(cls, text: str | QuantRecipe | QuantScheme) -> QuantRecipe:
        """Parse a recipe string (module docstring); recipes and schemes pass through."""
        return parse_recipe(text)

    def scheme_for(
        self, names: str | Iterable[str], usage: Usage = "fully_connected"
    ) -> QuantScheme:
        """The scheme for a parameter, as the exporter must emit it for ``usage``.

        ``names`` is the parameter's name, or all its names when weights are tied (e.g.
        ``["tok_embedding.weight", "lm_head.weight"]``): an override matching any of them
        applies. ``usage`` says what reads the weight:

        * ``"fully_connected"``: the recipe's scheme as is;
        * ``"embedding"`` (a row lookup): as is, except that ``int8-weight-only`` becomes
          ``int8`` - a lookup dequantizes the rows it reads either way, and both store
          the same bytes;
        * ``"other"`` (norm scales, biases, rope tables...): always ``fp32``; these are
          small and read by kernels that take float only.
        """
        if usage not in USAGES:
            raise ValueError(f"usage must be one of {USAGES}, got {usage!r}")
        if usage == "other":
            return FP32
        all_names = [names] if isinstance(names, str) else list(names)
        scheme = self.default
        for override in self.overrides:
            if any(override.matches(n) for n in all_names):
                scheme = override.scheme
        if usage == "embedding" and scheme.format is WeightFormat.INT8_WEIGHT_ONLY:
            return INT8
        return scheme

    def quantize(
        self,
        array: np.ndarray,
        names: str | Sequence[str],
        usage: Usage = "fully_connected",
        *,
        stats: bool = True,
    ) -> QuantizedWeight:
        """``quantize(array, self.scheme_for(names, usage), name)`` (name: the first name)."""
        from litegen.quantize.weights import quantize  # the writer is not needed to parse

        name = names if isinstance(names, str) else next(iter(names))
        return quantize(array, self.scheme_for(names, usage), name, stats=stats)

    def schemes(self) -> tuple[QuantScheme, ...]:
        """Every scheme this recipe can hand out (default first)."""
        seen = [self.default]
        for o in self.overrides:
            if o.scheme not in seen:
                seen.append(o.scheme)
        return tuple(seen)

    def __str__(self) -> str:
        return ",".join([self.default.name, *(str(o) for o in self.overrides)])


def parse_recipe(text: str | QuantRecipe | QuantScheme) -> QuantRecipe:
    """Parse ``"int4-b64,lm_head=int8"`` into a :class:`QuantRecipe`.

    Raises:
        RecipeError: empty recipe, unknown scheme, two defaults, bad pattern.
    """
    if isinstance(text, QuantRecipe):
        return text
    if isinstance(text, QuantScheme):
        return QuantRecipe(default=text)
    if not isinstance(text, str) or not text.strip():
        raise RecipeError(f"a quantization recipe must be a non-empty string, got {text!r}")
    default: QuantScheme | None = None
    overrides: list[LayerOverride] = []
    for raw in text.split(","):
        item = raw.strip()
        if not item:
            raise RecipeError(f"empty item in quantization recipe {text!r}")
        if "=" in item:
            # rsplit: scheme names never contain '=', regex patterns may.
            pattern, scheme_name = item.rsplit("=", 1)
            if not pattern.strip():
                raise RecipeError(f"override {item!r} in recipe {text!r} has no pattern")
            overrides.append(LayerOverride(pattern, scheme_from_name(scheme_name)))
        elif default is not None:
            raise RecipeError(
                f"quantization recipe {text!r} names two default schemes "
                f"({default.name!r} and {item!r}); overrides are written pattern=scheme"
            )
        else:
            default = scheme_from_name(item)
    return QuantRecipe(default=default or FP32, overrides=tuple(overrides))
