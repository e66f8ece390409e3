"""Errors the toolkit raises.  Every message says what was wrong and what to do."""
from __future__ import annotations

import pyarrow as pa


class SlakeError(Exception):
    """Base class of every error slake-forensics raises on purpose."""


class NotALakeError(SlakeError, FileNotFoundError):
    """A path or bucket does not hold a Security Lake layout."""


class UnknownSourceError(SlakeError, KeyError):
    """A source or table name is not one of the Security Lake v2 sources."""

    def __str__(self) -> str:  # KeyError would otherwise repr() the message
        return str(self.args[0]) if self.args else ""


class UnknownColumnError(SlakeError, KeyError):
    """A requested column does not exist in the table."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class BadWindowError(SlakeError, ValueError):
    """A time window is malformed (start after end, unparsable time)."""


class NoPartitionsError(SlakeError, LookupError):
    """No partition of the lake matches the requested window, accounts or regions."""


class AwsConfigError(SlakeError, RuntimeError):
    """AWS credentials or region are missing or wrong."""


class QueryError(SlakeError, RuntimeError):
    """A query failed; the message carries the engine's reason (and Athena query id)."""


class SandboxError(QueryError):
    """A query tried to read or write a file or URL outside the lake, or to install or load an extension."""


class SampleDataError(SlakeError, RuntimeError):
    """The bundled sample lake is missing or does not match its manifest."""


class BadConfigError(SlakeError, ValueError):
    """A configuration value (environment variable, config file, argument) is malformed."""


class CorruptFileError(SlakeError, OSError):
    """A data file of the lake cannot be read as Parquet (or cast to its source's schema)."""


UNREADABLE_PARQUET: tuple[type[Exception], ...] = (pa.ArrowException, OSError, UnicodeDecodeError)
"""What pyarrow raises on a file that is damaged, truncated or not Parquet: a flipped byte in a footer can
also leave a column name that is not UTF-8, which pyarrow reports only when the name is read."""


class SchemaMismatchError(SlakeError, ValueError):
    """A readable data file whose schema cannot be reconciled with its source's table (not a damaged file)."""


class MisplacedFileError(SlakeError, ValueError):
    """A readable data file that does not belong where it lies (e.g. its ``class_uid`` is not of the source in its key)."""


class BadArgumentError(SlakeError, ValueError, TypeError):
    """An argument of a public function has the wrong type, is empty, or is out of range; the message says what to pass."""


class QueryInterrupted(QueryError, KeyboardInterrupt):
    """A running query was stopped by Ctrl-C or a notebook's interrupt (DuckDB interrupted, Athena ``StopQueryExecution``).

    It is also a :class:`KeyboardInterrupt`, so ``except KeyboardInterrupt`` and a script's exit on Ctrl-C
    behave as before; loops that catch :class:`SlakeError` per item must re-raise it to stop.
    """


class QueryTimeout(QueryError, TimeoutError):
    """A query ran longer than its time limit (``timeout=`` or the ``query_timeout`` setting) and was stopped."""


class TooManyRowsError(QueryError):
    """A query's result has more rows than its limit (``max_rows=`` or the ``max_rows`` setting)."""


class AwsEndpointError(SlakeError, ConnectionError):
    """An AWS endpoint could not be reached or did not answer within the configured timeouts and retries."""
