"""Feed-forward (MLP) layers: gated (SwiGLU/GeGLU) and plain."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from litegen.authoring import ops
from litegen.authoring.config import FeedForwardConfig
from litegen.errors import ConfigError

ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = ops.GLU_ACTIVATIONS


def get_activation(name: str) -> Callable[[torch.Tensor], torch.Tensor]:
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise ConfigError(
            f"unsupported activation {name!r}; supported: {sorted(ACTIVATIONS)}"
        ) from None


class FeedForward(nn.Module):
    """``down(act(gate(x)) * up(x))`` when gated, else ``down(act(up(x)))``.

    With ``gate_up_fused`` one ``gate_up_proj`` produces ``[gate; up]`` (Phi-3 layout; the
    fast export fuses every gated layer so) and ``litegen::glu`` gates it in one node.
    """

    def __init__(self, dim: int, config: FeedForwardConfig) -> None:
        super().__init__()
        self.config = config
        self.act = get_activation(config.activation)
        hidden, bias = config.intermediate_size, config.use_bias
        if config.gated and config.gate_up_fused:
            self.gate_up_proj = nn.Linear(dim, 2 * hidden, bias=bias)
        else:
            if config.gated:
                self.gate_proj = nn.Linear(dim, hidden, bias=bias)
            self.up_proj = nn.Linear(dim, hidden, bias=bias)
        self.down_proj = nn.Linear(hidden, dim, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.config.gated:
            return self.down_proj(self.act(self.up_proj(x)))
        if self.config.gate_up_fused:
            return self.down_proj(ops.glu(self.gate_up_proj(x), self.config.activation))
        return self.down_proj(self.act(self.gate_proj(x)) * self.up_proj(x))
