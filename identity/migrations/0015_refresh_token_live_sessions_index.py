# Written by hand: Django's AddIndex, built without blocking writes on PostgreSQL.

from django.db import migrations, models

from identity.migration_operations import AddIndexOnline


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
