"""Writing many rows at once, faster than the ORM's bulk_create and bulk_update.

The ORM prepares every value of every object through its field classes, which
costs tens of microseconds a row. An import of a million lines cannot afford
that, so rows are written as plain tuples: with COPY on PostgreSQL and a
prepared executemany elsewhere. Values must already be what the database
stores (use ``db_datetime`` for timestamps); the caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import Model

from core.rows import column_of


def db_datetime(value: datetime) -> Any:
    """A timezone-aware datetime as this database's driver wants it."""
    return connection.ops.adapt_datetimefield_value(value)


def _columns(model: type[Model], fields: Sequence[str]) -> tuple[str, list[str]]:
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    return table, [quote(column_of(model, name)) for name in fields]


def rows_insert(model: type[Model], fields: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Insert rows of values, in ``fields`` order, into the model's table."""
    table, columns = _columns(model, fields)
    with connection.cursor() as cursor, connection.wrap_database_errors:
        if connection.vendor == "postgresql":
            sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
            with cursor.cursor.copy(sql) as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            placeholders = ", ".join(["%s"] * len(columns))
            cursor.executemany(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})",  # noqa: S608
                list(rows),
            )


def rows_update(
    model: type[Model], fields: Sequence[str], rows: Iterable[Sequence[Any]], *, key: str = "id"
) -> None:
    """Update ``fields`` of many rows; each row is its new values followed by its key."""
    table, columns = _columns(model, fields)
    _, (key_column,) = _columns(model, [key])
    assignments = ", ".join(f"{column} = %s" for column in columns)
    with connection.cursor() as cursor:
        # psycopg pipelines an executemany, so this is one round trip per batch.
        cursor.executemany(
            f"UPDATE {table} SET {assignments} WHERE {key_column} = %s",  # noqa: S608
            list(rows),
        )
