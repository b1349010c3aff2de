"""The public transparency page and feed: announced deployments, results after the end, nothing biometric."""

from __future__ import annotations

import csv
import io

from fastapi.testclient import TestClient
from sqlalchemy import select

from openlfr.governance import alerts as al
from openlfr.governance import deployments as dep
from openlfr.governance import watchlists as wl
from openlfr.store.models import AuditEvent
from tests.api_support import OFFICER, bearer, draft_deployment, make_app, make_gov, token
from tests.governance_helpers import fake_alert, subject

SECRET_REFERENCE = "SUBJ-SECRET-7781"


def test_public_page_shows_results_and_nothing_biometric(tmp_path, analyzer, samples) -> None:
    gov = make_gov(tmp_path, analyzer)
    past = draft_deployment(gov, name="Market Square trial", location_name="Market Square")
    enrolled = wl.add_subject(gov, past, subject(SECRET_REFERENCE, samples["yaoming"]), "watchlist_manager")
    dep.authorise(gov, past, OFFICER, "necessary")
    dep.approve_watchlist(gov, past, OFFICER)
    dep.start(gov, past, "operator")
    alert = fake_alert(SECRET_REFERENCE)
    al.record(gov, past, alert)
    false = fake_alert(SECRET_REFERENCE, score=0.5)
    al.record(gov, past, false)
    al.decide(gov, alert.alert_id, "confirmed_match", "operator")
    al.record_outcome(gov, alert.alert_id, "arrest", "operator")
    al.decide(gov, false.alert_id, "false_alert", "operator")
    dep.record_counts(gov, past, faces=1234, tracks=300)
    dep.end(gov, past, "operator")
    planned = draft_deployment(gov, name="Bridge Street", location_name="Bridge Street")
    dep.authorise(gov, planned, OFFICER)
    draft_deployment(gov, name="Unapproved draft")
    hidden = draft_deployment(gov, name="Hidden one")
    dep.authorise(gov, hidden, OFFICER)

    with TestClient(make_app(gov), base_url="https://testserver") as client:
        admin = bearer(token(gov, "admin"))
        assert (
            client.put(
                f"/api/deployments/{hidden}/publication", json={"published": False}, headers=admin
            ).status_code
            == 200
        )
        operator = bearer(token(gov, "operator"))
        assert (
            client.put(
                f"/api/deployments/{hidden}/publication", json={"published": True}, headers=operator
            ).status_code
            == 403
        )
        page = client.get("/public")
        feed = client.get("/public/deployments.json")
        table = client.get("/public/deployments.csv")
    assert page.status_code == feed.status_code == table.status_code == 200

    entries = {e["name"]: e for e in feed.json()}
    assert set(entries) == {"Market Square trial", "Bridge Street"}
    result = entries["Market Square trial"]
    assert result["status"] == "past" and result["location"] == "Market Square"
    assert (result["people_seen"], result["alerts"], result["confirmed_alerts"], result["false_alerts"]) == (
        300,
        2,
        1,
        1,
    )
    assert result["engagements"] == 1 and result["outcomes"] == "arrest: 1"
    assert entries["Bridge Street"]["status"] == "planned" and entries["Bridge Street"]["alerts"] is None
    rows = list(csv.DictReader(io.StringIO(table.text)))
    assert {r["name"] for r in rows} == set(entries) and rows[0].keys() == result.keys()
    assert "What happens to your face" in page.text and "deleted at once" in page.text
    assert "Market Square trial" in page.text and "Hidden one" not in page.text

    forbidden = [
        SECRET_REFERENCE,
        enrolled.subject_id,
        alert.alert_id,
        false.alert_id,
        "Warrant 1234",
        "custody image",
        "/9j/",
        "data:image",
        "<img",
        "base64",
        "candidate",
        "probe",
        "template",
        "van-1",
    ]
    for document in (page.text, feed.text, table.text):
        leaked = [word for word in forbidden if word in document]
        assert not leaked, leaked
    with gov.store.session() as session:
        changes = list(
            session.scalars(select(AuditEvent).where(AuditEvent.action == "deployment.publication"))
        )
    assert [(e.actor, e.details) for e in changes] == [("admin", {"published": False})]
