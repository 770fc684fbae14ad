"""GenericRepository: typed CRUD and listing for any model, safe against caller-supplied text.

`order_by` and filter names come from users (API query strings). They are matched,
case-insensitively, against the model's own columns and turned into column objects; a
string never reaches SQL as text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Select, delete, func, inspect, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import UnaryExpression

from vidigest.common.exceptions import InvalidQueryError
from vidigest.database.base import Base

ModelT = TypeVar("ModelT", bound=Base)

_ORDER_BY = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)(?:\s+(asc|desc))?\s*$", re.IGNORECASE)


class GenericRepository(Generic[ModelT]):
    def __init__(self, session: Session, model: type[ModelT]) -> None:
        self.session = session
        self.model = model
        mapper = inspect(model)
        # lower-cased attribute name -> column attribute, for case-insensitive matching
        self._columns: dict[str, Any] = {
            attr.key.lower(): getattr(model, attr.key) for attr in mapper.column_attrs
        }

    # --- reading ---

    def get(self, ident: Any) -> ModelT | None:
        return self.session.get(self.model, ident)

    def find_all(
        self,
        filters: Mapping[str, Any] | None = None,
        order_by: str | Sequence[str] | None = None,
        limit: int | None = None,
        offset: int | None = None,
    ) -> list[ModelT]:
        stmt = self._apply_filters(select(self.model), filters)
        stmt = stmt.order_by(*self.parse_order_by(order_by))
        if limit is not None:
            stmt = stmt.limit(_non_negative("limit", limit))
        if offset is not None:
            stmt = stmt.offset(_non_negative("offset", offset))
        return list(self.session.scalars(stmt))

    def find_one(self, filters: Mapping[str, Any]) -> ModelT | None:
        found = self.find_all(filters, limit=1)
        return found[0] if found else None

    def count(self, filters: Mapping[str, Any] | None = None) -> int:
        stmt = self._apply_filters(select(func.count()).select_from(self.model), filters)
        return int(self.session.scalar(stmt) or 0)

    # --- writing ---

    def add(self, instance: ModelT) -> ModelT:
        self.session.add(instance)
        return instance

    def update_where(self, filters: Mapping[str, Any], values: Mapping[str, Any]) -> int:
        """UPDATE without loading the rows first; returns the number of rows changed."""
        stmt = self._apply_filters(update(self.model), filters).values(
            {self.column(name): value for name, value in values.items()}
        )
        result = self.session.execute(stmt, execution_options={"synchronize_session": False})
        return int(getattr(result, "rowcount", 0))

    def delete_where(self, filters: Mapping[str, Any]) -> int:
        stmt = self._apply_filters(delete(self.model), filters)
        result = self.session.execute(stmt, execution_options={"synchronize_session": False})
        return int(getattr(result, "rowcount", 0))

    # --- caller-supplied names ---

    def column(self, name: str) -> Any:
        try:
            return self._columns[name.lower()]
        except (KeyError, AttributeError):
            raise InvalidQueryError(
                f"unknown column {name!r} for {self.model.__tablename__}; "
                f"allowed: {', '.join(sorted(self._columns))}"
            ) from None

    def parse_order_by(self, order_by: str | Sequence[str] | None) -> list[UnaryExpression[Any]]:
        if order_by is None:
            return []
        clauses = [order_by] if isinstance(order_by, str) else list(order_by)
        parsed: list[UnaryExpression[Any]] = []
        for clause in clauses:
            match = _ORDER_BY.match(clause) if isinstance(clause, str) else None
            if match is None:
                raise InvalidQueryError(
                    f"invalid order_by {clause!r}: expected '<column>' or '<column> ASC|DESC'"
                )
            column = self.column(match.group(1))
            descending = (match.group(2) or "asc").lower() == "desc"
            parsed.append(column.desc() if descending else column.asc())
        return parsed

    _S = TypeVar("_S", Select[Any], Any)

    def _apply_filters(self, stmt: _S, filters: Mapping[str, Any] | None) -> _S:
        conditions: list[ColumnElement[bool]] = []
        for name, value in (filters or {}).items():
            column = self.column(name)
            if isinstance(value, list | tuple | set | frozenset):
                conditions.append(column.in_(list(value)))
            elif value is None:
                conditions.append(column.is_(None))
            else:
                conditions.append(column == value)
        return stmt.where(*conditions) if conditions else stmt


def _non_negative(name: str, value: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidQueryError(f"{name} must be a non-negative integer, got {value!r}")
    return value
