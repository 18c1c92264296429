"""A Schemathesis check of our own: an error's code is one its response documents.

Every error response shares one schema (ErrorEnvelope), whose ``code`` is any
integer; the codes each response can carry are listed beside it in
``x-error-codes``. fuzz/run.py loads this module (SCHEMATHESIS_HOOKS).
"""

from __future__ import annotations

from typing import Any

import schemathesis


@schemathesis.check
def error_code_documented(ctx: Any, response: Any, case: Any) -> None:
    """Fail when an error body's code is not in its response's ``x-error-codes``."""
    if response.status_code < 400:
        return
    documented = case.operation.definition.raw.get("responses", {}).get(str(response.status_code))
    if documented is None:
        return  # an undocumented status is status_code_conformance's finding
    code = response.json().get("error", {}).get("code")
    codes = documented.get("x-error-codes", [])
    if code not in codes:
        raise AssertionError(
            f"error code {code} is not among the codes documented for {response.status_code}: {codes}"
        )
