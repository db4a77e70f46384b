# Operations (issue 20): what /metrics, erasure and alerts store.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('webhooks_app', '0006_delivery_stats_hour'),
    ]

    operations = [
        migrations.CreateModel(
            name='PurgedDeliveryCount',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('status', models.CharField(choices=[('pending', 'Pending'), ('succeeded', 'Succeeded'), ('failed', 'Failed'), ('cancelled', 'Cancelled'), ('skipped', 'Skipped')], max_length=16)),
                ('count', models.PositiveBigIntegerField(default=0)),
                ('webhook', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='webhooks_app.webhook')),
            ],
            options={
                'verbose_name': 'purged deliveries count',
                'verbose_name_plural': 'purged deliveries counts',
                'constraints': [models.UniqueConstraint(fields=('webhook', 'status'), name='wh_purged_count_unique')],
            },
        ),
    ]
