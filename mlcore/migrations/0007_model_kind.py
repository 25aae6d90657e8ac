"""A model version's kind in a field: the universe model was told apart by its series name."""

from django.db import migrations, models


def kinds_from_names(apps, schema_editor):
    ModelVersion = apps.get_model("mlcore", "ModelVersion")
    ModelVersion.objects.filter(symbol="UNIVERSE").update(kind="universe")


class Migration(migrations.Migration):
    dependencies = [("mlcore", "0006_risk_model")]

    operations = [
        migrations.AddField(
            model_name="modelversion",
            name="kind",
            field=models.CharField(
                choices=[
                    ("symbol", "one symbol's own model (XGBoost + LSTM)"),
                    ("universe", "one model over every symbol (XGBoost + ridge)"),
                ],
                default="symbol",
                max_length=8,
            ),
        ),
        migrations.RunPython(kinds_from_names, migrations.RunPython.noop),
    ]
