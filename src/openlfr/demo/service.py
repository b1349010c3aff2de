"""The self-contained service demo: users, a live deployment, a watchlist and a looping camera.

Everything comes from photos shipped in installed packages; the camera is a video generated
at start-up. Passwords are random for each start and printed once.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from openlfr.errors import OpenLFRError
from openlfr.governance import accounts
from openlfr.governance import deployments as dep
from openlfr.governance import watchlists as wl
from openlfr.governance.context import Governance

log = logging.getLogger(__name__)

DEMO_USERS = {
    "admin": "admin",
    "officer": "authorising_officer",
    "manager": "watchlist_manager",
    "operator": "operator",
    "field": "field_officer",
    "auditor": "auditor",
}


@dataclass
class DemoSetup:
    deployment_id: str
    passwords: dict[str, str] = field(default_factory=dict)
    enrolled: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)


def prepare_demo(gov: Governance, folder: Path, hours: float = 8.0, cameras: int = 1) -> DemoSetup:
    """Create the demo's users and a deployment live from now for ``hours``, its cameras all one video."""
    from openlfr.demo.synthetic import demo_frames, write_video, write_watchlist

    folder.mkdir(parents=True, exist_ok=True)
    passwords = {name: secrets.token_urlsafe(9) for name in DEMO_USERS}
    for name, role in DEMO_USERS.items():
        accounts.create_user(gov, name, passwords[name], role, "demo-setup", display_name=f"Demo {name}")
    video = folder / "demo-camera.mp4"
    if not video.exists():
        write_video(video, demo_frames())
    now = gov.now()
    plan = dep.DeploymentPlan(
        name="Demo: station forecourt",
        purpose="Demonstration: locate people wanted for serious violent offences",
        location_name="Station forecourt (demo)",
        area_description="Pedestrian entrance; camera replayed from a generated video",
        planned_start=now - timedelta(minutes=1),
        planned_end=now + timedelta(hours=hours),
        authorising_officer="officer",
        legal_basis="Demonstration only: no real people are searched for",
        dpia_reference="DPIA-DEMO-001",
        cameras=(str(video),) * cameras,
        signage_confirmed=True,
    )
    deployment = dep.create(gov, plan, "manager")
    setup = DemoSetup(deployment.id, passwords)
    for subject_folder in sorted(p for p in write_watchlist(folder / "watchlist").iterdir() if p.is_dir()):
        photo = next(subject_folder.iterdir())
        entry = wl.SubjectEntry(
            reference=subject_folder.name,
            category="wanted_serious_violent",
            reason="Demonstration entry",
            image=photo,
            image_source="package photo",
        )
        try:
            wl.add_subject(gov, deployment.id, entry, "manager")
            setup.enrolled.append(subject_folder.name)
        except OpenLFRError as exc:
            setup.rejected.append(f"{subject_folder.name}: {exc}")
    dep.assign_field_officers(gov, deployment.id, ["field"], "officer", "demonstration")
    dep.authorise(gov, deployment.id, "officer", "demonstration")
    dep.approve_watchlist(gov, deployment.id, "officer", "demonstration")
    dep.start(gov, deployment.id, "operator")
    return setup
