"""Typed errors of the quantization package (subclasses of litegen's error hierarchy)."""

from __future__ import annotations

from litegen.errors import ConfigError, ExportError

__all__ = ["QuantizationError", "RecipeError"]


class RecipeError(ConfigError):
    """A quantization recipe string or scheme name is invalid."""


class QuantizationError(ExportError):
    """A weight cannot be stored in the requested form (shape, range or non-finite values)."""
