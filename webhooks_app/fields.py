"""Model fields of the app."""

import json

from django.db import models

from . import crypto


class EncryptedTextField(models.TextField):
    """A text field stored encrypted with Fernet and read back in clear."""

    def from_db_value(self, value, expression, connection):
        return crypto.decrypt(value) if value else value

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        return crypto.encrypt(value) if value else value


class EncryptedJSONField(models.TextField):
    """A JSON object stored as encrypted text (for header values that are secrets).

    Not a JSONField: the database sees only ciphertext, so it cannot be queried.
    """

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("default", dict)
        kwargs.setdefault("blank", True)
        super().__init__(*args, **kwargs)

    def from_db_value(self, value, expression, connection):
        return json.loads(crypto.decrypt(value)) if value else {}

    def to_python(self, value):
        if isinstance(value, str):
            return json.loads(value) if value else {}
        return value if value is not None else {}

    def get_prep_value(self, value):
        if value is None or value == {}:
            return ""
        return crypto.encrypt(json.dumps(value, ensure_ascii=False, sort_keys=True))

    def value_to_string(self, obj):
        return json.dumps(self.value_from_object(obj))
