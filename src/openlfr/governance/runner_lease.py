"""One runner per deployment: the service's supervisor and `openlfr cluster run` never both match.

Whoever runs a deployment's cameras holds its lease, a row ``runner:<deployment id>`` in
``service_state`` naming the holder and when the lease expires. The holder renews it every
few seconds; anyone else is refused while it is fresh, so no camera is processed twice and no
alert raised twice. A runner that dies stops renewing, and after ``ttl`` seconds another may
take over. Taking and renewing happen in one transaction that locks the row (``FOR UPDATE``
on PostgreSQL; SQLite serialises writers).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import uuid
from datetime import datetime, timedelta

from sqlalchemy import select

from openlfr.errors import StoreError
from openlfr.governance.context import Governance
from openlfr.store.models import ServiceState

log = logging.getLogger(__name__)
TTL_SECONDS = 15.0


def runner_name(kind: str) -> str:
    """A name that says what and where the runner is, unique per process and start."""
    return f"{kind}@{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def _key(deployment_id: str) -> str:
    return f"runner:{deployment_id}"


def claim(gov: Governance, deployment_id: str, owner: str, ttl: float = TTL_SECONDS) -> str | None:
    """Take or renew the lease. None when ``owner`` holds it now; else the name of who does."""
    now = gov.now()
    value = json.dumps({"owner": owner, "expires": (now + timedelta(seconds=ttl)).isoformat()})
    try:
        with gov.store.session() as session:
            row = session.scalars(
                select(ServiceState).where(ServiceState.key == _key(deployment_id)).with_for_update()
            ).first()
            if row is None:
                session.add(ServiceState(key=_key(deployment_id), value=value))
                return None
            held = json.loads(row.value)
            if held["owner"] != owner and datetime.fromisoformat(held["expires"]) > now:
                return str(held["owner"])
            row.value = value
            return None
    except StoreError:  # another runner inserted the row first
        return holder(gov, deployment_id) or "another runner"


def holder(gov: Governance, deployment_id: str) -> str | None:
    """Who holds a fresh lease on the deployment, if anyone."""
    with gov.store.session() as session:
        row = session.get(ServiceState, _key(deployment_id))
        if row is None:
            return None
        held = json.loads(row.value)
    return str(held["owner"]) if datetime.fromisoformat(held["expires"]) > gov.now() else None


def release(gov: Governance, deployment_id: str, owner: str) -> None:
    """Give the lease up at once (only its holder can). With the database away, it expires on its own."""
    try:
        with gov.store.session() as session:
            row = session.get(ServiceState, _key(deployment_id))
            if row is not None and json.loads(row.value)["owner"] == owner:
                session.delete(row)
    except StoreError as exc:
        log.warning("deployment %s: runner lease not released, it expires in time: %s", deployment_id, exc)
