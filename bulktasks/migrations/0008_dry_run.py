from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("bulktasks", "0007_cancel"),
    ]

    operations = [
        migrations.AddField(
            model_name="bulktask",
            name="dry_run",
            field=models.BooleanField(
                default=False,
                help_text="Decide and report every line as a real run would, and write nothing.",
                verbose_name="dry run",
            ),
        ),
    ]
