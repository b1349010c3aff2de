"""Many writers at once (the service's threads) all get their audit events in, in one unbroken chain."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from openlfr.governance import audit
from openlfr.store import Store
from openlfr.store.crypto import new_key


def test_concurrent_appends_queue_instead_of_failing(database_url: str, tmp_path) -> None:
    store = Store(database_url, f"sqlite:///{tmp_path / 'keys.sqlite'}", new_key())
    store.migrate()
    failures: list[str] = []

    def writer(name: str) -> None:
        for i in range(20):
            try:
                with store.session() as session:
                    session.execute(
                        audit.select(audit.AuditEvent).limit(1)
                    ).all()  # a read first, as routes do
                    audit.append(
                        session,
                        actor=name,
                        action="test",
                        object_type="t",
                        object_id=str(i),
                        at=datetime.now(UTC),
                    )
            except Exception as exc:
                failures.append(repr(exc))

    threads = [threading.Thread(target=writer, args=(f"w{n}",)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with store.session() as session:
        report = audit.verify(session)
    store.dispose()
    assert failures == []
    assert report.intact and report.events == 120
