"""Which key signed each personal access token, so key retirement can keep it trusted while the
token lives. Tokens made before this column are attributed to the key their tenant (or their
application's JWT override) signs access tokens with now: the key that signed them unless a
rotation happened since, in which case the rotated-out key's usual retirement applies."""

import django.db.models.deletion
from django.db import migrations, models


def attribute_signers(apps, schema_editor):
    PersonalAccessToken = apps.get_model("identity", "PersonalAccessToken")
    pending = PersonalAccessToken.objects.filter(signing_key__isnull=True).select_related(
        "tenant", "application"
    )
    for token in pending.iterator():
        application = token.application
        key_id = None
        if application is not None and application.jwt_enabled:
            key_id = application.access_token_signing_key_id
        token.signing_key_id = key_id or token.tenant.access_token_signing_key_id
        if token.signing_key_id is not None:
            token.save(update_fields=["signing_key"])


class Migration(migrations.Migration):

    dependencies = [
        ("identity", "0010_events_audit_webhooks"),
    ]

    operations = [
        migrations.AddField(
            model_name="personalaccesstoken",
            name="signing_key",
            field=models.ForeignKey(
                blank=True,
                editable=False,
                help_text="The key that signed the token: kept trusted while the token lives.",
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="personal_access_tokens",
                to="identity.signingkey",
            ),
        ),
        migrations.RunPython(attribute_signers, migrations.RunPython.noop),
    ]
