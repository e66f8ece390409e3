"""slake-forensics: incident response over Amazon Security Lake (OCSF) in pandas."""
from __future__ import annotations

__version__ = "0.1.0"
