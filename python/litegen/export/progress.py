"""Progress reporting for conversions: stages (export, lowering...) and bytes written."""

from __future__ import annotations

import sys
from typing import Any, Protocol


class Progress(Protocol):
    """Receives conversion progress. ``stage`` starts a named step (``total_bytes`` set
    for the write step); ``advance`` reports bytes written."""

    def stage(self, name: str, total_bytes: int | None = None) -> None: ...

    def advance(self, nbytes: int) -> None: ...

    def close(self, ok: bool = True) -> None: ...


class NullProgress:
    def stage(self, name: str, total_bytes: int | None = None) -> None:
        pass

    def advance(self, nbytes: int) -> None:
        pass

    def close(self, ok: bool = True) -> None:
        pass


class TqdmProgress:
    """A tqdm display on stderr: one line per stage, a byte bar while writing."""

    def __init__(self, num_stages: int | None = None) -> None:
        from tqdm.auto import tqdm

        self._tqdm = tqdm
        self._stages: Any = tqdm(
            total=num_stages,
            desc="converting",
            unit="step",
            file=sys.stderr,
            leave=True,
            bar_format="{desc}: {n_fmt}/{total_fmt} steps [{elapsed}]",
        )
        self._bytes: Any = None

    def stage(self, name: str, total_bytes: int | None = None) -> None:
        if self._stages.n or self._stages.desc != "converting":
            self._stages.update(1)
        self._stages.set_description_str(name)
        if total_bytes is not None:
            self._bytes = self._tqdm(
                total=total_bytes,
                desc=name,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                file=sys.stderr,
                leave=False,
            )

    def advance(self, nbytes: int) -> None:
        if self._bytes is not None:
            self._bytes.update(nbytes)

    def close(self, ok: bool = True) -> None:
        if self._bytes is not None:
            self._bytes.close()
        if ok:
            self._stages.update(1)
            self._stages.set_description_str("done")
        self._stages.close()
