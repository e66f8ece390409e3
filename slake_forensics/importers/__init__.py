"""Importers: map raw logs a responder brings to Security Lake v2 (OCSF 1.1.0) rows."""
