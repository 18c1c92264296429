"""The action registry: names are identifiers that can go into a URL."""

from __future__ import annotations

import pytest

from bulktasks.actions import action_get, action_names, register
from bulktasks.actions.users_import import UsersImport


def test_users_import_is_registered_under_its_name():
    assert "users.import" in action_names()
    assert isinstance(action_get("users.import"), UsersImport)


@pytest.mark.parametrize("name", ["users import", "users/import", "", ".hidden", "é.import"])
def test_a_name_that_is_not_an_identifier_is_refused(name):
    class Odd(UsersImport):
        pass

    Odd.name = name

    with pytest.raises(ValueError, match="must be letters, digits"):
        register(Odd)

    assert name not in action_names()
