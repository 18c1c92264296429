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
    # A dry run: the pipeline rolls ``apply``'s database writes back itself; an
    # action with effects outside the database (mail, HTTP) must skip them.
    dry_run: bool = False
    # The account the task was created for (None from the command line without --created-by).
    created_by_id: str | None = None


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
    that also marks the chunk done, so it must only write through the ORM and
    never commit on its own (a dry run rolls those writes back: see
    ``ActionContext.dry_run``). Chunks of one file may be applied at the same time
    on different workers, in any order; lines that repeat an earlier line's
    ``key`` anywhere in the file never reach ``apply``.
    """

    name: ClassVar[str]
    columns: ClassVar[tuple[Column, ...]]
    # The models whose tables ``apply`` writes: their planner statistics are
    # refreshed as an import grows them (see services._statistics_refresh).
    models: ClassVar[tuple[type[Model], ...]] = ()
    # Whether ``override`` means anything to this action; a task asking for it
    # when it does not is refused at creation rather than silently ignored.
    takes_override: ClassVar[bool] = True

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

    def key(self, values: dict[str, str]) -> str | None:
        """The identity a line names, if any: a valid line repeating an earlier one's is an error.

        Called by the scan on every line's raw values, so it must be cheap and
        agree with ``validate``: two valid lines with equal keys are the same record.
        """
        return None

    def duplicate_reason(self, first_line: int) -> str:
        """The reason given for a line whose key repeats the valid line ``first_line``."""
        return f"duplicate of line {first_line}"

    @abstractmethod
    def apply(self, *, context: ActionContext, rows: list[tuple[int, Any]]) -> BatchResult:
        """Apply a batch of ``(line, cleaned)`` pairs and say what happened to each line."""
