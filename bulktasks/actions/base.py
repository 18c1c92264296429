"""What every action declares and returns."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from django.db.models import Model

from users import catalog


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
    # Whether a task of this action reads an uploaded file; one that produces a
    # file instead (an export) is an ExportAction.
    reads_file: ClassVar[bool] = True
    # The permission a member needs to start a task of this action.
    permission: ClassVar[str] = catalog.BULK_TASK_CREATE
    # Columns a file may carry that the action accepts and leaves alone (in a
    # JSON Lines file, of any JSON type): an export of another action written back.
    ignored_columns: ClassVar[tuple[str, ...]] = ()

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


class ExportAction(Action):
    """An action that reads no file and produces one: the organization's records, in key order.

    The pipeline cuts the records into chunks by key (``chunk_ends``), writes
    each chunk's ``rows`` to a part file on any worker, and joins the parts into
    the result in the requested format. ``columns`` name the result's columns.
    """

    reads_file = False
    permission = catalog.BULK_TASK_EXPORT
    # An export changes nothing: ``override=true`` is refused at creation (1002).
    takes_override = False
    # The formats a task may ask for; the first is the default.
    formats: ClassVar[tuple[str, ...]] = ("csv", "jsonl", "xlsx")
    # Of a spreadsheet's sheet; the file name the result is downloaded as starts with it.
    title: ClassVar[str]

    @abstractmethod
    def chunk_ends(self, *, organization_id: str, size: int) -> Iterator[str]:
        """The key ending each run of ``size`` records, in order, the last one the snapshot's end.

        Records with a key after the last one (created once the export started)
        are not exported; none at all means there is nothing to export.
        """

    @abstractmethod
    def count(self, *, organization_id: str, at_most: int) -> int:
        """How many rows an export started now would hold, counted up to ``at_most``."""

    @abstractmethod
    def rows(
        self, *, organization_id: str, after: str, upto: str, as_of: datetime | None = None
    ) -> Iterator[Mapping[str, Any]]:
        """The records with keys in (``after``, ``upto``], in key order, streamed.

        With ``as_of`` (the snapshot's time), only the records created by then:
        keys made in the same second by two processes are not ordered, so a
        record created after the snapshot may have a key before its end.

        A value is a string, or a list of strings (a CSV cell joins them).
        """

    def validate(self, values: dict[str, str]) -> tuple[Any, str | None]:
        """Never called: an export reads no file."""
        raise TypeError(f"{self.name} reads no file")

    def apply(self, *, context: ActionContext, rows: list[tuple[int, Any]]) -> BatchResult:
        """Never called: an export reads no file."""
        raise TypeError(f"{self.name} reads no file")
