"""Webhook filters: the language of docs/events.md, validated by one validator and run by one matcher.

validators.validate_filters refuses anything outside the language with a message
naming the key; selectors.webhook_filters_match runs what it accepts. The console,
the API and the admin all use the validator through the model field
(tests/test_parity.py); the engine uses the matcher.
"""

import pytest
from django.core.exceptions import ValidationError

from webhooks_app.exceptions import WebhookValidationError
from webhooks_app.models import Webhook
from webhooks_app.selectors import webhook_filters_match
from webhooks_app.validators import FILTER_OPERATORS, validate_filters

DATA = {
    "id": 7,
    "n": 5,
    "price": 12.5,
    "name": "Ann Smith",
    "accepts_email": True,
    "nothing": None,
    "zero": 0,
    "tags": ["vip", "nordic", 3],
    "address": {"country": "SE", "city": "Malmö"},
}
CONTEXT = {"actor": "admin", "source": "api", "request": {"tenant": "acme"}}


def match(filters, data=DATA, context=CONTEXT) -> bool:
    validate_filters(filters)  # every filter tested here is one the validator accepts
    return webhook_filters_match(filters=filters, data=data, context=context)


# The matcher, operator by operator ------------------------------------------------------


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({}, True),
        # a literal: equals
        ({"n": 5}, True),
        ({"n": 6}, False),
        ({"name": "Ann Smith"}, True),
        ({"accepts_email": True}, True),
        ({"nothing": None}, True),
        ({"missing": None}, False),  # absent is not null
        ({"address.country": "SE"}, True),
        ({"address.country": "NO"}, False),
        ({"address.country.code": "SE"}, False),  # a path through a text
        ({"n": 5, "address.country": "SE"}, True),  # keys at one level are ANDed
        ({"n": 5, "address.country": "NO"}, False),
        # JSON types, not Python's: true is not 1 and false is not 0
        ({"accepts_email": 1}, False),
        ({"zero": False}, False),
        ({"price": 12.5}, True),
        # a list: one of
        ({"address.country": ["SE", "NO"]}, True),
        ({"address.country": ["DK", "NO"]}, False),
        ({"missing": ["SE"]}, False),
        ({"n": [True, 5]}, True),
        ({"zero": [False]}, False),
    ],
)
def test_literals_and_lists(filters, expected):
    assert match(filters) is expected


@pytest.mark.parametrize(
    ("operators", "field", "expected"),
    [
        ({"$eq": 5}, "n", True),
        ({"$eq": 4}, "n", False),
        ({"$eq": None}, "missing", False),
        ({"$ne": 4}, "n", True),
        ({"$ne": 5}, "n", False),
        ({"$ne": "x"}, "missing", True),  # an absent field differs from any value
        ({"$in": [4, 5]}, "n", True),
        ({"$in": [4, 6]}, "n", False),
        ({"$in": [1]}, "accepts_email", False),
        ({"$nin": [4, 6]}, "n", True),
        ({"$nin": [5]}, "n", False),
        ({"$nin": [5]}, "missing", True),
        ({"$gt": 4}, "n", True),
        ({"$gt": 5}, "n", False),
        ({"$gte": 5}, "n", True),  # the example: it must match n >= 5
        ({"$gte": 6}, "n", False),
        ({"$lt": 6}, "n", True),
        ({"$lt": 5}, "n", False),
        ({"$lte": 5}, "n", True),
        ({"$lte": 4.5}, "n", False),
        ({"$gt": 12}, "price", True),
        ({"$gte": "Ann"}, "name", True),  # texts compare with texts
        ({"$lt": "Ann"}, "name", False),
        ({"$gt": 1}, "name", False),  # ...and never with numbers
        ({"$gt": "1"}, "n", False),
        ({"$gt": 0}, "accepts_email", False),  # true is not a number
        ({"$gt": 0}, "missing", False),
        ({"$gte": 5, "$lt": 10}, "n", True),  # operators of one field are ANDed
        ({"$gte": 5, "$lt": 5}, "n", False),
        ({"$exists": True}, "n", True),
        ({"$exists": True}, "nothing", True),  # present, although null
        ({"$exists": True}, "missing", False),
        ({"$exists": False}, "missing", True),
        ({"$exists": False}, "n", False),
        ({"$contains": "Smith"}, "name", True),  # substring of a text
        ({"$contains": "smith"}, "name", False),
        ({"$contains": "vip"}, "tags", True),  # member of a list
        ({"$contains": 3}, "tags", True),
        ({"$contains": "vi"}, "tags", False),
        ({"$contains": 5}, "n", False),
        ({"$contains": "x"}, "missing", False),
    ],
)
def test_each_operator(operators, field, expected):
    assert match({field: operators}) is expected


