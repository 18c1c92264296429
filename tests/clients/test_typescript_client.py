"""A consumer's TypeScript client: types generated from the live schema, compiled strict, run.

openapi-typescript (pinned in package.json) turns /v1/schema/, fetched from the
live server, into types; typescript_usage.mts sends its requests with
openapi-fetch, compiles with ``tsc --strict``, and runs with node against the
same server, with a real worker processing the upload.
"""

from __future__ import annotations

import json
import shutil

import pytest

from tests.clients.conftest import HERE, NODE_MODULES, assert_consumer_summary, consumer_run, run

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def test_the_typescript_client_compiles_strict_and_works(live_api, node_bin, tmp_path):
    (tmp_path / "node_modules").symlink_to(NODE_MODULES)
    for name in ["typescript_usage.mts", "tsconfig.json"]:
        shutil.copy(HERE / name, tmp_path)

    generated = run(
        [
            str(node_bin / "openapi-typescript"),
            f"{live_api}/v1/schema/?format=json",
            "--output",
            "bulk-tasks-api.ts",
        ],
        cwd=tmp_path,
    )
    print(generated.stdout + generated.stderr)  # shown with -s, or in the report of a failure
    assert generated.returncode == 0, generated.stdout + generated.stderr
    assert "interface paths" in (tmp_path / "bulk-tasks-api.ts").read_text()

    compiled = run([str(node_bin / "tsc"), "--project", "tsconfig.json"], cwd=tmp_path)
    assert compiled.returncode == 0, compiled.stdout + compiled.stderr
    assert json.loads((tmp_path / "tsconfig.json").read_text())["compilerOptions"]["strict"]

    summary = consumer_run(["node", "out/typescript_usage.mjs"], live_api=live_api, cwd=tmp_path)
    assert_consumer_summary(summary)
