"""Markdown tables for benchmark results (the sweep's dict, or one litegen bench run)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _spread(s: dict[str, Any], fmt: str) -> str:
    return f"{s['min']:{fmt}} - {s['max']:{fmt}}"


def sweep_markdown(result: dict[str, Any]) -> str:
    """The sweep as a title line and one table: median, spread, limit, % of the limit."""
    model, machine, settings = result["model"], result["machine"], result["settings"]
    limits = result.get("limits")
    before = " ".join(f"{v:.2f}" for v in machine["load_avg_before"])
    after = " ".join(f"{v:.2f}" for v in machine["load_avg_after"])
    lines = [
        f"**{Path(model['path']).name}**: {model['file_bytes'] / 1e6:.1f} MB file, "
        f"{model['matmul_params'] / 1e6:.1f} M matmul params "
        f"({model['weight_bytes'] / 1e6:.1f} MB of weights read per token, plus "
        f"{model.get('kv_bytes_per_position', 0) / 1e3:.1f} KB of KV cache per position "
        "attended), context "
        f"{model['max_context']}; {settings['threads']} threads on {machine['cpu']} "
        f"({machine['cpu_count']} CPUs, kernels {machine['isa']}); load average {before} "
        f"before, {after} after; median of {settings['repeat']} runs after "
        f"{settings['warmup']} warm-up, init {settings['init_repeat']} processes each.",
        "",
        "| measurement | median | min - max | limit | % of limit |",
        "|---|---|---|---|---|",
    ]
    init = result["init"]
    for label, key in (
        ("init, cold cache (s)", "cold_seconds"),
        ("init, warm cache (s)", "warm_seconds"),
    ):
        s = init[key]
        lines.append(f"| {label} | {s['median']:.3f} | {_spread(s, '.3f')} | | |")
    compute_limit = f"{limits['prefill_limit_tokens_per_second']:.1f}" if limits else ""
    for e in result["prefill"]:
        s = e["tokens_per_second"]
        pct = f"{e['percent_of_compute_limit']:.0f}%" if limits else ""
        lines.append(
            f"| prefill {e['prompt_tokens']} tokens (tok/s) | {s['median']:.1f} | "
            f"{_spread(s, '.1f')} | {compute_limit} | {pct} |"
        )
    for e in result["prefill"]:
        s = e["time_to_first_token_seconds"]
        lines.append(
            f"| time to first token, {e['prompt_tokens']}-token prompt (s) | {s['median']:.4f} | "
            f"{_spread(s, '.4f')} | | |"
        )
    for e in result["decode"]:
        s = e["tokens_per_second"]
        decode_limit = f"{e['bandwidth_limit_tokens_per_second']:.1f}" if limits else ""
        pct = f"{e['percent_of_bandwidth_limit']:.0f}%" if limits else ""
        depth = f"depth {e['prompt_tokens']}"
        if e["prompt_tokens"] != e["depth"]:
            depth += f" (for {e['depth']}: {e['decode_tokens']} steps end at the context)"
        lines.append(
            f"| decode at {depth} (tok/s) | {s['median']:.2f} | {_spread(s, '.2f')} | "
            f"{decode_limit} | {pct} |"
        )
    huge = [e.get("model_huge_page_bytes") for e in result["decode"]]
    if huge and all(h is not None for h in huge):
        # Decode reads weights through 4 KiB pages 12-16% slower: say which it measured.
        lines.append(
            f"| model in 2 MiB pages during decode (MB) | {min(huge) / 1e6:.0f} | "
            f"{min(huge) / 1e6:.0f} - {max(huge) / 1e6:.0f} | {model['file_bytes'] / 1e6:.0f} "
            f"(file) | {100 * min(huge) / model['file_bytes']:.0f}% |"
        )
    lines.append(
        f"| peak RSS, warm (GB) | {result['peak_rss_bytes'] / 1e9:.3f} | | "
        f"{model['file_bytes'] / 1e9:.3f} (file) | {100 * result['peak_rss_over_file_size']:.0f}% |"
    )
    lines.append(f"| peak RSS, cold init (GB) | {init['cold_peak_rss_bytes'] / 1e9:.3f} | | | |")
    if limits:
        passes = limits["bandwidth_passes_gb_per_s"]
        pages = "2 MiB pages" if limits.get("bandwidth_huge_pages") else "4 KiB pages"
        lines.append(
            f"| memory-read bandwidth (GB/s, best; {pages}; before and after) | "
            f"{limits['bandwidth_gb_per_s']:.1f} | {min(passes):.1f} - {max(passes):.1f} | | |"
        )
        shape = limits["compute_matmul_shape"]
        dims = f"{shape['rows']}x{shape['hidden']}x{shape['inner']}"
        lines.append(
            "| int8 matmul peak (GOPS, best of litegen's and XNNPack's kernels; "
            f"{dims}; before and after) | "
            f"{limits['compute_peak_gops']:.0f} | median {limits['compute_median_gops']:.0f} | | |"
        )
    return "\n".join(lines)


def single_markdown(result: dict[str, Any]) -> str:
    """One ``litegen bench`` run as a two-column table."""
    rows = [
        ("model", f"{result['model']} ({result['model_file_bytes'] / 1e6:.1f} MB)"),
        ("threads / kernels", f"{result['threads']} / {result['isa']}"),
        ("init (s)", f"{result['init_seconds']:.3f} ({result['weight_cache_state']} weight cache)"),
        (
            f"prefill {result['prompt_tokens']} tokens (tok/s)",
            f"{result['prefill_tokens_per_second']:.1f}",
        ),
        ("time to first token (s)", f"{result['time_to_first_token_seconds']:.4f}"),
        (
            f"decode {result['decode_tokens']} tokens at depth {result['prompt_tokens']} (tok/s)",
            f"{result['decode_tokens_per_second']:.2f}",
        ),
        ("peak RSS (MB)", f"{result['peak_rss_bytes'] / 1e6:.1f}"),
    ]
    if result.get("model_huge_page_bytes") is not None:
        rows.append(
            (
                "model in 2 MiB pages (MB)",
                f"{result['model_huge_page_bytes'] / 1e6:.1f} of "
                f"{result['model_file_bytes'] / 1e6:.1f}",
            )
        )
    limits = result.get("limits")
    if limits:
        rows += [
            (
                "decode % of bandwidth limit",
                f"{result['decode_percent_of_bandwidth_limit']:.0f}% of "
                f"{result['decode_limit_tokens_per_second']:.1f} tok/s "
                f"({limits['bandwidth_gb_per_s']:.1f} GB/s)",
            ),
            (
                "prefill % of compute limit",
                f"{result['prefill_percent_of_compute_limit']:.0f}% of "
                f"{limits['prefill_limit_tokens_per_second']:.1f} tok/s "
                f"({limits['compute_peak_gops']:.0f} GOPS)",
            ),
        ]
    lines = ["| | |", "|---|---|"] + [f"| {k} | {v} |" for k, v in rows]
    return "\n".join(lines)
