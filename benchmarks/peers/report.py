"""One row per runtime/config, ratios to litegen int8, the markdown table."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

BASELINE = "litegen int8"


@dataclass(frozen=True)
class Row:
    """One measured runtime/config. Speeds in tokens/s, times in seconds; None = not
    reported by that runtime (or it failed: see ``note``)."""

    name: str  # "runtime config", e.g. "LiteRT-LM int8 (warm cache)"
    file_bytes: int | None
    prefill_tokens_per_second: float | None
    decode_tokens_per_second: float | None
    time_to_first_token_seconds: float | None
    init_seconds: float | None
    peak_rss_bytes: int | None
    note: str = ""
    # what making the model file cost (its conversion, in its own process)
    convert_seconds: float | None = None
    convert_peak_rss_bytes: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # peer / litegen int8, filled by with_ratios (> 1: the peer is faster)
    prefill_ratio: float | None = None
    decode_ratio: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _ratio(value: float | None, base: float | None) -> float | None:
    if value is None or base is None or base <= 0:
        return None
    return value / base


def with_ratios(rows: Sequence[Row], baseline: str = BASELINE) -> list[Row]:
    """``rows`` with prefill/decode ratios to the row named ``baseline`` (None if it is
    missing or has no speed)."""
    base = next((r for r in rows if r.name == baseline), None)
    out = []
    for row in rows:
        out.append(
            replace(
                row,
                prefill_ratio=_ratio(
                    row.prefill_tokens_per_second,
                    base.prefill_tokens_per_second if base else None,
                ),
                decode_ratio=_ratio(
                    row.decode_tokens_per_second, base.decode_tokens_per_second if base else None
                ),
            )
        )
    return out


def _num(value: float | None, fmt: str) -> str:
    return "—" if value is None else format(value, fmt)


def _mb(value: int | None) -> str:
    if value is None:
        return "—"
    return f"{value / 1e6:.1f} MB" if value < 10e6 else f"{value / 1e6:.0f} MB"


def _gb(value: int | None) -> str:
    return "—" if value is None else f"{value / 1e9:.2f} GB"


def _seconds(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.3f} s" if value < 10 else f"{value:.1f} s"


def _x(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}x"


def _conversion(r: Row) -> str:
    if r.convert_seconds is None:
        return "—"
    return f"{_seconds(r.convert_seconds)}, {_gb(r.convert_peak_rss_bytes)}"


def markdown_table(rows: Sequence[Row], baseline: str = BASELINE) -> str:
    """The side-by-side table; the ratio columns are the peer's rate / litegen int8's;
    conversion: wall time and peak RSS of making the model file."""
    header = (
        "| runtime / config | file | prefill tok/s | decode tok/s | TTFT | init | peak RSS "
        f"| prefill / {baseline} | decode / {baseline} | conversion (wall, peak RSS) | note |"
    )
    lines = [header, "|" + "---|" * 11]
    for r in rows:
        cells = [
            r.name,
            _mb(r.file_bytes),
            _num(r.prefill_tokens_per_second, ".1f"),
            _num(r.decode_tokens_per_second, ".1f"),
            _seconds(r.time_to_first_token_seconds),
            _seconds(r.init_seconds),
            _gb(r.peak_rss_bytes),
            _x(r.prefill_ratio),
            _x(r.decode_ratio),
            _conversion(r),
            r.note.replace("|", "/"),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
