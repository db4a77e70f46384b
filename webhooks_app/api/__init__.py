"""The REST API (Django REST Framework): webhooks, deliveries, event types, events."""
