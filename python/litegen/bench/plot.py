"""PNG plot of a sweep: prefill tokens/s by prompt length and decode tokens/s by depth,
medians with min-max bars, and the compute / bandwidth limits as dashed lines. Needs
matplotlib (the ``bench`` extra)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from litegen.bench.errors import BenchmarkError


def plot_sweep(result: dict[str, Any], path: Path) -> Path:
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only, no display
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise BenchmarkError(
            "plotting needs matplotlib: pip install 'litegen[bench]' (or pass --no-plot)"
        ) from e

    limits = result.get("limits")
    fig, (ax_p, ax_d) = plt.subplots(1, 2, figsize=(11, 4.2))
    # The compute limit is one number; the bandwidth limit falls with depth (KV cache reads).
    prefill, decode = result["prefill"], result["decode"]
    panels = (
        (ax_p, prefill, "prompt tokens", "prefill tokens/s", "compute limit",
         [limits["prefill_limit_tokens_per_second"]] * len(prefill) if limits else []),
        (ax_d, decode, "context depth", "decode tokens/s", "bandwidth limit",
         [e["bandwidth_limit_tokens_per_second"] for e in decode] if limits else []),
    )  # fmt: skip
    for ax, entries, x_label, y_label, limit_label, limit_ys in panels:
        xs = [e["prompt_tokens"] for e in entries]
        med = [e["tokens_per_second"]["median"] for e in entries]
        lo = [m - e["tokens_per_second"]["min"] for m, e in zip(med, entries, strict=True)]
        hi = [e["tokens_per_second"]["max"] - m for m, e in zip(med, entries, strict=True)]
        ax.errorbar(xs, med, yerr=[lo, hi], marker="o", capsize=4, label="litegen (median)")
        if limit_ys:
            ax.plot(xs, limit_ys, linestyle="--", color="gray", label=limit_label)
        ax.set_xscale("log", base=2)
        ax.set_xticks(xs, [str(x) for x in xs])
        ax.set_xlabel(x_label)
        ax.set_ylabel(y_label)
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
        ax.legend()
    settings = result["settings"]
    fig.suptitle(f"{Path(result['model']['path']).name}, {settings['threads']} threads")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
