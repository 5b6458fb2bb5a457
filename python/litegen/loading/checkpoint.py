"""Lazy, read-only access to the tensors of a checkpoint.

Formats: safetensors (single file, or sharded with ``model.safetensors.index.json``) and
PyTorch pickles (``pytorch_model.bin``, optionally sharded with
``pytorch_model.bin.index.json``), always loaded with ``torch.load(weights_only=True)`` so no
arbitrary object is ever unpickled.
"""

from __future__ import annotations

import json
import math
import os
import pickle
import struct
from pathlib import Path
from typing import Any

import torch

from litegen.errors import CheckpointError

_SAFETENSORS_INDEX = "model.safetensors.index.json"
_SAFETENSORS_FILE = "model.safetensors"
_BIN_INDEX = "pytorch_model.bin.index.json"
_BIN_FILE = "pytorch_model.bin"
_BIN_SUFFIXES = (".bin", ".pt", ".pth")


class Checkpoint:
    """The tensors of a checkpoint directory or file, read on demand.

    ``path`` is a directory (HF layout: index json, ``model.safetensors``,
    ``pytorch_model.bin``, or any ``*.safetensors``) or a single weights file.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._files: dict[str, Path] = {}  # tensor name -> file holding it
        self._safetensors: dict[Path, Any] = {}  # open safe_open handles
        self._pickles: dict[Path, dict[str, torch.Tensor]] = {}
        self._readers: dict[Path, SafetensorsReader] = {}
        for file in self._discover():
            for name in self._names_in(file):
                self._files.setdefault(name, file)
        if not self._files:
            raise CheckpointError(f"checkpoint {self.path} contains no tensors")

    # -- discovery -------------------------------------------------------------------------
    def _discover(self) -> list[Path]:
        p = self.path
        if not p.exists():
            raise CheckpointError(f"checkpoint path {p} does not exist")
        if p.is_file():
            if p.name.endswith(".json"):
                return self._from_index(p)
            return [p]
        for index in (_SAFETENSORS_INDEX, _BIN_INDEX):
            if (p / index).is_file():
                return self._from_index(p / index)
        for single in (_SAFETENSORS_FILE, _BIN_FILE):
            if (p / single).is_file():
                return [p / single]
        found = sorted(p.glob("*.safetensors")) or sorted(
            f for f in p.iterdir() if f.suffix in _BIN_SUFFIXES
        )
        if not found:
            raise CheckpointError(
                f"no weights in {p}: expected {_SAFETENSORS_FILE}, {_SAFETENSORS_INDEX}, "
                f"{_BIN_FILE} or {_BIN_INDEX}"
            )
        return found

    def _from_index(self, index: Path) -> list[Path]:
        try:
            weight_map = json.loads(index.read_text())["weight_map"]
            if not isinstance(weight_map, dict):
                raise TypeError("weight_map is not an object")
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise CheckpointError(f"unreadable checkpoint index {index}: {e}") from e
        files = sorted({index.parent / f for f in weight_map.values()})
        for f in files:
            if not f.is_file():
                raise CheckpointError(f"checkpoint index {index} refers to missing shard {f}")
        indexed: dict[str, Path] = {n: index.parent / f for n, f in weight_map.items()}
        for f in files:
            names = set(self._names_in(f))
            for n, owner in indexed.items():
                if owner == f and n not in names:
                    raise CheckpointError(
                        f"checkpoint index {index} maps tensor '{n}' to {f.name}, "
                        f"which does not contain it"
                    )
        return files

    def _names_in(self, file: Path) -> list[str]:
        if file.suffix == ".safetensors":
            return list(self._open_safetensors(file).keys())
        return list(self._load_pickle(file).keys())

    def _open_safetensors(self, file: Path) -> Any:
        handle = self._safetensors.get(file)
        if handle is None:
            from safetensors import safe_open

            try:
                handle = safe_open(str(file), framework="pt", device="cpu")
            except Exception as e:  # the Rust error type is not importable portably
                raise CheckpointError(f"corrupt or unreadable safetensors file {file}: {e}") from e
            self._safetensors[file] = handle
        return handle

    def _load_pickle(self, file: Path) -> dict[str, torch.Tensor]:
        cached = self._pickles.get(file)
        if cached is not None:
            return cached
        try:
            try:
                obj = torch.load(file, map_location="cpu", weights_only=True, mmap=True)
            except RuntimeError:  # legacy (non-zip) format cannot be memory-mapped
                obj = torch.load(file, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as e:
            raise CheckpointError(
                f"{file} holds objects other than tensors; refusing to unpickle them "
                f"(weights_only=True): {e}"
            ) from e
        except Exception as e:
            raise CheckpointError(f"corrupt or unreadable PyTorch checkpoint {file}: {e}") from e
        for key in ("state_dict", "model"):  # common wrappers around the state dict
            if isinstance(obj, dict) and len(obj) == 1 and isinstance(obj.get(key), dict):
                obj = obj[key]
        if not isinstance(obj, dict):
            raise CheckpointError(f"{file} does not hold a dict of tensors")
        tensors = {k: v for k, v in obj.items() if isinstance(k, str) and torch.is_tensor(v)}
        self._pickles[file] = tensors
        return tensors

    # -- access ----------------------------------------------------------------------------
    def names(self) -> list[str]:
        """All tensor names, sorted."""
        return sorted(self._files)

    def __contains__(self, name: object) -> bool:
        return name in self._files

    def __len__(self) -> int:
        return len(self._files)

    def file_of(self, name: str) -> Path:
        """The file holding tensor ``name``."""
        return self._file(name)

    def _file(self, name: str) -> Path:
        try:
            return self._files[name]
        except KeyError:
            raise CheckpointError(f"checkpoint {self.path} has no tensor '{name}'") from None

    def shape(self, name: str) -> tuple[int, ...]:
        """Shape of tensor ``name`` without reading its data."""
        file = self._file(name)
        if file.suffix == ".safetensors":
            return tuple(self._open_safetensors(file).get_slice(name).get_shape())
        return tuple(self._load_pickle(file)[name].shape)

    def get(self, name: str, rows: tuple[int, int] | None = None) -> torch.Tensor:
        """Tensor ``name`` (or its ``rows`` [start, end) of dim 0) in its stored dtype."""
        file = self._file(name)
        if file.suffix == ".safetensors":
            try:
                handle = self._open_safetensors(file)
                if rows is None:
                    return handle.get_tensor(name)
                return handle.get_slice(name)[rows[0] : rows[1]]  # reads only those rows
            except Exception as e:
                raise CheckpointError(f"cannot read tensor '{name}' from {file}: {e}") from e
        tensor = self._load_pickle(file)[name]
        return tensor if rows is None else tensor[rows[0] : rows[1]]

    def read_rows(self, name: str, start: int, stop: int) -> torch.Tensor:
        """Rows [start, stop) of dim 0 of tensor ``name``, in its stored dtype, as a new
        tensor. safetensors files are read with ``pread`` rather than through a memory
        map: mapped pages count in the process's RSS for as long as the map lives, so
        streaming a whole checkpoint through one would grow RSS by the checkpoint's size.
        """
        file = self._file(name)
        if file.suffix != ".safetensors":
            return self.get(name, (start, stop)).clone()
        reader = self._readers.get(file)
        if reader is None:
            reader = self._readers[file] = SafetensorsReader(file)
        try:
            return reader.read_rows(name, start, stop)
        except (OSError, ValueError, KeyError) as e:
            raise CheckpointError(f"cannot read tensor '{name}' from {file}: {e}") from e


_ST_DTYPES: dict[str, torch.dtype] = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
}


class SafetensorsReader:
    """Reads row ranges of a safetensors file with ``os.pread`` (no memory map)."""

    def __init__(self, file: Path) -> None:
        self.file = file
        with open(file, "rb") as f:
            (size,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(size))
        self._base = 8 + size
        self._entries = {k: v for k, v in header.items() if k != "__metadata__"}
        self._fd = os.open(file, os.O_RDONLY)  # pread needs no seek: safe to share

    def __del__(self) -> None:
        fd = getattr(self, "_fd", None)
        if fd is not None:
            os.close(fd)

    def read_rows(self, name: str, start: int, stop: int) -> torch.Tensor:
        entry = self._entries[name]
        dtype = _ST_DTYPES[entry["dtype"]]
        shape = [int(d) for d in entry["shape"]]
        if not shape or not 0 <= start <= stop <= shape[0]:
            raise ValueError(f"rows [{start}, {stop}) out of range for shape {shape}")
        row_items = math.prod(shape[1:])
        itemsize = torch.empty(0, dtype=dtype).element_size()
        begin = self._base + int(entry["data_offsets"][0]) + start * row_items * itemsize
        out = torch.empty((stop - start, *shape[1:]), dtype=dtype)
        view = memoryview(out.numpy() if dtype != torch.bfloat16 else out.view(torch.int16).numpy())
        view = view.cast("B")
        done = 0
        while done < view.nbytes:
            n = os.preadv(self._fd, [view[done:]], begin + done)
            if n <= 0:
                raise OSError(f"unexpected end of file reading '{name}'")
            done += n
        return out
