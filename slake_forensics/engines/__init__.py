"""Lake engines: where the data is read from and which SQL engine runs queries.

``local`` (Parquet below a folder, DuckDB) lives here; ``s3`` and ``athena`` subclass
:class:`slake_forensics.lake.Lake` the same way.
"""
