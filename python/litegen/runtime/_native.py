"""Loads the compiled extension after checking the LiteRT runtime it was built against."""

from __future__ import annotations

import importlib
import importlib.metadata
from types import ModuleType

from litegen.errors import NativeExtensionError, RuntimeVersionError

# The extension declares the LiteRT C ABI of exactly this ai-edge-litert release.
REQUIRED_LITERT_VERSION = "2.3.0"


def installed_litert_version() -> str | None:
    try:
        return importlib.metadata.version("ai-edge-litert")
    except importlib.metadata.PackageNotFoundError:
        return None


def load_extension() -> ModuleType:
    """Returns ``litegen._litegen``, or raises a typed error saying what to fix."""
    version = installed_litert_version()
    if version != REQUIRED_LITERT_VERSION:
        found = "is not installed" if version is None else f"{version} is installed"
        raise RuntimeVersionError(
            f"litegen needs ai-edge-litert=={REQUIRED_LITERT_VERSION} (its native runtime links "
            f"that release's C ABI), but ai-edge-litert {found}. "
            f"Run: pip install ai-edge-litert=={REQUIRED_LITERT_VERSION}"
        )
    try:
        extension = importlib.import_module("litegen._litegen")
    except ImportError as exc:
        raise NativeExtensionError(
            f"the litegen native extension could not be loaded ({exc}); reinstall litegen "
            "(make install) so that the C++ runtime is built"
        ) from exc
    if version != extension.LITERT_ABI_VERSION:
        raise RuntimeVersionError(
            f"litegen._litegen was built for ai-edge-litert {extension.LITERT_ABI_VERSION}, "
            f"but {version} is installed; rebuild litegen"
        )
    return extension
