"""Running the live engine for a deployment: only when the law allows, and with alerts kept safely."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from openlfr.errors import PolicyViolation
from openlfr.governance import deployments as dep
from openlfr.governance import watchlists as wl
from openlfr.governance.alert_sink import StoreAlertSink
from openlfr.governance.context import Governance
from openlfr.settings import LiveSettings
from openlfr.store.models import Deployment
from openlfr.video import SourceSpec, parse_source
from openlfr.watchlist import Gallery


@dataclass
class LiveSession:
    deployment_id: str
    name: str
    cameras: list[str]
    gallery: Gallery
    live: LiveSettings
    sink: StoreAlertSink
    still_allowed: Callable[[], str | None]
    watchlist: wl.WatchlistSync  # keeps ``gallery`` equal to the watchlist while matching runs

    def camera_sources(self) -> dict[str, SourceSpec]:
        """The deployment's cameras as ``cam1, cam2, …``; recordings loop in real time, like a camera."""
        return {
            f"cam{i + 1}": parse_source(uri, loop=True, realtime=True, **self.live.source_options())
            for i, uri in enumerate(self.cameras)
        }


def open_live_session(
    gov: Governance, deployment_id: str, actor: str, spool_dir: Path | None = None
) -> LiveSession:
    """Refuse unless the deployment may match now; else its gallery, settings and durable alert sink."""
    with gov.store.session() as session:
        deployment = gov.get(session, Deployment, deployment_id)
        dep.assert_can_match(gov, deployment)
        name, cameras, threshold = deployment.name, list(deployment.cameras), deployment.alert_threshold
    gallery = wl.load_gallery(gov, deployment_id, actor, "live matching")
    live = gov.settings.live.model_copy(update={"alert_threshold": threshold})
    sink = StoreAlertSink(gov, deployment_id, spool_dir or gov.settings.data_dir / "spool")

    def still_allowed() -> str | None:
        """None while matching may go on; else why it must stop."""
        try:
            with gov.store.session() as session:
                dep.assert_can_match(gov, gov.get(session, Deployment, deployment_id))
        except PolicyViolation as exc:
            return str(exc)
        except Exception:  # database briefly unreachable: keep running, the spool protects alerts
            return None
        return None

    watchlist = wl.WatchlistSync(gov, deployment_id, gallery, actor)
    return LiveSession(deployment_id, name, cameras, gallery, live, sink, still_allowed, watchlist)