def test_every_operator_of_the_language_is_tested():
    tested = {op for case in test_each_operator.pytestmark[0].args[1] for op in case[0]}
    assert tested == set(FILTER_OPERATORS)


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"$or": [{"n": 1}, {"address.country": "SE"}]}, True),
        ({"$or": [{"n": 1}, {"address.country": "NO"}]}, False),
        ({"$and": [{"n": 5}, {"address.country": "SE"}]}, True),
        ({"$and": [{"n": 5}, {"address.country": "NO"}]}, False),
        ({"$or": [{"n": 1}, {"$and": [{"n": {"$gt": 1}}, {"tags": {"$contains": "vip"}}]}]}, True),
        ({"$and": [{"$or": [{"n": 1}, {"n": 2}]}, {"id": 7}]}, False),
        ({"id": 7, "$or": [{"n": 1}, {"n": 5}]}, True),  # ANDed with the keys beside it
        ({"id": 8, "$or": [{"n": 1}, {"n": 5}]}, False),
    ],
)
def test_or_and(filters, expected):
    assert match(filters) is expected


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"$context.source": "api"}, True),
        ({"$context.source": "admin-console"}, False),
        ({"$context.request.tenant": "acme"}, True),
        ({"$context.request.tenant": {"$in": ["acme", "globex"]}}, True),
        ({"$context.tenant": {"$exists": False}}, True),
        ({"$context.actor": "admin", "address.country": "SE"}, True),
        ({"$or": [{"$context.source": "cron"}, {"$context.actor": "admin"}]}, True),
        # a data field named like the context is data, not context
        ({"source": "api"}, False),
    ],
)
def test_context_paths(filters, expected):
    assert match(filters) is expected


def test_context_defaults_to_empty():
    assert webhook_filters_match(filters={"n": 5}, data=DATA) is True
    assert webhook_filters_match(filters={"$context.source": "api"}, data=DATA) is False


@pytest.mark.parametrize(
    "stored",
    [
        {"n": {"$gtee": 5}},
        {"n": {}},
        {"$or": "n"},
        {"$and": [1]},
        ["n"],
        {"$nor": [{"n": 5}]},
    ],
)
def test_a_filter_written_past_validation_matches_nothing(stored):
    """A row changed with QuerySet.update() must not turn into "send everything"."""
    assert webhook_filters_match(filters=stored, data=DATA, context=CONTEXT) is False


