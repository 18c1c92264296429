"""An index on a task's creation time, for the admin dashboard's last 24 hours and "Created" filter."""

from django.db import migrations, models

from core.migration_operations import AddIndexConcurrentlyOnPostgres


class Migration(migrations.Migration):
    # Built concurrently on PostgreSQL, which cannot happen in a transaction:
    # tasks go on being created and updated while the index is built.
    atomic = False

    dependencies = [
        ("bulktasks", "0011_export"),
    ]

    operations = [
        AddIndexConcurrentlyOnPostgres(
            model_name="bulktask",
            index=models.Index(fields=["created_at"], name="bulktask_created"),
        ),
    ]
