"""`litegen.runtime.Model`: run any signature of a .tflite file on the CPU from Python."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from litegen.errors import InputError, ModelLoadError, SignatureError
from litegen.runtime._native import load_extension


@dataclass(frozen=True)
class TensorSpec:
    """One signature input or output. ``-1`` in ``shape`` marks a dynamic dimension."""

    name: str
    dtype: np.dtype
    shape: tuple[int, ...]

    @property
    def is_dynamic(self) -> bool:
        return any(d < 0 for d in self.shape)


@dataclass(frozen=True)
class SignatureSpec:
    name: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]


def default_cache_dir() -> Path:
    """Where weight caches go unless a path is given: $LITEGEN_CACHE_DIR, else the user cache."""
    if env := os.environ.get("LITEGEN_CACHE_DIR"):
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "litegen"


def default_weight_cache_path(model_path: Path) -> Path:
    """The cache file for a model: ``xnnpack/<stem>-<hash of its absolute path>``.

    One file per model path, the same one ``litegen-run`` picks (FNV-1a 64 of the resolved
    path): a rewritten model reuses it, because the runtime's fingerprint check (model
    path, size, mtime and inode) discards a cache built for an older version first.
    Keying the name on the version too would leave a stale cache behind (often as large
    as the model) at every re-conversion.
    """
    absolute = model_path.resolve()
    digest = 0xCBF29CE484222325  # FNV-1a, 64 bits
    for byte in os.fsencode(absolute):
        digest = ((digest ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return default_cache_dir() / "xnnpack" / f"{absolute.stem}-{digest:016x}.xnnpack_cache"


def resolve_weight_cache_path(
    model_path: Path, weight_cache_path: str | os.PathLike[str] | None, weight_cache: bool
) -> Path | None:
    """The cache file to use (None when disabled), with its directory created."""
    if not weight_cache:
        return None
    cache = (
        Path(weight_cache_path)
        if weight_cache_path is not None
        else default_weight_cache_path(model_path)
    )
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelLoadError(
            f"cannot create the weight-cache directory '{cache.parent}': {exc.strerror}"
        ) from exc
    if weight_cache_path is None:  # our own directory: drop caches nobody can use again
        load_extension().prune_stale_weight_caches(str(cache.parent))
    return cache


def _spec(entry: dict[str, Any]) -> TensorSpec:
    return TensorSpec(entry["name"], np.dtype(entry["dtype"]), tuple(entry["shape"]))


class Model:
    """A compiled .tflite model (LiteRT CPU / XNNPack).

    Args:
        path: the .tflite file.
        num_threads: XNNPack worker threads.
        weight_cache_path: XNNPack weight-cache file. With a cache, signatures that share
            weights share their packed form (one copy in memory) and later loads map the
            file instead of repacking. ``None`` picks a file under the user cache
            directory (see :func:`default_weight_cache_path`).
        weight_cache: set False to run without a weight cache.

    Raises:
        ModelLoadError: missing, unreadable or corrupt file, or a custom op the runtime
            does not provide.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        num_threads: int = 2,
        weight_cache_path: str | os.PathLike[str] | None = None,
        weight_cache: bool = True,
    ) -> None:
        native = load_extension()
        self.path = Path(path)
        if isinstance(num_threads, bool) or not isinstance(num_threads, int) or num_threads < 1:
            raise InputError(f"num_threads must be a positive integer, got {num_threads!r}")
        if not self.path.is_file():
            reason = "no such file" if not self.path.exists() else "not a regular file"
            raise ModelLoadError(f"cannot open model file '{self.path}': {reason}")
        self.weight_cache_path = resolve_weight_cache_path(
            self.path, weight_cache_path, weight_cache
        )
        self.num_threads = num_threads
        self._native = native.NativeModel(
            str(self.path), num_threads, str(self.weight_cache_path or "")
        )
        self.signatures: dict[str, SignatureSpec] = {
            entry["name"]: SignatureSpec(
                entry["name"],
                tuple(_spec(e) for e in entry["inputs"]),
                tuple(_spec(e) for e in entry["outputs"]),
            )
            for entry in self._native.signatures()
        }

    @property
    def custom_ops(self) -> list[str]:
        """Custom op names the model uses."""
        return list(self._native.custom_ops())

    @property
    def fully_accelerated(self) -> bool:
        """True when XNNPack runs every op (false with custom ops or unsupported ops)."""
        return bool(self._native.fully_accelerated())

    def run(self, signature: str, **inputs: np.ndarray) -> dict[str, np.ndarray]:
        """Runs one signature; inputs by name, outputs by name. Inputs are not modified.

        Raises:
            SignatureError: unknown signature.
            InputError: missing or unexpected input, wrong dtype or shape.
            ExecutionError: the run failed.
        """
        if signature not in self.signatures:
            known = ", ".join(repr(s) for s in self.signatures)
            raise SignatureError(
                f"model '{self.path}' has no signature {signature!r} (available: {known})"
            )
        return self._native.run(signature, inputs)

    def __repr__(self) -> str:
        names = ", ".join(self.signatures)
        return f"Model('{self.path}', signatures=[{names}], num_threads={self.num_threads})"
