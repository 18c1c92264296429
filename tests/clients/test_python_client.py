"""A consumer's Python client: generated from the live schema, used, and type-checked.

openapi-python-client (pinned in pyproject's dev extras) generates the client from
/v1/schema/ as a live server serves it. python_usage.py, which uses only the
generated code, then logs in, uploads a file that a real worker processes, pages
through tasks and report lines, refreshes and logs out; and ``mypy --strict``
checks it together with the generated models and operations.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tests.clients.conftest import HERE, assert_consumer_summary, consumer_run, run

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]

USAGE = HERE / "python_usage.py"
BIN = Path(sys.executable).parent
PACKAGE = "bulk_tasks_client"


def generate(schema: Path, target: Path) -> str:
    """Generate the client package into target/bulk_tasks_client; the generator's output."""
    config = target / "openapi-python-client.yaml"
    config.write_text(f"package_name_override: {PACKAGE}\n")
    generated = run(
        [
            str(BIN / "openapi-python-client"),
            "generate",
            "--path",
            str(schema),
            "--config",
            str(config),
            "--meta",
            "none",
            "--output-path",
            str(target / PACKAGE),
        ],
        # Its post-generation hooks run ruff, from this environment.
        env={**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"},
    )
    output = generated.stdout + generated.stderr
    assert generated.returncode == 0, output
    return output


def test_the_generated_python_client_works_as_is_and_type_checks(live_api, live_schema, tmp_path):
    output = generate(live_schema, tmp_path)
    print(output)  # shown with -s, or in the report of a failure
    # A schema the generator cannot map fully is reported as warnings, and the
    # operations or fields concerned are left out of the client.
    assert "Warning" not in output, output

    summary = consumer_run(
        [sys.executable, str(USAGE)], live_api=live_api, cwd=tmp_path, PYTHONPATH=str(tmp_path)
    )
    assert_consumer_summary(summary)
    assert_passes_mypy_strict(tmp_path)


def assert_passes_mypy_strict(tmp_path: Path) -> None:
    """The script and the generated models and operations, strict, with no ignore comments.

    The generated client.py (the generator's own httpx wrapper, the same for any
    schema) is followed silently, as mypy treats an installed package.
    """
    assert "type: ignore" not in USAGE.read_text()
    (tmp_path / "mypy.ini").write_text("[mypy]\n")
    package = tmp_path / PACKAGE

    checked = run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--follow-imports=silent",
            "--config-file",
            str(tmp_path / "mypy.ini"),
            "--cache-dir",
            str(tmp_path / ".mypy_cache"),
            str(USAGE),
            str(package / "models"),
            str(package / "api"),
            str(package / "types.py"),
            str(package / "errors.py"),
        ],
        env={**os.environ, "MYPYPATH": str(tmp_path)},
        cwd=tmp_path,
    )

    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.startswith("Success: no issues found"), checked.stdout