# The validator: each refusal names the key -----------------------------------------------


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        (["n"], "Filters are a JSON object"),
        ("n", "Filters are a JSON object"),
        ({"": 1}, "Each filter key is a field path of 1-200 characters."),
        ({"a" * 201: 1}, "Each filter key is a field path of 1-200 characters."),
        ({"a..b": 1}, 'Filter "a..b": a path is field names separated by single dots.'),
        ({".a": 1}, 'Filter ".a": a path is field names separated by single dots.'),
        ({"a.$gt": 1}, 'Filter "a.$gt": a path is field names separated by single dots.'),
        ({"$context.": 1}, 'Filter "$context.": a path is field names separated by single dots.'),
        ({"$foo": 1}, 'Filter "$foo": not a field path; use a path into the data'),
        ({"$context": {"source": "api"}}, 'Filter "$context": not a field path'),
        ({"n": {"$gtee": 5}}, 'Filter "n": unknown operator "$gtee"; the operators are $eq, $ne, $in'),
        (
            {"n": {"nested": 1}},
            'Filter "n": "nested" is not an operator (match a nested field with "n.nested")',
        ),
        ({"n": {}}, 'Filter "n": an object of operators needs at least one operator.'),
        ({"n": []}, 'Filter "n": a list of accepted values holds 1-100 values'),
        ({"n": list(range(101))}, 'Filter "n": a list of accepted values holds 1-100 values'),
        ({"n": [[1]]}, 'Filter "n": a list of accepted values holds 1-100 values'),
        ({"n": [{"a": 1}]}, 'Filter "n": a list of accepted values holds 1-100 values'),
        ({"n": {"$in": 5}}, 'Filter "n": $in takes 1-100 values'),
        ({"n": {"$nin": []}}, 'Filter "n": $nin takes 1-100 values'),
        ({"n": {"$in": [[5]]}}, 'Filter "n": $in takes 1-100 values'),
        ({"n": {"$gt": True}}, 'Filter "n": $gt compares with a number or a text.'),
        ({"n": {"$gte": None}}, 'Filter "n": $gte compares with a number or a text.'),
        ({"n": {"$lt": [1]}}, 'Filter "n": $lt compares with a number or a text.'),
        ({"n": {"$lte": {}}}, 'Filter "n": $lte compares with a number or a text.'),
        ({"n": {"$exists": 1}}, 'Filter "n": $exists takes true or false.'),
        ({"n": {"$eq": [5]}}, 'Filter "n": $eq takes a value (text, number, true, false or null).'),
        ({"n": {"$ne": {"a": 1}}}, 'Filter "n": $ne takes a value'),
        ({"n": {"$contains": ["a"]}}, 'Filter "n": $contains takes a value'),
        ({"$or": []}, 'Filter "$or": expected a list of filters, for example {"$or": [{"a": 1}, {"b": 2}]}.'),
        ({"$and": {"n": 5}}, 'Filter "$and": expected a list of filters'),
        ({"$or": [{}]}, 'Filter "$or": each item of the list is a filter object with conditions.'),
        ({"$or": [5]}, 'Filter "$or": each item of the list is a filter object with conditions.'),
        ({"$or": [{"n": {"$bad": 1}}]}, 'Filter "n": unknown operator "$bad"'),
        (
            {"$or": [{"$or": [{"$or": [{"$or": [{"$or": [{"n": 1}]}]}]}]}]},
            'Filter "$or": $or and $and nest at most 4 levels deep.',
        ),
        ({f"k{i}": i for i in range(51)}, "Filters hold at most 50 conditions; these have 51."),
        ({"$or": [{f"k{i}": i} for i in range(51)]}, "Filters hold at most 50 conditions; these have 51."),
        (
            {"n": {"$gt": 1, "$lt": 9}, **{f"k{i}": i for i in range(49)}},
            "at most 50 conditions; these have 51",
        ),
        ({"n": "x" * 10_001}, "Filters are at most 10000 characters of JSON."),
        ({"n": "nul\x00"}, "The filters JSON contains a NUL character"),
        ({"n": "\ud800"}, "The filters JSON contains a lone surrogate"),
        ({"n": float("nan")}, "The filters JSON contains NaN or Infinity"),
    ],
)
def test_refusals_name_the_key(filters, message):
    with pytest.raises(WebhookValidationError) as caught:
        validate_filters(filters)
    assert message in str(caught.value)
    assert caught.value.field == "filters"
    assert isinstance(caught.value, ValidationError)  # usable as a model field validator


@pytest.mark.parametrize(
    "filters",
    [
        {"accepts_email": True},
        {"address.country": ["SE", "NO"]},
        {"n": {"$gte": 5, "$lt": 10}},
        {"$context.source": "api"},
        {"$or": [{"n": 1}, {"$and": [{"a": 1}, {"b": {"$exists": False}}]}]},
        {"n": {"$in": [1, "one", None, True, 1.5]}},
        {f"k{i}": i for i in range(50)},
        {"a-b_c.d1": 1},
    ],
)
def test_the_language_is_accepted(filters):
    validate_filters(filters)


def test_the_model_field_runs_the_validator():
    webhook = Webhook(name="x", url="https://hooks.example.com/", events=["*"], filters={"n": {"$gtee": 5}})
    with pytest.raises(ValidationError) as caught:
        webhook.full_clean()
    assert caught.value.message_dict == {
        "filters": [
            'Filter "n": unknown operator "$gtee"; the operators are '
            "$eq, $ne, $in, $nin, $gt, $gte, $lt, $lte, $exists, $contains."
        ]
    }


def test_empty_filters_are_stored_as_an_empty_object():
    webhook = Webhook(name="x", url="https://hooks.example.com/", events=["*"], filters=None)
    webhook.full_clean()
    assert webhook.filters == {}
