from django.contrib import admin

from .models import Contact


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "email",
        "accepts_email",
        "accepts_sms",
        "accepts_postal",
        "webhook_url",
        "updated_at",
    ]
    list_filter = ["accepts_email", "accepts_sms", "accepts_postal"]
    search_fields = ["name", "email", "webhook_url"]
