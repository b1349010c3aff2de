"""Building blocks for governance tests: a deployment plan, subjects from package photos, a fake alert."""

from __future__ import annotations

import itertools
import time
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from openlfr.governance import Governance
from openlfr.governance import deployments as dep
from openlfr.governance import watchlists as wl
from openlfr.live.alerts import Alert
from openlfr.watchlist import Candidate

OFFICER = "Supt. A. Officer"


def plan(start: datetime, hours: float = 4, **changes: object) -> dep.DeploymentPlan:
    values = {
        "name": "High Street, Saturday",
        "purpose": "Locate people wanted for serious violent offences",
        "location_name": "High Street, north end",
        "planned_start": start,
        "planned_end": start + timedelta(hours=hours),
        "authorising_officer": OFFICER,
        "legal_basis": "Common law policing powers; DPA 2018 s.35",
        "dpia_reference": "DPIA-2026-014",
        "area_description": "Pedestrian area between the station and the market",
        "cameras": ("van-1",),
        "signage_confirmed": True,
    }
    values.update(changes)
    return dep.DeploymentPlan(**values)  # type: ignore[arg-type]


def subject(
    reference: str, image: Path | bytes, category: str = "wanted_serious_violent", **changes: object
) -> wl.SubjectEntry:
    values = {
        "reference": reference,
        "category": category,
        "reason": "Warrant 1234 for robbery",
        "image": image,
        "image_source": "custody image",
    }
    values.update(changes)
    return wl.SubjectEntry(**values)  # type: ignore[arg-type]


def live_deployment(gov: Governance, samples: dict[str, Path], also: tuple[str, ...] = ()) -> str:
    """A deployment with Yao Ming on its watchlist (and, under the ``also`` references, his photo
    again), authorised, approved and live now."""
    start = gov.now() - timedelta(minutes=5)
    deployment = dep.create(gov, plan(start), "planner")
    for reference in ("yao_ming", *also):
        wl.add_subject(gov, deployment.id, subject(reference, samples["yaoming"]), "watchlist-manager")
    dep.authorise(gov, deployment.id, OFFICER, "necessary and proportionate")
    dep.approve_watchlist(gov, deployment.id, "inspector")
    dep.start(gov, deployment.id, "operator")
    return deployment.id


_cameras = itertools.count(1)


def fake_alert(
    subject: str = "yao_ming", score: float = 0.7, at: datetime | None = None, camera: str | None = None
) -> Alert:
    """A sighting as the engine raises it; each on its own camera (so its own alert) unless one is named."""
    now = at.timestamp() if at else time.time()
    crop = np.full((160, 160, 3), 90, np.uint8)
    crop[40:120, 40:120] = 200
    return Alert(
        camera=camera or f"van-{next(_cameras)}",
        subject=subject,
        score=score,
        threshold=0.45,
        track_id=7,
        candidates=[Candidate(subject, score), Candidate("other", 0.1)],
        supporting_faces=2,
        frame_time=now - 0.05,
        raised_at=now,
        media_position=1.0,
        probe_crop=crop,
    )
