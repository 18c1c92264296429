"""The fields the service adds to the published contract's shape of a task, each additive.

The contract's files beside this one stay as published; the contract tests merge
these fields in. A client written to the contract ignores them: none changes the
type or meaning of a field the contract has, and the contract's ``additionalProperties:
false`` still refuses any field not listed here.
"""

from __future__ import annotations

import copy
from typing import Any

# Place in the 200 body of GET bulk-task -> each added field's JSON Schema.
ADDITIONS: dict[str, dict[str, dict[str, Any]]] = {
    # A dry run (docs/api.md): always sent, false for a real run.
    "$.data.config": {"dryRun": {"type": "boolean"}},
}


def with_additions(contract: dict[str, Any]) -> dict[str, Any]:
    """A copy of the contract's GET bulk-task schema with the added fields in their places."""
    merged = copy.deepcopy(contract)
    for place, fields in ADDITIONS.items():
        node = merged
        for name in place.split(".")[1:]:
            node = node["properties"][name]
        node["properties"].update(copy.deepcopy(fields))
    return merged
