# Operations (issue 20): what /metrics, erasure and alerts store.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('webhooks_app', '0007_recipient_credentials'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='webhook',
            name='alert_disabled_sent_at',
            field=models.DateTimeField(blank=True, help_text='When the last disabled alert was mailed.', null=True),
        ),
        migrations.AddField(
            model_name='webhook',
            name='alert_failing_sent_at',
            field=models.DateTimeField(blank=True, help_text='When the last about-to-be-disabled alert was mailed.', null=True),
        ),
        migrations.AddField(
            model_name='webhook',
            name='failure_alerts',
            field=models.BooleanField(default=False, help_text="Mail the site's admins when this webhook keeps failing and is about to be disabled, and when it is disabled (at most once a day each)."),
        ),
        migrations.CreateModel(
            name='Erasure',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('subject_key', models.CharField(help_text="The declared subject path it was erased by (WEBHOOKS['SUBJECT_PATHS']).", max_length=200)),
                ('subject_hash', models.CharField(help_text="HMAC-SHA256 of key=value under the site's SECRET_KEY; the value itself is never stored.", max_length=64)),
                ('status', models.CharField(choices=[('running', 'Running'), ('settling', 'Waiting for deliveries in flight'), ('finished', 'Finished')], default='running', max_length=16)),
                ('actor_name', models.CharField(blank=True, help_text='Who asked for it, kept if the user is deleted.', max_length=200)),
                ('source', models.CharField(blank=True, help_text='"api" or "command".', max_length=16)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('finished_at', models.DateTimeField(blank=True, null=True)),
                ('total', models.PositiveIntegerField(default=0, help_text='Events found carrying the subject.')),
                ('events', models.PositiveIntegerField(default=0, help_text='Events whose data and context were erased.')),
                ('attempts', models.PositiveIntegerField(default=0, help_text='Attempts whose request and response bodies were erased.')),
                ('deliveries_cancelled', models.PositiveIntegerField(default=0, help_text='Pending deliveries of those events cancelled, so nothing is sent for them.')),
                ('cursor', models.CharField(blank=True, help_text='The last event id erased (batches go in id order).', max_length=40)),
                ('in_flight', models.JSONField(blank=True, default=list, help_text='Deliveries a worker was sending when their event was erased: their attempts are erased again once they end.')),
                ('settle_until', models.DateTimeField(blank=True, help_text='When the leases of the deliveries in flight run out at the latest.', null=True)),
                ('actor', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'verbose_name': 'erasure',
                'verbose_name_plural': 'erasures',
                'ordering': ['-created_at', '-id'],
                'indexes': [models.Index(fields=['subject_key', 'subject_hash', 'status'], name='wh_erasure_subject_idx')],
            },
        ),
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
