"""Everything `openlfr serve` runs in one process besides the web routes.

The alert hub (WebSocket fan-out), the supervisor (live engines), the periodic purge and the
optional webhook. The service audits the settings it starts with, so an auditor can see the
thresholds and retention rules in force at any time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from fastapi import FastAPI
from sqlalchemy import text

from openlfr.api.background import Background
from openlfr.api.feed import AlertHub
from openlfr.api.signin import SignInGate
from openlfr.api.supervisor import DeploymentSupervisor
from openlfr.api.webhook import WebhookSender
from openlfr.errors import ConfigError
from openlfr.governance import audit
from openlfr.governance.context import Governance
from openlfr.governance.retention import purge
from openlfr.live.runner import CameraStatus
from openlfr.redaction import redact, redact_text, redact_url
from openlfr.store.files import remove_leftovers

log = logging.getLogger(__name__)


def public_settings(gov: Governance) -> dict:
    """The settings in force, secrets masked (what is audited at start and shown to auditors):
    secret fields as ``**********``, and passwords and tokens inside URLs (the store's, the
    webhook's) as ``***``; the webhook's path too, which is the credential of many receivers."""
    shown = redact(gov.settings.model_dump(mode="json"))
    if gov.settings.api.webhook_url:
        shown["api"]["webhook_url"] = redact_url(gov.settings.api.webhook_url, whole_path=True)
    return shown


class Periodic(Background):
    """Calls a function every ``interval`` seconds on its own thread until stopped."""

    def __init__(self, name: str, interval: float, function) -> None:
        super().__init__(name)
        self.interval, self.function = interval, function
        self.last_run: datetime | None = None
        self.last_error: str | None = None
        self.runs = self.failures = 0

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.function()
                self.last_error = None
            except Exception as exc:
                log.exception("%s failed; will try again", self.name)
                self.last_error = redact_text(f"{type(exc).__name__}: {exc}")
                self.failures += 1
            self.runs += 1
            self.last_run = datetime.now(UTC)
            self._stop.wait(self.interval)


@dataclass(frozen=True)
class Health:
    """What an administrator checks first: is the database answering, are the engines and the
    purge running, and which deployments are not running, with the reason (no personal data)."""

    database: str | None  # None when it answers, else the error
    engines: bool
    cameras: dict[str, list[CameraStatus]]
    refused: dict[str, str]
    last_purge: datetime | None
    purge_error: str | None

    @property
    def ok(self) -> bool:
        failed = any(c.state == "failed" for statuses in self.cameras.values() for c in statuses)
        return self.database is None and self.purge_error is None and not failed


class Service:
    def __init__(self, gov: Governance, *, run_engines: bool = True) -> None:
        self.gov = gov
        api = gov.settings.api
        self.gate = SignInGate(gov, api)
        self.image_slots = asyncio.Semaphore(api.image_concurrency)  # see deps.image_work
        self.hub = AlertHub(gov, api.feed_poll_seconds)
        self.supervisor = DeploymentSupervisor(gov, api.supervise_seconds)
        self.run_engines = run_engines
        self.searchers: dict = {}  # gallery name → loaded GallerySearcher
        self.webhook: WebhookSender | None = None
        if api.webhook_url:
            if api.webhook_secret is None:
                raise ConfigError("api.webhook_url needs api.webhook_secret to sign deliveries")
            self.webhook = WebhookSender(
                gov, api.webhook_url, api.webhook_secret.get_secret_value().encode(), api.webhook_max_backoff
            )
        self.purger = Periodic("purge", gov.settings.governance.purge_interval_minutes * 60, self._purge)

    def _purge(self) -> None:
        data = self.gov.settings.data_dir
        for folder in (data / "spool", data / "galleries"):  # half-written by a crash: never acknowledged
            if folder.is_dir():
                remove_leftovers(folder, everywhere=True)
        report = purge(self.gov)
        if not report.nothing:
            log.info("purge: %s", report)

    def health(self) -> Health:
        try:
            with self.gov.store.session() as session:
                session.execute(text("SELECT 1"))
            database = None
        except Exception as exc:  # whatever the driver raises, the page shows it rather than failing
            database = redact_text(f"{type(exc).__name__}: {exc}")
        return Health(
            database=database,
            engines=self.run_engines,
            cameras=self.supervisor.status(),
            refused=dict(self.supervisor.refusals),
            last_purge=self.purger.last_run,
            purge_error=self.purger.last_error,
        )

    def _audit_start(self) -> None:
        with self.gov.store.session() as session:
            audit.append(
                session,
                actor="service",
                action="service.start",
                object_type="service",
                object_id="openlfr",
                at=self.gov.now(),
                details={"settings": public_settings(self.gov), "engines": self.run_engines},
            )

    @asynccontextmanager
    async def lifespan(self, _: FastAPI) -> AsyncIterator[None]:
        self._audit_start()
        hub = asyncio.create_task(self.hub.run())
        self.purger.start()
        if self.webhook:
            self.webhook.start()
        if self.run_engines:
            self.supervisor.start()
        try:
            yield
        finally:
            hub.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await hub
            for part in (self.supervisor, self.webhook, self.purger):
                if part is not None and (part is not self.supervisor or self.run_engines):
                    await asyncio.to_thread(part.stop)
