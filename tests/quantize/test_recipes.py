"""Scheme names and recipes: parsing, canonical names, per-layer overrides, usages."""

from __future__ import annotations

import pytest

from litegen.errors import ConfigError
from litegen.quantize import (
    FP16,
    FP32,
    INT4_B32,
    INT4_B64,
    INT4_B128,
    INT4_CHANNEL,
    INT8,
    INT8_WEIGHT_ONLY,
    LayerOverride,
    QuantRecipe,
    QuantScheme,
    RecipeError,
    WeightFormat,
    parse_recipe,
    scheme_from_name,
)

Q_PROJ = "transformer_blocks.3.attn.q_proj.weight"


@pytest.mark.parametrize(
    ("name", "scheme"),
    [
        ("none", FP32),
        ("fp32", FP32),
        ("FP16", FP16),
        ("int8", INT8),
        ("int8-weight-only", INT8_WEIGHT_ONLY),
        ("int8_weight_only", INT8_WEIGHT_ONLY),
        ("int4", INT4_B32),
        ("int4-b32", INT4_B32),
        ("int4-b64", INT4_B64),
        ("int4-b128", INT4_B128),
        ("int4-b256", QuantScheme(WeightFormat.INT4_BLOCK, 256)),
        ("int4-ch", INT4_CHANNEL),
    ],
)
def test_scheme_names(name: str, scheme: QuantScheme) -> None:
    assert scheme_from_name(name) == scheme
    assert scheme_from_name(scheme.name) == scheme  # canonical names round-trip


@pytest.mark.parametrize("name", ["int3", "int4-b48", "int4-b0", "int4-b", "", "fp8"])
def test_bad_scheme_names(name: str) -> None:
    with pytest.raises(RecipeError):
        scheme_from_name(name)


def test_recipe_errors_are_config_errors() -> None:
    assert issubclass(RecipeError, ConfigError)


def test_scheme_properties() -> None:
    assert INT4_B64.name == "int4-b64" and str(INT4_B64) == "int4-b64"
    assert [s.storage_bits for s in (FP32, FP16, INT8, INT4_B32)] == [32, 16, 8, 4]
    assert INT8.dynamic_range and INT4_B32.dynamic_range and INT4_CHANNEL.dynamic_range
    assert not INT8_WEIGHT_ONLY.dynamic_range and not FP16.dynamic_range
    with pytest.raises(RecipeError):
        QuantScheme(WeightFormat.INT8, 32)  # only blockwise int4 takes a block size


def test_single_scheme_recipe() -> None:
    recipe = parse_recipe("int4")
    assert recipe == QuantRecipe(default=INT4_B32)
    for name in (Q_PROJ, "lm_head.weight", "tok_embedding.weight"):
        assert recipe.scheme_for(name) == INT4_B32


def test_override_from_string() -> None:
    recipe = parse_recipe("int4-b64, lm_head=int8")
    assert recipe.scheme_for("lm_head.weight") == INT8
    assert recipe.scheme_for(Q_PROJ) == INT4_B64
    assert recipe.scheme_for("tok_embedding.weight", "embedding") == INT4_B64
    assert str(recipe) == "int4-b64,lm_head=int8"
    assert parse_recipe(str(recipe)) == recipe


def test_override_from_python_matches_string_form() -> None:
    recipe = QuantRecipe(default=INT4_B32, overrides=[("lm_head*", INT8)])
    assert recipe.overrides == (LayerOverride("lm_head*", INT8),)
    assert recipe.scheme_for("lm_head.weight") == INT8
    assert recipe == parse_recipe("int4,lm_head*=int8")


def test_module_patterns_select_their_subtree() -> None:
    recipe = parse_recipe("int8,transformer_blocks.1=fp16")
    assert recipe.scheme_for("transformer_blocks.1.mlp.up_proj.weight") == FP16
    assert recipe.scheme_for("transformer_blocks.10.mlp.up_proj.weight") == INT8
    assert recipe.scheme_for("transformer_blocks.1") == FP16


def test_globs_and_last_match_wins() -> None:
    recipe = parse_recipe("int4,*.mlp.*=int8,transformer_blocks.0.mlp.down_proj=fp32")
    assert recipe.scheme_for("transformer_blocks.0.mlp.up_proj.weight") == INT8
    assert recipe.scheme_for("transformer_blocks.0.mlp.down_proj.weight") == FP32
    assert recipe.scheme_for("transformer_blocks.5.mlp.down_proj.weight") == INT8
    assert recipe.scheme_for(Q_PROJ) == INT4_B32


def test_regex_override() -> None:
    recipe = parse_recipe(r"int8,re:transformer_blocks\.[0-2]\..*=int4-b128")
    assert recipe.scheme_for("transformer_blocks.2.attn.o_proj.weight") == INT4_B128
    assert recipe.scheme_for("transformer_blocks.3.attn.o_proj.weight") == INT8
    # fullmatch: a regex matching only a prefix does not apply
    assert parse_recipe("int8,re:lm_head=fp16").scheme_for("lm_head.weight") == INT8
    with pytest.raises(RecipeError, match="invalid regex"):
        parse_recipe("int8,re:([=fp16")


def test_overrides_only_default_to_fp32() -> None:
    recipe = parse_recipe("lm_head=int8")
    assert recipe.default == FP32
    assert recipe.scheme_for(Q_PROJ) == FP32


def test_tied_weights_match_any_name() -> None:
    recipe = parse_recipe("int4,lm_head=int8")
    tied = ["tok_embedding.weight", "lm_head.weight"]
    assert recipe.scheme_for(tied, "fully_connected") == INT8
    assert recipe.scheme_for(tied, "embedding") == INT8
    assert recipe.scheme_for("tok_embedding.weight", "embedding") == INT4_B32


def test_usages() -> None:
    recipe = parse_recipe("int8-weight-only")
    assert recipe.scheme_for(Q_PROJ, "fully_connected") == INT8_WEIGHT_ONLY
    # A lookup dequantizes its rows either way; both forms store the same bytes.
    assert recipe.scheme_for("tok_embedding.weight", "embedding") == INT8
    assert recipe.scheme_for("final_norm.weight", "other") == FP32
    assert parse_recipe("int4").scheme_for("transformer_blocks.0.attn.q_proj.bias", "other") == FP32
    with pytest.raises(ValueError, match="usage"):
        recipe.scheme_for(Q_PROJ, "conv")  # type: ignore[arg-type]


def test_schemes_lists_every_scheme_once() -> None:
    recipe = parse_recipe("int4,lm_head=int8,tok_embedding=int8,*.mlp.*=int4")
    assert recipe.schemes() == (INT4_B32, INT8)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "non-empty"),
        ("int4,int8", "two default"),
        ("int4,,lm_head=int8", "empty item"),
        ("int4,=int8", "no pattern"),
        ("int4,lm_head=int5", "unknown quantization scheme"),
        ("int4-b40", "multiple of 32"),
    ],
)
def test_bad_recipes(text: str, match: str) -> None:
    with pytest.raises(RecipeError, match=match):
        parse_recipe(text)


def test_parse_passes_recipes_and_schemes_through() -> None:
    recipe = QuantRecipe(default=INT8)
    assert parse_recipe(recipe) is recipe
    assert QuantRecipe.parse(FP16) == QuantRecipe(default=FP16)
