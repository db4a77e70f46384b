from django.db import models

from webhooks_app.validators import URL_MAX_LENGTH, validate_webhook_url


class Contact(models.Model):
    """A person the demo site keeps, with three consent flags."""

    name = models.CharField(max_length=200)
    email = models.EmailField(blank=True)
    accepts_email = models.BooleanField(default=False)
    accepts_sms = models.BooleanField(default=False)
    accepts_postal = models.BooleanField(default=False)
    webhook_url = models.URLField(
        "webhook URL",
        max_length=URL_MAX_LENGTH,
        blank=True,
        validators=[validate_webhook_url],
        help_text="Where this contact's own events go, for webhooks whose destination is the "
        "recipient's URL (Engagespot's webhookUrl). Empty: those deliveries are skipped.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name
