from django.db import models


class Contact(models.Model):
    """A person the demo site keeps, with three consent flags."""

    name = models.CharField(max_length=200)
    email = models.EmailField(blank=True)
    accepts_email = models.BooleanField(default=False)
    accepts_sms = models.BooleanField(default=False)
    accepts_postal = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name
