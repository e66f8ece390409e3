"""Lowest layer: errors, time windows and scopes, the source catalog and schemas, S3 key layout, OCSF types, configuration."""
