"""Python face of litegen's C++ runtime (LiteRT C API + XNNPack)."""

from litegen.runtime.model import Model, SignatureSpec, TensorSpec

__all__ = ["Model", "SignatureSpec", "TensorSpec"]
