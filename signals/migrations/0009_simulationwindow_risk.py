from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("signals", "0008_signal_risk")]

    operations = [
        migrations.AddField(
            model_name="simulationwindow",
            name="risk",
            field=models.JSONField(
                blank=True,
                help_text=(
                    "the risk model fitted at its start (RiskModel.to_dict()); null: none could be"
                ),
                null=True,
            ),
        ),
    ]
