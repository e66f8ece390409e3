"""The Athena-SQL layer: building load queries and bound parameters, and translating Athena (Trino) SQL to DuckDB."""
