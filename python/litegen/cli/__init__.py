"""litegen's command line (``litegen ...`` or ``python -m litegen.cli ...``)."""

from litegen.cli.main import main

__all__ = ["main"]
