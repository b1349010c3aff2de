"""Alerts to the database without losing any: an encrypted spool on disk first, then the store.

``emit`` seals the alert (probe crop included) under the deployment's data key and writes it
atomically to the spool folder (temporary file, fsync, rename: never half-written). A
writer thread moves spooled alerts into the database and deletes each file only after its
row is committed; while the database is down or restarting it keeps retrying, so alerts
queue durably and are written once it is back. Writing is idempotent on the alert id. If the
spool disk is full, the alert is held in memory and written straight to the database.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
from pathlib import Path

from openlfr.errors import OpenLFRError
from openlfr.governance import alerts as alert_records
from openlfr.governance.context import Governance
from openlfr.live.alerts import Alert
from openlfr.store.files import private_folder, remove_leftovers, write_atomically
from openlfr.vision.images import decode_jpeg, encode_jpeg
from openlfr.watchlist import Candidate

log = logging.getLogger(__name__)


class StoreAlertSink:
    def __init__(
        self, gov: Governance, deployment_id: str, spool_dir: Path, retry_interval: float = 1.0
    ) -> None:
        self.gov = gov
        self.deployment_id = deployment_id
        self.folder = private_folder(spool_dir / deployment_id, tighten=True)
        remove_leftovers(self.folder)  # a write cut short by a crash: its alert was never acknowledged
        self.retry_interval = retry_interval
        self.written = 0
        self.spool_errors = 0
        self.last_error: str | None = None
        self._memory: list[Alert] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        gov.store.data_key(deployment_id)  # cache the key now, so sealing works while a database is down
        self._thread = threading.Thread(
            target=self._run, name=f"alert-writer-{deployment_id[:8]}", daemon=True
        )
        self._thread.start()

    # -- engine side ----------------------------------------------------------------------
    def emit(self, alert: Alert) -> None:
        try:
            self._spool(alert)
        except OSError as exc:
            self.spool_errors += 1
            self.last_error = f"spool write failed ({exc.strerror or exc}); alert held in memory"
            log.error("alert %s: %s", alert.alert_id, self.last_error)
            with self._lock:
                self._memory.append(alert)
        self._wake.set()

    def _spool(self, alert: Alert) -> None:
        payload = alert.to_dict() | {"probe_jpeg": base64.b64encode(encode_jpeg(alert.probe_crop)).decode()}
        sealed = self.gov.store.seal(
            self.deployment_id, json.dumps(payload).encode(), f"spool:{alert.alert_id}"
        )
        write_atomically(self.folder / f"{alert.raised_at:.6f}-{alert.alert_id}.alert", sealed)

    # -- writer side ----------------------------------------------------------------------
    def pending(self) -> int:
        with self._lock:
            held = len(self._memory)
        return held + len(list(self.folder.glob("*.alert")))

    def flush(self) -> int:
        """Write whatever is queued; returns how many remain (0 when the database took everything)."""
        with self._lock:
            held = list(self._memory)
        for alert in held:
            if not self._write(alert):
                return self.pending()
            with self._lock:
                self._memory.remove(alert)
        for path in sorted(self.folder.glob("*.alert")):
            stored = self._read(path)
            if stored is None:
                continue
            if not self._write(stored):
                break
            path.unlink(missing_ok=True)
        return self.pending()

    def _write(self, alert: Alert) -> bool:
        try:
            alert_records.record(self.gov, self.deployment_id, alert)
        except OpenLFRError as exc:
            self.last_error = str(exc)
            return False
        self.written += 1
        return True

    def _read(self, path: Path) -> Alert | None:
        try:
            data = json.loads(
                self.gov.store.open(
                    self.deployment_id, path.read_bytes(), f"spool:{path.stem.split('-', 1)[1]}"
                )
            )
        except (OSError, OpenLFRError, ValueError) as exc:
            self.last_error = f"{path.name}: unreadable spool file ({exc}); left in place"
            return None
        probe = decode_jpeg(base64.b64decode(data["probe_jpeg"]))
        return Alert(
            camera=data["camera"],
            subject=data["subject"],
            score=data["score"],
            threshold=data["threshold"],
            track_id=data["track_id"],
            candidates=[Candidate(c["subject"], c["score"]) for c in data["candidates"]],
            supporting_faces=data["supporting_faces"],
            frame_time=data["frame_time"],
            raised_at=data["raised_at"],
            media_position=data["media_position"],
            probe_crop=probe,
            alert_id=data["alert_id"],
            expected_false_alert_rate=data.get("expected_false_alert_rate"),
            probe_box=tuple(data["probe_box"]) if data.get("probe_box") else None,
            probe_position=data.get("probe_position"),
        )

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.retry_interval)
            self._wake.clear()
            try:
                self.flush()
            except Exception as exc:  # keep the writer alive whatever happens; the spool keeps the alerts
                self.last_error = f"unexpected {type(exc).__name__}: {exc}"
                log.exception("alert writer")

    def close(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)
        remaining = self.flush()
        if remaining:
            log.warning(
                "%d alert(s) stay in the spool %s until the database is reachable", remaining, self.folder
            )
