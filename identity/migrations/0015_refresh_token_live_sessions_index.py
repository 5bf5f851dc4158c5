# Written by hand: Django's AddIndex, built without blocking writes on PostgreSQL.

from django.db import migrations, models


class AddIndexOnline(migrations.AddIndex):
    """AddIndex, as CREATE INDEX CONCURRENTLY on PostgreSQL: on a deployment with millions of
    refresh tokens, a plain CREATE INDEX would hold logins and refreshes (every write to the
    table) for as long as the build takes. Other databases build it as AddIndex does."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        model = to_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            schema_editor.add_index(model, self.index, concurrently=True)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        model = from_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            schema_editor.remove_index(model, self.index, concurrently=True)


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ("identity", "0014_refresh_token_value_v2"),
    ]

    operations = [
        AddIndexOnline(
            model_name="refreshtoken",
            index=models.Index(
                condition=models.Q(("revoked_at__isnull", True)),
                fields=["user", "-created_at", "-id"],
                name="identity_rt_user_live",
            ),
        ),
    ]
