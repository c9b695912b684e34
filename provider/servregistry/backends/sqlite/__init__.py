"""The embedded registry: one SQLite file (``registry``), no server."""

from servregistry.backends.sqlite.registry import SCHEMA_VERSION, SqliteRegistry

__all__ = ["SCHEMA_VERSION", "SqliteRegistry"]
