"""``python -m bench``: run the benchmark suite (see :mod:`bench.cli`)."""
import sys

from .cli import main

sys.exit(main())
