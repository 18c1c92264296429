"""An index on a task's creation time, for the admin dashboard's last 24 hours and "Created" filter."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("bulktasks", "0011_export"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="bulktask",
            index=models.Index(fields=["created_at"], name="bulktask_created"),
        ),
    ]
