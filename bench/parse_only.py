"""The part of an import no database can speed up: read and validate every line, write nothing.

    python bench/parse_only.py FILE

Prints one JSON line with the lines per second that reading and validating
alone reach, in this interpreter: an upper bound for any importer that checks
every line the way users.import does.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")

import django

django.setup()

from bulktasks.actions.registry import action_get  # noqa: E402
from bulktasks.readers import read_records  # noqa: E402


def main() -> None:
    action = action_get("users.import")
    assert action is not None
    started = time.perf_counter()
    lines = 0
    with open(sys.argv[1], "rb") as stream:
        for record in read_records(
            stream,
            mimetype="text/csv",
            columns=action.column_names,
            required=action.required_columns,
        ):
            action.validate(record.values or {})
            lines += 1
    seconds = time.perf_counter() - started
    print(json.dumps({"lines": lines, "seconds": seconds, "lines_per_second": lines / seconds}))


if __name__ == "__main__":
    main()
