"""``python -m slake_forensics …``: see :mod:`slake_forensics.tooling.cli`."""
from slake_forensics.tooling.cli import main

raise SystemExit(main())
