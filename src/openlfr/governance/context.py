"""What every governance action needs: the store, the rules, a clock and (for enrolment) the analyzer."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, overload

from sqlalchemy import select
from sqlalchemy.orm import Session

from openlfr.errors import NotFoundError, OpenLFRError, PolicyViolation
from openlfr.governance import audit
from openlfr.models.operating import for_pack
from openlfr.settings import Settings
from openlfr.store import Store
from openlfr.store.models import AuditEvent, Base

if TYPE_CHECKING:
    from openlfr.vision import FaceAnalyzer

SEALED = "[sealed]"  # an audit event's reason when it is sealed with the deployment's data


def system_clock() -> datetime:
    return datetime.now(UTC)


@overload
def aware(value: datetime) -> datetime: ...
@overload
def aware(value: None) -> None: ...


def aware(value: datetime | None) -> datetime | None:
    """SQLite returns naive datetimes for what was stored as UTC; make every time comparable."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


class Governance:
    """Holds the store, settings, clock and face analyzer; tests swap the clock to move through time.
    The analyzer (its models take seconds to load) is made from the settings on first use unless one
    is given to share."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        clock: Callable[[], datetime] = system_clock,
        analyzer: FaceAnalyzer | None = None,
    ) -> None:
        self.store, self.settings, self.clock = store, for_pack(settings), clock
        self._analyzer = analyzer

    @property
    def analyzer(self) -> FaceAnalyzer:
        if self._analyzer is None:
            from openlfr.vision import FaceAnalyzer

            self._analyzer = FaceAnalyzer(self.settings)
        return self._analyzer

    def now(self) -> datetime:
        return self.clock()

    def audit(
        self,
        session: Session,
        actor: str,
        action: str,
        obj: Base,
        reason: str = "",
        *,
        sealed_for: str | None = None,
        personal: dict[str, object] | None = None,
        **details: object,
    ) -> None:
        """Append an audit event. With ``sealed_for`` (a deployment id), the reason and the
        ``personal`` fields (a subject reference, an operator's free text) are sealed under that
        deployment's data key: readable while the deployment's data is, unreadable in every copy
        once it is purged, and still covered by the chain's hashes either way."""
        object_id = str(getattr(obj, "id", "") or getattr(obj, "seq", ""))
        if sealed_for is not None and (reason or personal):
            plain = json.dumps({"reason": reason, **(personal or {})}).encode()
            blob = self.store.seal(sealed_for, plain, f"audit:{action}:{object_id}")
            details = details | {"sealed": base64.b64encode(blob).decode(), "deployment": sealed_for}
            reason = SEALED
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

    def unseal(self, event: AuditEvent) -> dict[str, object] | None:
        """An event's sealed fields, or None when there are none or they can no longer be read."""
        details = event.details or {}
        if "sealed" not in details:
            return None
        deployment_id = str(details["deployment"])
        blob = base64.b64decode(str(details["sealed"]))
        try:
            return json.loads(self.store.open(deployment_id, blob, f"audit:{event.action}:{event.object_id}"))
        except OpenLFRError:
            return None

    def full_id(self, model: type[Any], given: str) -> str:
        """The id that ``given`` is, or starts (at least 4 characters, and only one matching): what a
        person types at a terminal after reading a list."""
        with self.store.session() as session:
            if session.get(model, given) is not None or len(given) < 4:
                return given
            found = list(session.scalars(select(model.id).where(model.id.startswith(given)).limit(2)))
        if len(found) > 1:
            raise PolicyViolation(
                f"{given} starts more than one {model.__name__.lower()} id; give more of it"
            )
        return found[0] if found else given  # no match: the caller's lookup says "not found"

    @staticmethod
    def get(session: Session, model: type, object_id: str):
        row = session.get(model, object_id)
        if row is None:
            raise NotFoundError(f"no {model.__name__.lower()} with id {object_id}")
        return row
