"""Migration operations of our own (imported by identity/migrations; keep their behaviour stable)."""

from __future__ import annotations

from typing import Any

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db.migrations import AddIndex


class AddIndexOnline(AddIndexConcurrently):
    """Django's AddIndexConcurrently (CREATE INDEX CONCURRENTLY) on PostgreSQL: on a deployment with
    millions of refresh tokens, a plain CREATE INDEX would hold logins and refreshes (every write to
    the table) for as long as the build takes. Other databases (SQLite for `make run`) build it as
    AddIndex does. A migration using it sets `atomic = False`."""

    def database_forwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)
        else:
            AddIndex.database_forwards(self, app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)
        else:
            AddIndex.database_backwards(self, app_label, schema_editor, from_state, to_state)
