"""The shared version row of each coherence channel (identity/key_store.py).

A plain table, not a model: it is infrastructure read with one indexed SELECT, and a test flush
(which truncates model tables) must not reset it under running servers."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("identity", "0003_external_jwt_providers")]

    operations = [
        migrations.RunSQL(
            sql=[
                "CREATE TABLE identity_coherence_version "
                "(name varchar(64) NOT NULL PRIMARY KEY, version bigint NOT NULL)",
                "INSERT INTO identity_coherence_version (name, version) VALUES ('keys', 1)",
            ],
            reverse_sql=["DROP TABLE identity_coherence_version"],
        ),
    ]
