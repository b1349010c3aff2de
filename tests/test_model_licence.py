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
        row.model_pack = row.model_licence = row.research_use = row.model_fingerprint = (
            None  # as 0008 leaves it
        )
    with gov.store.session() as session:
        before = gov.get(session, Deployment, live.id)
        dep.assert_can_match(gov, before)  # acknowledged: a trial goes on
        with pytest.raises(PolicyViolation, match="research use only"):
            dep.assert_can_match(with_settings(gov, research_use_acknowledged=False), before)


def test_weights_decide_not_names(gov, samples, tmp_path) -> None:
    import shutil

    from openlfr.errors import ModelPackError
    from openlfr.models import load_pack

    ours = make_pack(tmp_path / "ours", operational=True)
    operational = with_settings(
        Governance(
            gov.store, gov.settings.model_copy(update={"model_pack": str(ours)}), gov.clock, gov.analyzer
        ),
        research_use_acknowledged=False,
    )
    live = dep.start(operational, ready_to_go_live(operational, samples), "operator")
    same_name = tmp_path / "same-name"  # other weights (buffalo_s's) under the same name
    shutil.copytree(ours, same_name)
    shutil.copy(load_pack("buffalo_s").recognizer_path, same_name / "rec.onnx")
    text = (ours / "manifest.toml").read_text()
    (same_name / "manifest.toml").write_text(
        text.replace(
            load_pack(str(ours)).manifest.recognizer.sha256, load_pack("buffalo_s").manifest.recognizer.sha256
        )
    )
    swapped = Governance(
        gov.store,
        operational.settings.model_copy(update={"model_pack": str(same_name)}),
        gov.clock,
        gov.analyzer,
    )
    with pytest.raises(PolicyViolation, match="matches with those weights only"):
        dep.assert_can_match(swapped, live)
    # buffalo_s's weights under another name and a claim of operational use are still research-only
    assert load_pack(str(same_name)).manifest.operational_use and not load_pack(str(same_name)).operational
    with pytest.raises(PolicyViolation, match="licensed for research use only"):
        dep.start(swapped, ready_to_go_live(swapped, samples), "operator")
    (ours / "manifest.toml").write_text(text.replace("operational_use = true", 'operational_use = "yes"'))
    load_pack.cache_clear()
    with pytest.raises(ModelPackError):  # said explicitly, as a boolean, or not at all
        load_pack(str(ours))


def test_a_trial_stops_when_the_service_no_longer_runs_trials(gov, samples) -> None:
    live = dep.start(gov, ready_to_go_live(gov, samples), "operator")
    dep.assert_can_match(gov, live)
    with pytest.raises(PolicyViolation, match="no longer runs trials"):
        dep.assert_can_match(with_settings(gov, research_use_acknowledged=False), live)


def test_history_is_not_rewritten_and_the_public_page_survives_a_broken_pack(gov, samples, tmp_path) -> None:
    ended = dep.start(gov, ready_to_go_live(gov, samples), "operator")
    dep.end(gov, ended.id, "operator", "done")
    with gov.store.session() as session:
        row = gov.get(session, Deployment, ended.id)
        row.model_pack = row.model_licence = row.research_use = row.model_fingerprint = None  # pre-0008
    assert reports.build(gov, ended.id)["model_pack"] == "not recorded"  # never today's pack
    never = dep.end(gov, ready_to_go_live(gov, samples), "operator", "called off")
    assert reports.build(gov, never.id)["model_pack"] == "none: it never went live"
    planned = ready_to_go_live(gov, samples)
    broken = Governance(
        gov.store, gov.settings.model_copy(update={"model_pack": str(tmp_path / "gone")}), gov.clock
    )
    (entry,) = [e for e in publication.public_deployments(broken) if e["id"] == planned]
    assert entry["model_pack"] == "unavailable" and str(tmp_path) not in str(entry)


def test_staff_see_the_pack_before_going_live(gov, samples) -> None:
    from fastapi.testclient import TestClient

    from openlfr.api.service import Service
    from openlfr.governance import accounts
    from openlfr.web import create_app
    from tests.api_support import PASSWORD, bearer, token

    accounts.create_user(gov, "op", PASSWORD, "operator", "setup")
    deployment_id = ready_to_go_live(gov, samples)
    with TestClient(create_app(Service(gov, run_engines=False)), base_url="https://testserver") as client:
        shown = client.get(f"/api/deployments/{deployment_id}", headers=bearer(token(gov, "op"))).json()
        assert shown["model_pack"] is None  # fixed only when it goes live
        client.post("/api/auth/login", json={"username": "op", "password": PASSWORD})
        page = client.get(f"/console/deployments/{deployment_id}").text
    assert "research use only: this deployment is a trial" in page
    assert 'data-warning="The model pack buffalo_s is licensed for research use only' in page


def test_the_built_in_licence_clean_pack_goes_live_without_a_research_acknowledgement(gov, samples) -> None:
    from openlfr.models.pack import YUNET_SFACE
    from tests.conftest import analyzer_of

    yunet = analyzer_of("yunet_sface")
    operational = with_settings(
        Governance(
            gov.store, gov.settings.model_copy(update={"model_pack": "yunet_sface"}), gov.clock, yunet
        ),
        research_use_acknowledged=False,
    )
    deployment_id = ready_to_go_live(operational, samples)
    live = dep.start(operational, deployment_id, "operator")
    assert (live.model_pack, live.model_licence, live.research_use) == (
        "yunet_sface",
        YUNET_SFACE.licence_name,
        False,
    )
    assert live.alert_threshold == YUNET_SFACE.operating.alert_threshold  # the pack's, as none was set
    dep.assert_can_match(operational, live)
    with pytest.raises(PolicyViolation, match="went live on the model pack yunet_sface"):
        dep.assert_can_match(gov, live)  # a service switched back to buffalo_s matches nothing for it
    html = reports.render_html(reports.build(operational, deployment_id))
    assert "yunet_sface" in html and "Apache-2.0" in html and "research use only" not in html
