"""The toolkit's version, recorded in case files, manifests and generated lakes."""

__version__ = "0.1.0"
