"""The e-mail fast path of users.import agrees with Django's validate_email."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from hypothesis import given, settings
from hypothesis import strategies as st

from bulktasks.actions.users_import import _PLAIN_EMAIL, email_is_valid


def django_accepts(email: str) -> bool:
    try:
        validate_email(email)
    except ValidationError:
        return False
    return True


@settings(max_examples=500, deadline=None)
@given(st.from_regex(_PLAIN_EMAIL, fullmatch=True))
def test_on_every_address_of_the_fast_path_s_shape_the_verdict_is_django_s(email):
    assert email_is_valid(email) == django_accepts(email), email


def test_an_address_too_long_for_django_is_refused_whatever_its_shape():
    email = "a" * 310 + "@example.com"

    assert _PLAIN_EMAIL.match(email)
    assert not django_accepts(email)
    assert not email_is_valid(email)


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.sampled_from('aZ0.-_+@"[]:é\n xn'), max_size=40))
def test_the_verdict_is_always_django_s(text):
    assert email_is_valid(text) == django_accepts(text)


@pytest.mark.parametrize(
    ("email", "valid"),
    [
        ("ada@example.com", True),
        ("first.last+tag@sub.example.co.uk", True),
        ("user@localhost", True),
        ('"quoted"@example.com', True),
        ("user@bücher.example", True),
        ("jörg@example.com", False),
        ("user@[127.0.0.1]", True),
        ("no-at-sign.example.com", False),
        ("two@@example.com", False),
        ("dot.@example.com", False),
        ("user@-host.example", False),
        ("user@example.com\n", False),
        ("user@example", False),
    ],
)
def test_known_addresses(email, valid):
    assert email_is_valid(email) is valid
    assert django_accepts(email) is valid
