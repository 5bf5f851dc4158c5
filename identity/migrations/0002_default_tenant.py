from django.db import migrations


def create_default_tenant(apps, schema_editor):
    Tenant = apps.get_model("identity", "Tenant")
    if not Tenant.objects.filter(is_default=True).exists():
        Tenant.objects.create(name="Default", issuer="acme.com", is_default=True)


class Migration(migrations.Migration):
    dependencies = [("identity", "0001_initial")]

    operations = [migrations.RunPython(create_default_tenant, migrations.RunPython.noop)]
