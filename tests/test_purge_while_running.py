"""Crypto-shredding holds while the service runs: a raw copy of the data folder, taken the moment a
deployment shows as purged, holds no readable data key and decrypts nothing."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from openlfr.errors import EncryptionKeyError
from openlfr.governance import Governance
from openlfr.governance import alerts as al
from openlfr.governance import deployments as dep
from openlfr.settings import load_settings
from openlfr.store import Store, crypto
from openlfr.store.models import DataKey, Deployment, Subject
from tests.api_support import live_server, make_app
from tests.governance_helpers import fake_alert, live_deployment
from tests.waiting import wait_for

pytestmark = pytest.mark.slow


def service_gov(folder: Path, analyzer) -> Governance:  # type: ignore[no-untyped-def]
    """Governance as `openlfr serve` builds it: files in the data folder, the master key in a key
    file beside them, a purge every second that keeps nothing once a deployment ends."""
    settings = load_settings(
        data_dir=folder,
        governance={
            "watchlist_retention_hours": 0,
            "alert_retention_days": 0,
            "purge_interval_minutes": 1 / 60,
        },
    )
    key = crypto.write_key_file(folder / "master.key", crypto.new_key())
    store = Store(f"sqlite:///{folder / 'openlfr.sqlite'}", f"sqlite:///{folder / 'keys.sqlite'}", key)
    store.migrate()
    gov = Governance(store, settings, analyzer=analyzer)
    return gov


def copy_raw(folder: Path, target: Path) -> list[Path]:
    """Every file of the data folder, byte for byte, as a backup tool or an intruder would take it."""
    target.mkdir()
    copies = []
    for path in folder.iterdir():
        if path.is_file():
            copies.append(Path(shutil.copyfile(path, target / path.name)))
    return copies


def test_a_copy_taken_after_the_purge_cannot_be_decrypted(tmp_path, analyzer, samples) -> None:
    data = tmp_path / "data"
    gov = service_gov(data, analyzer)
    deployment_id = live_deployment(gov, samples)
    al.record(gov, deployment_id, fake_alert())
    with gov.store._key_sessions() as session:  # what an intruder would look for in the files
        wrapped = session.get(DataKey, deployment_id).wrapped_key
    data_key = gov.store.data_key(deployment_id)
    with gov.store.session() as session:
        template = session.scalars(select(Subject.template_sealed)).one()
    dep.end(gov, deployment_id, "operator", "operation over")

    with live_server(make_app(gov)):  # the service runs its own periodic purge
        assert wait_for(lambda: _state(gov, deployment_id) == "purged", 30)
        copies = copy_raw(data, tmp_path / "copy")  # at once, with the service still running

    assert {p.name for p in copies} >= {"openlfr.sqlite", "keys.sqlite", "master.key"}
    for copy in copies:
        raw = copy.read_bytes()
        assert wrapped not in raw and data_key not in raw, f"{copy.name} still holds the data key"
        assert template not in raw, f"{copy.name} still holds a sealed template"
    copied_key = crypto.load_master_key(None, tmp_path / "copy" / "master.key", create=False)
    copy = tmp_path / "copy"
    copied = Store(f"sqlite:///{copy / 'openlfr.sqlite'}", f"sqlite:///{copy / 'keys.sqlite'}", copied_key)
    try:
        with pytest.raises(EncryptionKeyError, match="purged"):
            copied.data_key(deployment_id)
        with pytest.raises(Exception):  # noqa: B017 - any failure: the point is that nothing opens
            crypto.open_sealed(copied_key, template, f"{deployment_id}:template")
    finally:
        copied.dispose()
    gov.store.dispose()


def _state(gov: Governance, deployment_id: str) -> str:
    with gov.store.session() as session:
        return session.get(Deployment, deployment_id).state


def test_a_key_store_on_postgresql_keeps_no_destroyed_key_in_its_tables(postgres, tmp_path) -> None:
    """VACUUM FULL rewrites the key table, so its files hold no destroyed key; PostgreSQL's own
    write-ahead log still does until recycled, which is why the README keeps keys in SQLite."""
    main = postgres.create_database("shred_main")
    keys = postgres.create_database("shred_keys")
    store = Store(main, keys, crypto.new_key())
    store.migrate()
    try:
        store.create_data_key("d1")
        store.create_data_key("d2")
        with store._key_sessions() as session:
            wrapped = session.get(DataKey, "d1").wrapped_key
        store.destroy_data_key("d1")
        tables = [p for p in (postgres.data / "base").rglob("*") if p.is_file()]
        assert tables and not any(wrapped in p.read_bytes() for p in tables)
        store.data_key("d2")  # the other deployment's key is untouched
    finally:
        store.dispose()


def test_the_audit_trail_names_no_one_in_clear_and_no_one_after_the_purge(
    tmp_path, analyzer, samples
) -> None:
    from fastapi.testclient import TestClient

    from openlfr.governance import accounts, audit
    from openlfr.store.models import AuditEvent
    from tests.api_support import PASSWORD, bearer, token

    gov = service_gov(tmp_path / "data", analyzer)
    for role in ("admin", "auditor"):
        accounts.create_user(gov, role, PASSWORD, role, "setup")
    deployment_id = live_deployment(gov, samples)
    alert = fake_alert()
    al.record(gov, deployment_id, alert)
    al.decide(gov, alert.alert_id, "false_alert", "operator", "it was his brother, Wang Lei")
    with gov.store.session() as session:
        raw = json.dumps([(e.reason, e.details) for e in session.scalars(select(AuditEvent))])
    for personal in ("yao_ming", "Warrant 1234", "Wang Lei"):
        assert personal not in raw  # sealed under the deployment's key, not in clear

    def shown(role: str) -> str:
        with TestClient(make_app(gov)) as client:
            return json.dumps(client.get("/api/audit?limit=1000", headers=bearer(token(gov, role))).json())

    assert "Wang Lei" in shown("auditor") and "yao_ming" in shown("auditor")  # while the data lives
    assert "Wang Lei" not in shown("admin") and "not shown to this role" in shown("admin")
    dep.end(gov, deployment_id, "operator", "over")
    from openlfr.governance.retention import purge

    purge(gov)
    assert _state(gov, deployment_id) == "purged"
    after = shown("auditor")
    assert "Wang Lei" not in after and "yao_ming" not in after and '"sealed": "purged"' in after
    with gov.store.session() as session:
        assert audit.verify(session).intact  # the chain still proves nothing was changed
    gov.store.dispose()


def test_a_reader_of_the_key_store_keeps_the_deployment_from_showing_purged(
    tmp_path, analyzer, samples
) -> None:
    """A backup reading keys.sqlite during the purge: the key cannot be erased from its log yet, so
    the deployment is not shown purged; the next purge, the reader gone, finishes the job."""
    import sqlite3

    from openlfr.governance.retention import purge

    data = tmp_path / "data"
    gov = service_gov(data, analyzer)
    deployment_id = live_deployment(gov, samples)
    with gov.store._key_sessions() as session:
        wrapped = session.get(DataKey, deployment_id).wrapped_key
    dep.end(gov, deployment_id, "operator", "over")
    backup = sqlite3.connect(data / "keys.sqlite")
    backup.execute("BEGIN")
    backup.execute("SELECT count(*) FROM data_keys").fetchone()  # a snapshot from before the shred
    try:
        report = purge(gov)
        assert report.keys_pending == [deployment_id] and report.keys_destroyed == []
        assert _state(gov, deployment_id) == "ended"
    finally:
        backup.rollback()
        backup.close()
    report = purge(gov)
    assert report.keys_destroyed == [deployment_id] and _state(gov, deployment_id) == "purged"
    assert not any(wrapped in p.read_bytes() for p in data.iterdir() if p.is_file())
    gov.store.dispose()


def test_a_purge_by_another_process_stops_a_running_service_decrypting(tmp_path, analyzer, samples) -> None:
    """`openlfr purge` beside a running service: the key the service holds in memory stops working."""
    from openlfr.governance.retention import purge
    from openlfr.store import Store

    data = tmp_path / "data"
    gov = service_gov(data, analyzer)
    deployment_id = live_deployment(gov, samples)
    al.record(gov, deployment_id, fake_alert())
    gov.store.data_key(deployment_id)  # held in the service's memory
    dep.end(gov, deployment_id, "operator", "over")
    key = crypto.load_master_key(None, data / "master.key", create=False)
    other = Store(f"sqlite:///{data / 'openlfr.sqlite'}", f"sqlite:///{data / 'keys.sqlite'}", key)
    other_gov = Governance(other, gov.settings)
    purge(other_gov)  # the other process
    assert _state(gov, deployment_id) == "purged"
    time.sleep(2.1)
    with pytest.raises(EncryptionKeyError, match="purged"):
        gov.store.data_key(deployment_id)
    other.dispose()
    gov.store.dispose()
