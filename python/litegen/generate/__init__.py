"""Text generation with litegen's C++ engine (prefill/decode loop, KV cache, sampler)."""

from litegen.generate.generator import (
    ChatTemplateError,
    GenerationResult,
    GenerationStats,
    Generator,
    Session,
    Tokenizer,
    litegen_run_path,
)

__all__ = [
    "ChatTemplateError",
    "GenerationResult",
    "GenerationStats",
    "Generator",
    "Session",
    "Tokenizer",
    "litegen_run_path",
]
