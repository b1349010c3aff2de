"""The model pack's licence is part of accountability: a research-only pack goes live only as an
acknowledged trial, and every report and the public page name the pack and its licence."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from openlfr.cli import app
from openlfr.errors import PolicyViolation
from openlfr.governance import Governance, publication, reports
from openlfr.governance import deployments as dep
from openlfr.governance import watchlists as wl
from openlfr.store.models import AuditEvent, Deployment
from tests.governance_helpers import OFFICER, plan, subject
from tests.support.packs import make_pack


def ready_to_go_live(gov: Governance, samples: dict[str, Path]) -> str:
    deployment = dep.create(gov, plan(gov.now()), "planner")
    wl.add_subject(gov, deployment.id, subject("yao_ming", samples["yaoming"]), "watchlist-manager")
    dep.authorise(gov, deployment.id, OFFICER, "necessary and proportionate")
    dep.approve_watchlist(gov, deployment.id, "inspector")
    return deployment.id


def with_settings(gov: Governance, **governance: object) -> Governance:
    settings = gov.settings.model_copy(
        update={"governance": gov.settings.governance.model_copy(update=governance)}
    )
    return Governance(gov.store, settings, gov.clock, gov.analyzer)


def test_a_research_only_pack_goes_live_only_as_an_acknowledged_trial(gov, samples) -> None:
    deployment_id = ready_to_go_live(gov, samples)
    operational = with_settings(gov, research_use_acknowledged=False)
    with pytest.raises(PolicyViolation, match="buffalo_s is licensed for research use only"):
        dep.start(operational, deployment_id, "operator")
    live = dep.start(gov, deployment_id, "operator")  # this deployment is a trial, said so in settings
    assert (live.model_pack, live.research_use) == ("buffalo_s", True)
    with gov.store.session() as session:
        started = session.scalars(select(AuditEvent).where(AuditEvent.action == "deployment.start")).one()
    assert started.details["research_use"] is True and started.details["model_pack"] == "buffalo_s"
    report = reports.build(gov, deployment_id)
    assert report["model_pack"] == "buffalo_s" and "non-commercial research" in report["model_licence"]
    assert "research use only" in reports.render_html(report)
    (entry,) = [e for e in publication.public_deployments(gov) if e["id"] == deployment_id]
    assert (entry["model_pack"], entry["research_use"]) == ("buffalo_s", True)


def test_an_operational_pack_goes_live_and_the_deployment_keeps_to_it(gov, samples, tmp_path) -> None:
    folder = make_pack(tmp_path / "pack", operational=True)
    ours = gov.settings.model_copy(update={"model_pack": str(folder)})
    operational = Governance(gov.store, ours, gov.clock, gov.analyzer)
    operational = with_settings(operational, research_use_acknowledged=False)
    deployment_id = ready_to_go_live(operational, samples)
    live = dep.start(operational, deployment_id, "operator")
    assert (live.model_pack, live.model_licence, live.research_use) == (
        "my-pack",
        "our own, for operations",
        False,
    )
    dep.assert_can_match(operational, live)
    with pytest.raises(PolicyViolation, match="went live on the model pack my-pack"):
        dep.assert_can_match(gov, live)  # the service now runs buffalo_s: no matching on a swapped pack
    assert "research use only" not in reports.render_html(reports.build(operational, deployment_id))


def test_the_public_page_names_the_pack_of_every_deployment(gov, samples) -> None:
    from fastapi.testclient import TestClient

    from openlfr.api.service import Service
    from openlfr.web import create_app

    deployment_id = ready_to_go_live(gov, samples)  # planned: the pack it would go live on
    with TestClient(create_app(Service(gov, run_engines=False))) as client:
        page = client.get("/public").text
        listed = client.get("/public/deployments.json").json()
    assert "buffalo_s" in page and "research use only: a trial" in page
    assert next(e["model_licence"] for e in listed if e["id"] == deployment_id).startswith("InsightFace")


def test_openlfr_models_says_whether_operational_use_is_permitted() -> None:
    result = CliRunner().invoke(app, ["models"], env={"COLUMNS": "200"})
    assert result.exit_code == 0 and "operational use: not permitted by its licence" in result.stdout


def test_a_deployment_live_from_before_packs_were_recorded_meets_todays_rule(gov, samples) -> None:
    live = dep.start(gov, ready_to_go_live(gov, samples), "operator")
    with gov.store.session() as session:
        row = gov.get(session, Deployment, live.id)
        row.model_pack = row.model_licence = row.research_use = None  # as migration 0008 leaves it
    with gov.store.session() as session:
        before = gov.get(session, Deployment, live.id)
        dep.assert_can_match(gov, before)  # acknowledged: a trial goes on
        with pytest.raises(PolicyViolation, match="research use only"):
            dep.assert_can_match(with_settings(gov, research_use_acknowledged=False), before)
