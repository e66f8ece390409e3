"""``python -m slake_forensics …``: see :mod:`slake_forensics.cli`."""
from .cli import main

raise SystemExit(main())
