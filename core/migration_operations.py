"""Migration operations that lock a big table for as short a time as each database allows."""

from __future__ import annotations

from typing import Any

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations


class AddIndexConcurrentlyOnPostgres(AddIndexConcurrently):
    """``CREATE INDEX CONCURRENTLY`` on PostgreSQL, a plain ``AddIndex`` anywhere else.

    A plain ``CREATE INDEX`` blocks every write to the table until the index is
    built, minutes on a table of millions of rows; built concurrently, writes go
    on. SQLite (development, tests) has no such thing and gets the plain index.
    The migration must say ``atomic = False``: PostgreSQL refuses a concurrent
    build inside a transaction. The migration state is the same either way.
    """

    def database_forwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        """Build the index concurrently on PostgreSQL, plainly elsewhere."""
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)
        else:
            migrations.AddIndex.database_forwards(
                self, app_label, schema_editor, from_state, to_state
            )

    def database_backwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        """Drop the index concurrently on PostgreSQL, plainly elsewhere."""
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)
        else:
            migrations.AddIndex.database_backwards(
                self, app_label, schema_editor, from_state, to_state
            )
