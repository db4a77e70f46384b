"""Model fields of the app."""

import json

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

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

    default_error_messages = {"invalid": _('Enter a JSON object, for example {"X-Tenant": "acme"}.')}

    def to_python(self, value):
        """The object; a text is read as JSON (what value_to_string wrote, e.g. in a fixture).

        Text that is not JSON is a validation error, never a JSONDecodeError: the
        field's validators then decide whether what it holds is acceptable.
        """
        if isinstance(value, str):
            if not value:
                return {}
            try:
                return json.loads(value)
            except (ValueError, RecursionError):  # not JSON, an integer too long, nested too deeply
                raise ValidationError(self.error_messages["invalid"], code="invalid") from None
        return value if value is not None else {}

    def get_prep_value(self, value):
        if value is None or value == {}:
            return ""
        return crypto.encrypt(json.dumps(value, ensure_ascii=False, sort_keys=True))

    def value_to_string(self, obj):
        return json.dumps(self.value_from_object(obj))
