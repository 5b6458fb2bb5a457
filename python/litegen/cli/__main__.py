"""``python -m litegen.cli``."""

import sys

from litegen.cli.main import main

sys.exit(main())
