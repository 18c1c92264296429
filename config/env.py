"""Typed readers for settings that come from the environment."""

from __future__ import annotations

import os
import re

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str = "") -> str:
    """Read a string variable."""
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    """Read a boolean variable; anything but a clear yes or no is a configuration error."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), got {raw!r}")


def env_int(name: str, default: int) -> int:
    """Read an integer variable."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from exc


def env_list(name: str, default: list[str]) -> list[str]:
    """Read a comma-separated list variable."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


# Units a rate's period may be written in, and their length in seconds.
RATE_PERIODS: dict[str, int] = {
    "s": 1,
    "sec": 1,
    "second": 1,
    "m": 60,
    "min": 60,
    "minute": 60,
    "h": 3600,
    "hour": 3600,
    "d": 86400,
    "day": 86400,
}
# A period: an optional multiple, then a unit (``min``, ``15min``, ``2 hours``).
_RATE_PERIOD = re.compile(r"(?P<multiple>[0-9]*)\s*(?P<unit>[a-z]+)")
_DIGITS = re.compile(r"[0-9]+")


def parse_rate(text: str) -> tuple[int, int]:
    """Split a rate such as ``600/min`` or ``10/15min`` into (requests, period in seconds).

    ValueError if malformed. The period may be a multiple of its unit (``15min``),
    for limits whose natural window is not one whole unit.
    """
    count, _, period_text = text.strip().partition("/")
    match = _RATE_PERIOD.fullmatch(period_text.strip().lower())
    unit = match["unit"] if match else ""
    period = RATE_PERIODS.get(unit) or RATE_PERIODS.get(unit.removesuffix("s"))
    multiple = int(match["multiple"] or 1) if match else 0
    count = count.strip()
    if not _DIGITS.fullmatch(count) or int(count) < 1 or period is None or multiple < 1:
        raise ValueError(
            "a rate is <requests>/[<n>]<second|minute|hour|day>, such as 600/min or "
            f"10/15min; got {text!r}"
        )
    return int(count), period * multiple


def env_rate(name: str, default: str) -> str | None:
    """Read a rate limit such as ``600/min``; an empty value turns the limit off (None)."""
    raw = os.environ.get(name, default).strip()
    if not raw:
        return None
    try:
        parse_rate(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name}: {exc}") from exc
    return raw
