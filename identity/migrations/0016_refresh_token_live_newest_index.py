# Written by hand: Django's AddIndex, built without blocking writes on PostgreSQL.

from django.db import migrations, models

from identity.migration_operations import AddIndexOnline


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ("identity", "0015_refresh_token_live_sessions_index"),
    ]

    operations = [
        AddIndexOnline(
            model_name="refreshtoken",
            index=models.Index(
                condition=models.Q(("revoked_at__isnull", True)),
                fields=["-created_at", "-id"],
                name="identity_rt_live_newest",
            ),
        ),
    ]
