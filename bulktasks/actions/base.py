"""What every action declares and returns."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

from django.db.models import Model


@dataclass(frozen=True, slots=True)
class Column:
    """A column (CSV header cell or JSON Lines key) the action understands."""

    name: str
    required: bool = False
    max_length: int | None = None


@dataclass(frozen=True, slots=True)
class ActionContext:
    """What an action knows about the task it works for."""

    bulk_task_id: str
    organization_id: str
    override: bool


@dataclass(slots=True)
class BatchResult:
    """The outcome of applying one batch: counts, and the lines skipped or in error."""

    inserts: int = 0
    updates: int = 0
    skipped: list[tuple[int, str]] = field(default_factory=list)
    errored: list[tuple[int, str]] = field(default_factory=list)


class Action(ABC):
    """One kind of bulk work, such as ``users.import``.

    ``validate`` runs on every line, without touching the database; ``apply``
    receives the valid lines of a chunk, in line order, inside the transaction
    that also records the chunk's checkpoint, so it must only write through the
    ORM and never commit on its own.
    """

    name: ClassVar[str]
    columns: ClassVar[tuple[Column, ...]]
    # The models whose tables ``apply`` writes: their planner statistics are
    # refreshed as an import grows them (see services._statistics_refresh).
    models: ClassVar[tuple[type[Model], ...]] = ()

    @property
    def column_names(self) -> tuple[str, ...]:
        """Every column, in declaration order."""
        return tuple(column.name for column in self.columns)

    @property
    def required_columns(self) -> tuple[str, ...]:
        """The columns a file must have."""
        return tuple(column.name for column in self.columns if column.required)

    @abstractmethod
    def validate(self, values: dict[str, str]) -> tuple[Any, str | None]:
        """Clean one line: return ``(cleaned, None)``, or ``(None, reason)`` naming the column."""

    @abstractmethod
    def apply(self, *, context: ActionContext, rows: list[tuple[int, Any]]) -> BatchResult:
        """Apply a batch of ``(line, cleaned)`` pairs and say what happened to each line."""
