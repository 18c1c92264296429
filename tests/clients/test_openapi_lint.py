"""Redocly CLI's recommended rules pass on the schema, with no error and no warning.

redocly.yaml beside this file adds two rules that Spectral's ruleset has: tags
declared at the top level, and a contact.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.clients.conftest import HERE, run
from tests.openapi import generated_schema

# No usage report to Redocly and no update check: the run needs no network.
QUIET = {"REDOCLY_TELEMETRY": "off", "REDOCLY_SUPPRESS_UPDATE_NOTICE": "true"}


def lint(node_bin: Path, schema: dict, folder: Path) -> dict:
    """Redocly's findings on a schema, as its JSON report."""
    target = folder / "schema.json"
    target.write_text(json.dumps(schema))
    linted = run(
        [
            str(node_bin / "redocly"),
            "lint",
            str(target),
            "--config",
            str(HERE / "redocly.yaml"),
            "--format",
            "json",
        ],
        cwd=folder,
        env={**os.environ, **QUIET},
    )
    start = linted.stdout.index("{")
    return json.loads(linted.stdout[start:])


def test_the_recommended_rules_pass(node_bin, tmp_path):
    """No error. The one warning possible: no license URL, which only an operator can give."""
    report = lint(node_bin, generated_schema(), tmp_path)

    assert report["totals"]["errors"] == 0, report["problems"]
    assert {problem["ruleId"] for problem in report["problems"]} <= {"info-license-strict"}


def test_with_a_license_url_not_even_a_warning(node_bin, tmp_path):
    schema = generated_schema()
    schema["info"]["license"]["url"] = "https://example.com/terms"

    report = lint(node_bin, schema, tmp_path)

    assert report["totals"] == {"errors": 0, "warnings": 0, "ignored": 0}, report["problems"]


def test_the_lint_reports_what_the_schema_used_to_lack(node_bin, tmp_path):
    """The check itself can fail: empty servers, no license or contact, an undeclared tag."""
    schema = generated_schema()
    del schema["servers"], schema["info"]["license"], schema["info"]["contact"]
    schema["tags"] = schema["tags"][1:]

    report = lint(node_bin, schema, tmp_path)

    rules = {problem["ruleId"] for problem in report["problems"]}
    assert {"no-empty-servers", "info-license", "info-contact", "operation-tag-defined"} <= rules
    assert report["totals"]["errors"] >= 1
