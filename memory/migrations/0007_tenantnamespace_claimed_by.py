from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("memory", "0006_apikey_can_review"),
    ]

    operations = [
        migrations.AddField(
            model_name="tenantnamespace",
            name="claimed_by",
            field=models.CharField(blank=True, max_length=200),
        ),
    ]
