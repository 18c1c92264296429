"""Model instances from hand-written SQL, for the few read paths that run on every request.

The ORM compiles a query anew each time it runs: on the GET endpoint that cost
more than the queries themselves (see docs/benchmarks.md). A ``RowReader``
lists a model's columns once and turns a result row back into an instance,
through the same converters the ORM would apply, so the instance is the one
``Model.objects.get`` would have returned.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from django.db import connection
from django.db.models import Model, signals
from django.db.models.base import ModelState
from django.db.models.fields.related_descriptors import ForeignKeyDeferredAttribute
from django.db.models.query_utils import DeferredAttribute

M = TypeVar("M", bound=Model)
Converter = Callable[[Any, Any, Any], Any]


def column_of(model: type[Model], name: str) -> str:
    """The database column of one of a model's concrete fields."""
    column = getattr(model._meta.get_field(name), "column", None)
    if not column:
        raise ValueError(f"{model.__name__}.{name} is not a concrete field")
    return str(column)


class RowReader(Generic[M]):
    """The columns of a model (all, or ``only`` some) under a table alias, and instances built from them."""

    def __init__(self, model: type[M], alias: str, *, only: Sequence[str] | None = None) -> None:
        self.model = model
        self.alias = alias
        # With ``only``, the other fields are deferred, as ``QuerySet.only`` leaves
        # them: each timestamp the database sends costs a time-zone conversion.
        self.fields = [
            field
            for field in model._meta.concrete_fields
            if only is None or field.name in only or field.primary_key
        ]
        self.attnames = [field.attname for field in self.fields]
        # Where the primary key is in a row: NULL there means a LEFT JOIN found nothing.
        self.pk_position = next(i for i, field in enumerate(self.fields) if field.primary_key)
        self._converters: dict[str, list[tuple[int, list[Converter], Any]]] = {}
        self._columns: dict[str, str] = {}
        # Model.__init__ sets each value through the field's descriptor; for these
        # two it is a plain write to the instance's __dict__ on a new instance, so
        # the row can be written there directly (see ``instance``).
        self._plain_attributes = all(
            type(model.__dict__.get(attname)) in (DeferredAttribute, ForeignKeyDeferredAttribute)
            for attname in self.attnames
        )

    def __len__(self) -> int:
        return len(self.fields)

    @property
    def table(self) -> str:
        """The model's quoted table name followed by the alias, for a FROM or JOIN clause."""
        return f"{connection.ops.quote_name(self.model._meta.db_table)} {self.alias}"

    @property
    def columns(self) -> str:
        """Every concrete column, qualified by the alias, in field order."""
        columns = self._columns.get(connection.vendor)
        if columns is None:
            quote = connection.ops.quote_name
            columns = ", ".join(
                f"{self.alias}.{quote(column_of(self.model, field.name))}" for field in self.fields
            )
            self._columns[connection.vendor] = columns
        return columns

    def column(self, name: str) -> str:
        """One field's column, qualified by the alias."""
        return f"{self.alias}.{connection.ops.quote_name(column_of(self.model, name))}"

    def instance(self, values: Sequence[Any], *, using: Any = None) -> M:
        """The instance a row of ``columns`` describes, as the ORM would have loaded it.

        ``using`` is the connection the row came from (default: the default one);
        a caller building several instances passes it once.
        """
        db = connection if using is None else using
        row = list(values)
        for position, converters, expression in self._converters_for_vendor(db):
            value = row[position]
            for converter in converters:
                value = converter(value, expression, db)
            row[position] = value
        model = self.model
        if not self._plain_attributes or (
            signals.pre_init.has_listeners(model) or signals.post_init.has_listeners(model)
        ):
            return model.from_db(db.alias, self.attnames, row)
        # What from_db leaves after Model.__init__, without walking every field
        # of the model to skip the deferred ones: on the GET path, building the
        # four instances this way was a tenth of the request.
        instance = model.__new__(model)
        instance.__dict__.update(zip(self.attnames, row, strict=True))
        state = instance._state = ModelState()
        state.adding = False
        state.db = db.alias
        return instance

    def _converters_for_vendor(self, db: Any) -> list[tuple[int, list[Converter], Any]]:
        # Computed once per backend: the same lists the query compiler builds.
        cached = self._converters.get(db.vendor)
        if cached is None:
            cached = []
            for position, field in enumerate(self.fields):
                expression = field.get_col(self.alias)
                converters = db.ops.get_db_converters(expression)
                converters += field.get_db_converters(db)
                if converters:
                    cached.append((position, converters, expression))
            self._converters[db.vendor] = cached
        return cached
