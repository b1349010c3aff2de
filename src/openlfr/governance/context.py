"""What every governance action needs: the store, the rules, a clock and (for enrolment) the analyzer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property

from sqlalchemy.orm import Session

from openlfr.errors import NotFoundError
from openlfr.governance import audit
from openlfr.settings import Settings
from openlfr.store import Store
from openlfr.store.models import Base


def system_clock() -> datetime:
    return datetime.now(UTC)


def aware(value: datetime | None) -> datetime | None:
    """SQLite returns naive datetimes for what was stored as UTC; make every time comparable."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


@dataclass
class Governance:
    """Holds the store, settings and clock; tests swap the clock to move through time."""

    store: Store
    settings: Settings
    clock: Callable[[], datetime] = field(default=system_clock)

    @cached_property
    def analyzer(self):  # type: ignore[no-untyped-def]
        from openlfr.vision import FaceAnalyzer

        return FaceAnalyzer(self.settings)

    def now(self) -> datetime:
        return self.clock()

    def audit(
        self, session: Session, actor: str, action: str, obj: Base, reason: str = "", **details: object
    ) -> None:
        object_id = str(getattr(obj, "id", "") or getattr(obj, "seq", ""))
        audit.append(
            session,
            actor=actor,
            action=action,
            object_type=type(obj).__name__.lower(),
            object_id=object_id,
            at=self.now(),
            reason=reason,
            details=details,
        )

    @staticmethod
    def get(session: Session, model: type, object_id: str):  # type: ignore[no-untyped-def]
        row = session.get(model, object_id)
        if row is None:
            raise NotFoundError(f"no {model.__name__.lower()} with id {object_id}")
        return row
