"""Login identifiers compare by one key (identity.login_ids.login_id_key) stored next to the raw
values; the unique constraints move from LOWER(email)/LOWER(username) to those keys.

Existing rows get their keys here. Two users of one tenant whose identifiers have the same key
(possible before: LOWER() and the key fold differently outside ASCII) stop the migration with their
ids, so an operator decides which account keeps the identifier instead of the migration guessing."""

from __future__ import annotations

from typing import Any

from django.db import migrations, models

from identity.login_ids import login_id_key


def fill_keys(apps: Any, schema_editor: Any) -> None:
    User = apps.get_model("identity", "User")
    seen: dict[tuple[str, Any, str], Any] = {}
    clashes: list[str] = []
    for user in User.objects.order_by("created_at").only("id", "tenant_id", "email", "username").iterator():
        user.email_key = login_id_key(user.email)
        user.username_key = login_id_key(user.username) if user.username else None
        for kind, key in (("email", user.email_key), ("username", user.username_key)):
            if key is None:
                continue
            first = seen.setdefault((kind, user.tenant_id, key), user.pk)
            if first != user.pk:
                clashes.append(f"{kind} {key!r}: users {first} and {user.pk}")
        User.objects.filter(pk=user.pk).update(email_key=user.email_key, username_key=user.username_key)
    if clashes:
        raise RuntimeError(
            "Users of one tenant share a login identifier once normalised (NFKC + case fold); change "
            "one of each pair, then migrate again:\n  " + "\n  ".join(clashes)
        )


class Migration(migrations.Migration):
    dependencies = [
        ("identity", "0004_key_store_version"),
    ]

    operations = [
        migrations.RemoveConstraint(model_name="user", name="identity_user_email_ci_per_tenant"),
        migrations.RemoveConstraint(model_name="user", name="identity_user_username_ci_per_tenant"),
        migrations.AddField(
            model_name="user",
            name="email_key",
            field=models.CharField(default="", editable=False, max_length=320),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="user",
            name="username_key",
            field=models.CharField(blank=True, editable=False, max_length=320, null=True),
        ),
        migrations.RunPython(fill_keys, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="user",
            constraint=models.UniqueConstraint(
                fields=("tenant", "email_key"), name="identity_user_email_key_per_tenant"
            ),
        ),
        migrations.AddConstraint(
            model_name="user",
            constraint=models.UniqueConstraint(
                fields=("tenant", "username_key"), name="identity_user_username_key_per_tenant"
            ),
        ),
    ]
