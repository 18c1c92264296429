"""A fresh interpreter in the project's root, for what only a new process shows: settings, start-up."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def python_run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run this interpreter with ``args`` and exactly ``env``, to its end; the caller asserts it."""
    return subprocess.run(  # noqa: S603 - our own interpreter and arguments
        [sys.executable, *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
