"""Model fields of the app."""

from django.db import models

from . import crypto


class EncryptedTextField(models.TextField):
    """A text field stored encrypted with Fernet and read back in clear."""

    def from_db_value(self, value, expression, connection):
        return crypto.decrypt(value) if value else value

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        return crypto.encrypt(value) if value else value
