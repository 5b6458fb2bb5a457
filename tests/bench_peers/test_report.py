"""Ratios to litegen int8 and the markdown table (benchmarks/peers/report.py)."""

from __future__ import annotations

import pytest
from benchmarks.peers.report import BASELINE, Row, markdown_table, with_ratios


def _row(name: str, prefill: float | None, decode: float | None, **kw: object) -> Row:
    return Row(name, 1_000_000, prefill, decode, 0.25, 0.05, 2_000_000_000, **kw)  # type: ignore[arg-type]


def test_ratios_are_peer_over_litegen_int8() -> None:
    rows = with_ratios(
        [_row("LiteRT-LM int8", 630.0, 58.0), _row(BASELINE, 700.0, 40.0), _row("x", None, 20.0)]
    )
    by_name = {r.name: r for r in rows}
    assert by_name["LiteRT-LM int8"].prefill_ratio == pytest.approx(630.0 / 700.0)
    assert by_name["LiteRT-LM int8"].decode_ratio == pytest.approx(58.0 / 40.0)
    assert by_name[BASELINE].prefill_ratio == pytest.approx(1.0)
    assert by_name["x"].prefill_ratio is None
    assert by_name["x"].decode_ratio == pytest.approx(0.5)
    assert [r.name for r in rows] == ["LiteRT-LM int8", BASELINE, "x"]  # order kept


def test_no_ratios_without_a_usable_baseline() -> None:
    missing = with_ratios([_row("peer", 100.0, 10.0)])
    assert missing[0].prefill_ratio is None and missing[0].decode_ratio is None
    zero = with_ratios([_row(BASELINE, 0.0, None), _row("peer", 100.0, 10.0)])
    assert zero[1].prefill_ratio is None and zero[1].decode_ratio is None


def test_markdown_table_cells() -> None:
    failed = Row("llama.cpp Q8_0", None, None, None, None, None, None, note="failed: a|b")
    base = _row(BASELINE, 500.0, 50.0, convert_seconds=19.04, convert_peak_rss_bytes=478_000_000)
    rows = with_ratios([base, _row("peer", 250.0, 75.0), failed])
    lines = markdown_table(rows).splitlines()
    assert len(lines) == 2 + len(rows)
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in lines]
    assert all(len(c) == len(cells[0]) == 11 for c in cells)
    assert set(lines[1].replace("|", "")) == {"-"}
    peer = cells[3]
    assert peer[0] == "peer"
    assert peer[2] == "250.0" and peer[3] == "75.0"
    assert peer[7] == "0.50x" and peer[8] == "1.50x"
    assert peer[6] == "2.00 GB" and peer[1] == "1.0 MB"
    assert peer[9] == "—"  # no conversion recorded
    assert cells[2][9] == "19.0 s, 0.48 GB"
    broken = cells[4]
    assert broken[1:10] == ["—"] * 9
    assert broken[10] == "failed: a/b"  # a '|' would split the cell


def test_rows_serialise() -> None:
    row = with_ratios([_row(BASELINE, 500.0, 50.0, extra={"convert": {"wall_seconds": 3.0}})])[0]
    data = row.as_dict()
    assert data["name"] == BASELINE and data["extra"]["convert"]["wall_seconds"] == 3.0
    assert data["decode_ratio"] == 1.0
