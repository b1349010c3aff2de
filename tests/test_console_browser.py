"""The console in a real browser (Debian's Chromium via Playwright) against the service on a real video.

Screenshots of the main pages are saved to test-artifacts/screenshots (or $OPENLFR_ARTIFACTS).
"""

from __future__ import annotations

import os
import shutil
import time
from datetime import timedelta
from pathlib import Path

import pytest

from openlfr.demo.service import prepare_demo
from tests.api_support import live_server, make_app, make_gov
from tests.conftest import REPO_ROOT

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-dev-shm-usage",
]
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="Debian chromium not installed (scripts/system-deps.sh)"
    ),
]


@pytest.fixture(scope="module")
def shots() -> Path:
    folder = Path(os.environ.get("OPENLFR_ARTIFACTS", REPO_ROOT / "test-artifacts")) / "screenshots"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


@pytest.fixture(scope="module")
def console(tmp_path_factory, analyzer):  # type: ignore[no-untyped-def]
    folder = tmp_path_factory.mktemp("console")
    gov = make_gov(folder, analyzer, users=False, supervise_seconds=0.5)
    setup = prepare_demo(gov, folder / "demo")
    with live_server(make_app(gov, run_engines=True)) as url:
        yield gov, setup, url


@pytest.fixture(scope="module")
def browser():  # type: ignore[no-untyped-def]
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        yield instance
        instance.close()


def wait_js(page, expression: str, limit: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    """Wait until a JavaScript expression holds (wait_for_function evaluates strings: CSP forbids it)."""
    from playwright.sync_api import Error

    deadline = time.monotonic() + limit
    while True:
        try:
            if page.evaluate(f"() => Boolean({expression})"):
                return
        except Error as exc:  # the page is reloading: ask the new one
            if "context was destroyed" not in str(exc):
                raise
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {limit:.0f} s: {expression}")
        time.sleep(0.1)


def sign_in(browser, url: str, username: str, password: str, path: str = "/console/alerts"):  # type: ignore[no-untyped-def]
    page = browser.new_context(viewport={"width": 1280, "height": 860}).new_page()
    page.goto(url + path)
    assert "/login" in page.url
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(url + path)
    return page


def al_decision(gov, alert_id: str) -> str | None:  # type: ignore[no-untyped-def]
    from openlfr.store.models import AlertRecord

    with gov.store.session() as session:
        return session.get(AlertRecord, alert_id).decision


def no_sideways_scroll(page) -> bool:  # type: ignore[no-untyped-def]
    return page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth + 1")


def test_operator_sees_alert_arrive_and_adjudicates_it(console, browser, shots) -> None:
    gov, setup, url = console
    page = browser.new_context(viewport={"width": 1280, "height": 860}).new_page()
    page.goto(url + "/console/alerts")
    page.screenshot(path=shots / "01-login.png")
    page.close()
    page = sign_in(browser, url, "operator", setup.passwords["operator"])
    page.wait_for_selector("#feed-state.ok")
    page.wait_for_selector("#queue li", timeout=90_000)  # raised by the engine on the video, pushed live
    wait_js(page, "document.getElementById('d-probe').naturalWidth > 0")
    wait_js(page, "document.getElementById('d-reference').naturalWidth > 0")
    assert page.inner_text("#d-subject") == "yao_ming"
    assert page.inner_text("#d-decision") == "undecided"
    assert page.inner_text("#d-deployment").startswith("Demo")  # where, and why they are wanted
    assert page.inner_text("#d-category") and page.inner_text("#d-reason") != "—"
    page.screenshot(path=shots / "02-alerts-operator.png")
    page.keyboard.press("f")  # a slip: false alert...
    assert page.is_visible("#pending")
    page.keyboard.press("Escape")  # ...taken back before it is sent
    time.sleep(5)
    assert page.inner_text("#d-decision") == "undecided"
    alert_id = page.get_attribute("#queue li.selected", "data-id")
    assert al_decision(gov, alert_id) is None
    page.keyboard.press("c")  # keyboard shortcut: confirmed match
    wait_js(page, "document.getElementById('d-decision').textContent.startsWith('confirmed match')")
    assert page.is_visible("#outcome")
    assert page.input_value("#outcome-select") == ""  # nothing chosen for the operator
    page.click("#outcome-save")
    assert "Choose the outcome" in page.inner_text("#d-error")
    page.select_option("#outcome-select", "words_of_advice")
    page.click("#outcome-save")
    wait_js(page, "document.getElementById('d-outcome').textContent === 'words_of_advice'")
    page.goto(url + "/console/reports")
    report = page.locator(f".report[data-deployment='{setup.deployment_id}']")
    assert report.locator(".r-confirmed").inner_text() == "1"
    wait_js(page, "[...document.images].every(i => i.complete && i.naturalWidth > 0)")
    page.screenshot(path=shots / "05-reports.png", full_page=True)
    page.goto(url + "/console/live")
    wait_js(
        page, "document.querySelector('.tile img') && document.querySelector('.tile img').naturalWidth > 0"
    )
    page.screenshot(path=shots / "03-live.png")


def test_operator_cannot_authorise(console, browser) -> None:
    _, setup, url = console
    page = sign_in(
        browser, url, "operator", setup.passwords["operator"], f"/console/deployments/{setup.deployment_id}"
    )
    assert page.locator("[data-action=authorise]").count() == 0
    status = page.evaluate(
        """async (id) => (await fetch(`/api/deployments/${id}/authorise`, {method: 'POST',
             headers: {'X-CSRF-Token': document.querySelector('meta[name=csrf-token]').content,
                       'Content-Type': 'application/json'}, body: '{}'})).status""",
        setup.deployment_id,
    )
    assert status == 403


def test_auditor_sees_no_face_images(console, browser, shots) -> None:
    _, setup, url = console
    page = sign_in(browser, url, "auditor", setup.passwords["auditor"])
    image_requests = []
    page.on(
        "request",
        lambda r: image_requests.append(r.url) if r.url.endswith(".jpg") or ".mjpg" in r.url else None,
    )
    page.uncheck("#only-open")  # the operator already decided the first alert
    page.wait_for_selector("#queue li", timeout=90_000)
    page.click("#queue li")
    assert page.is_visible("#d-noimages") and not page.is_visible("#d-probe")
    assert page.locator("#decide").count() == 0
    page.screenshot(path=shots / "06-alerts-auditor.png")
    page.goto(url + "/console/audit")
    page.wait_for_selector("#chain.ok")
    assert "chain intact" in page.inner_text("#chain")
    page.wait_for_selector("#audit-table tbody tr")
    page.fill("#audit-filter [name=action]", "deployment.")
    page.click("#audit-filter button[type=submit]")
    wait_js(
        page,
        "(c => c.length > 0 && c.every(t => t.textContent.startsWith('deployment.')))"
        "([...document.querySelectorAll('#audit-table tbody tr td:nth-child(4)')])",
    )
    assert "Demo: station forecourt" in page.inner_text("#audit-table tbody")  # names, not opaque ids
    exported = page.evaluate("async () => (await fetch(document.getElementById('audit-export').href)).text()")
    lines = exported.splitlines()
    assert lines[0].startswith('"seq","at","actor","action"') and len(lines) > 2
    assert all('"deployment.' in line for line in lines[1:])
    page.screenshot(path=shots / "07-audit.png")
    page.goto(url + "/console/live")
    assert page.locator(".tile img").count() == 0
    assert image_requests == []


def test_manager_plans_and_enrols_with_feedback_and_officer_authorises(
    console, browser, shots, samples, yaoming
) -> None:
    import cv2
    from sqlalchemy import select

    from openlfr.governance import alerts as al
    from openlfr.store.models import AuditEvent
    from tests.governance_helpers import fake_alert

    gov, setup, url = console
    page = sign_in(browser, url, "manager", setup.passwords["manager"], "/console/deployments")
    form = page.locator("#create-deployment")
    for name, value in {
        "name": "Browser-planned deployment",
        "location_name": "Town Hall steps",
        "purpose": "Locate a missing vulnerable person",
        "planned_start": "2030-01-01T09:00",
        "planned_end": "2030-01-01T17:00",
        "authorising_officer": "officer",
        "dpia_reference": "DPIA-B-1",
        "legal_basis": "Common law policing powers",
    }.items():
        form.locator(f"[name={name}]").fill(value)
    form.locator("button[type=submit]").click()
    page.wait_for_selector("#enrol")
    deployment_page = page.url
    small = Path(str(shots.parent / "small-face.jpg"))
    cv2.imwrite(str(small), cv2.resize(yaoming, None, fx=0.12, fy=0.12))
    page.set_input_files("#enrol [name=image]", str(small))
    page.click("#check")
    page.wait_for_selector("#enrol-feedback .bad")
    page.set_input_files("#enrol [name=image]", str(samples["yaoming"]))
    page.click("#check")
    page.wait_for_selector("#enrol-feedback .good")
    assert "Usable" in page.inner_text("#enrol-feedback")
    page.fill("#enrol [name=reference]", "missing-person-17")
    page.fill("#enrol [name=reason]", "High-risk missing person report 17")
    taken = (gov.now() - timedelta(days=30)).strftime("%Y-%m-%d")
    page.fill("#enrol [name=image_date]", taken)
    page.screenshot(path=shots / "04-deployment-enrol.png", full_page=True)
    page.click("#enrol button[type=submit]")
    page.wait_for_selector("#enrol-feedback .good >> text=Enrolled")
    page.wait_for_selector("text=missing-person-17")
    row = page.locator("tr", has_text="missing-person-17")
    assert taken in row.inner_text()
    wait_js(
        page, "[...document.querySelectorAll('img.thumb')].every(i => i.naturalWidth > 0)"
    )  # audited views

    page.fill("#enrol [name=reference]", "entered-by-mistake")  # a second entry, then taken off again
    page.fill("#enrol [name=reason]", "Entered in error")
    page.set_input_files("#enrol [name=image]", str(samples["yaoming"]))
    page.click("#enrol button[type=submit]")
    page.wait_for_selector("text=entered-by-mistake")
    page.click("[data-reference='entered-by-mistake']")
    assert "Give the reason" in page.inner_text("#action-error")
    page.fill("#action-reason", "Entered in error: duplicate of report 17")
    page.click("[data-reference='entered-by-mistake']")
    page.wait_for_selector("#confirm", state="visible")
    page.click("#confirm-yes")
    page.wait_for_load_state("load")
    wait_js(page, "!document.body.textContent.includes('entered-by-mistake')")
    small.unlink()

    table = shots.parent / "watchlist.csv"  # a bulk import: one good row, two the rules refuse
    table.write_text(
        "reference,category,reason,image,image_source\n"
        f"imported-1,missing_person,Report 21,{samples['yaoming'].name},custody\n"
        "imported-2,missing_person,Report 22,not-sent.jpg,custody\n"
        f"imported-3,missing_person,Report 23,{samples['players'].name},press\n"
    )
    page.set_input_files("#import [name=csv]", str(table))
    page.set_input_files("#import [name=images]", [str(samples["yaoming"]), str(samples["players"])])
    page.click("#import button[type=submit]")
    page.wait_for_selector("#import-results tbody tr")
    results = page.locator("#import-results tbody tr").all_inner_texts()
    assert len(results) == 3 and "enrolled" in results[0] and "not enrolled" not in results[0]
    assert "no uploaded photo named 'not-sent.jpg'" in results[1] and "not enrolled" in results[2]
    table.unlink()

    officer = sign_in(browser, url, "officer", setup.passwords["officer"], deployment_page.replace(url, ""))
    officer.click("[data-action=authorise]")
    assert "Give the reason" in officer.inner_text("#action-error")  # no step without a reason
    officer.fill(
        "#action-reason", "Necessary: the search has run for 48 hours; proportionate: 8 hours, one street"
    )
    officer.click("[data-action=authorise]")
    assert officer.is_visible("#confirm")  # and not without a second, explicit yes
    officer.click("#confirm-yes")
    officer.wait_for_selector(".pill.state-authorised")
    deployment_id = deployment_page.rsplit("/", 1)[1]
    with gov.store.session() as session:
        authorised = session.scalars(
            select(AuditEvent).where(
                AuditEvent.action == "deployment.authorise", AuditEvent.object_id == deployment_id
            )
        ).one()
    assert authorised.actor == "officer" and authorised.reason.startswith("Necessary")

    officer.fill("#assign [name=usernames]", "field")  # who engages on its confirmed alerts
    officer.click("#assign button[type=submit]")
    wait_js(officer, "document.getElementById('field-officers').textContent === 'field'")
    al.record(gov, deployment_id, fake_alert("missing-person-17"))  # an alert nobody has decided
    officer.fill("#action-reason", "Person found safe")
    officer.click("[data-action=end]")
    officer.wait_for_selector("#confirm", state="visible")
    assert "1 alert(s) of this deployment are still undecided" in officer.inner_text("#confirm-text")
    officer.click("#confirm-no")
    assert not officer.is_visible("#confirm") and officer.locator(".pill.state-authorised").count() == 1
    officer.click("[data-action=end]")
    officer.wait_for_selector("#confirm", state="visible")
    officer.click("#confirm-yes")
    officer.wait_for_selector(".pill.state-ended")
    public = browser.new_page()
    public.goto(url + "/public")
    assert "Browser-planned deployment" in public.inner_text(".public-past")
    public.screenshot(path=shots / "08-public.png", full_page=True)


def test_operator_searches_a_gallery_with_a_still_and_a_recording(
    console, browser, shots, samples, demo_material
) -> None:  # type: ignore[no-untyped-def]
    import numpy as np

    from openlfr.search.gallery import GalleryStore

    gov, setup, url = console
    names = ("yao_ming", "player_9", "player_20")
    photos = [next((demo_material["watchlist"] / n).iterdir()) for n in names]
    templates = np.stack([gov.analyzer.subject_face(gov.analyzer.load(p)).face.embedding for p in photos])
    GalleryStore(gov, "custody").write(list(names), ["custody"] * 3, templates, "admin", "gallery.build")

    page = sign_in(browser, url, "operator", setup.passwords["operator"], "/console/search")
    assert "custody (3 templates" in page.inner_text("select[name=gallery]")
    page.fill("input[name=reason]", "Op Falcon, crime 4411")
    page.fill("input[name=top]", "2")
    page.set_input_files("input[name=file]", str(samples["yaoming"]))
    page.click("#search-form button[type=submit]")
    wait_js(page, "document.querySelectorAll('.probe').length > 0", 60)
    first = page.locator(".probe").first
    assert first.locator("tbody tr").count() == 2
    assert first.locator("tbody tr").first.locator("td").nth(1).inner_text() == "yao_ming"
    page.screenshot(path=shots / "07-search.png", full_page=True)

    page.set_input_files("input[name=file]", str(demo_material["video"]))
    page.click("#search-form button[type=submit]")
    wait_js(page, "document.getElementById('search-status').textContent.includes('probe(s) searched')", 120)
    assert page.locator(".probe h2").first.inner_text().startswith("track ")

    page.set_input_files(
        "input[name=file]", {"name": "broken.mp4", "mimeType": "video/mp4", "buffer": b"junk"}
    )
    page.click("#search-form button[type=submit]")
    wait_js(page, "!document.getElementById('search-error').hidden", 30)
    assert "video" in page.inner_text("#search-error")

    auditor = sign_in(browser, url, "auditor", setup.passwords["auditor"], "/console/alerts")
    assert auditor.locator("nav a[href='/console/search']").count() == 0


@pytest.mark.parametrize(
    ("user", "home"),
    [
        ("operator", "/console/alerts"),
        ("officer", "/console/deployments"),
        ("manager", "/console/deployments"),
        ("auditor", "/console/audit"),
        ("admin", "/console/users"),
    ],
)
def test_each_role_lands_on_its_own_page_and_never_on_json(console, browser, user, home) -> None:
    _, setup, url = console
    page = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
    page.goto(url + "/")
    assert page.url.endswith("/login")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", setup.passwords[user])
    page.click("button[type=submit]")
    page.wait_for_url(url + home)
    forbidden = "/console/alerts" if user in ("admin", "manager") else "/console/users"
    response = page.goto(url + forbidden)
    assert response is not None and response.status == 403
    assert page.locator("h1").inner_text() == "Not for your role"
    assert "application/json" not in response.headers["content-type"]
    page.click("text=Go to your start page")
    page.wait_for_url(url + home)


@pytest.mark.parametrize(
    ("user", "paths"),
    [
        ("operator", ["/console/alerts", "/console/live", "/console/deployments", "/console/search"]),
        ("manager", ["/console/deployments", "/console/reports", "/console/deployments/{demo}"]),
        ("auditor", ["/console/audit", "/console/reports", "/public"]),
        ("admin", ["/console/users", "/console/account"]),
        ("field", ["/console/field", "/console/account"]),
    ],
)
def test_pages_fit_a_phone(console, browser, shots, user, paths) -> None:
    _, setup, url = console
    page = sign_in(browser, url, user, setup.passwords[user], paths[0])
    page.set_viewport_size({"width": 390, "height": 844})
    for path in (p.format(demo=setup.deployment_id) for p in paths):
        page.goto(url + path)
        page.wait_for_load_state("networkidle")
        name = f"phone-{user}-{path.strip('/').replace('/', '-')}.png"
        page.screenshot(path=shots / name, full_page=True)
        assert no_sideways_scroll(page), f"{path} is wider than a phone"


def test_a_field_officer_engages_from_a_phone(console, browser, shots) -> None:
    from sqlalchemy import select

    from openlfr.demo.synthetic import ENROLLED_SUBJECT
    from openlfr.governance import alerts as al
    from openlfr.store.models import AlertRecord, AuditEvent
    from tests.governance_helpers import fake_alert

    gov, setup, url = console
    alert = fake_alert(ENROLLED_SUBJECT, camera="cam-field")
    al.record(gov, setup.deployment_id, alert)
    al.decide(gov, alert.alert_id, "confirmed_match", "operator")  # only what an operator confirmed
    page = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
    page.goto(url + "/")
    page.fill("input[name=username]", "field")
    page.fill("input[name=password]", setup.passwords["field"])
    page.click("button[type=submit]")
    page.wait_for_url(url + "/console/field")
    card = page.locator(f".field-alert[data-id='{alert.alert_id}']")
    card.wait_for(timeout=15_000)
    wait_js(
        page,
        f"[...document.querySelectorAll(\"[data-id='{alert.alert_id}'] img\")]"
        ".every(i => i.naturalWidth > 0)",
    )
    assert "Demo: station forecourt" in card.inner_text() and no_sideways_scroll(page)
    card.locator("button.primary").click()
    assert "Choose the outcome" in card.inner_text()
    card.locator("select").select_option("arrest")
    card.locator("button.primary").click()
    card.locator("text=Recorded: arrest").wait_for()
    page.screenshot(path=shots / "09-field-phone.png", full_page=True)
    with gov.store.session() as session:
        row = session.get(AlertRecord, alert.alert_id)
        views = session.scalars(
            select(AuditEvent.action).where(
                AuditEvent.actor == "field", AuditEvent.object_id == alert.alert_id
            )
        ).all()
    assert (row.outcome, row.outcome_by) == ("arrest", "field")
    assert "alert.view_probe" in views and "alert.outcome" in views
    response = page.goto(url + "/console/alerts")  # the queue is not for this role
    assert response is not None and response.status == 403


@pytest.mark.parametrize("width", [1280, 390])
def test_an_administrators_day(console, browser, shots, width) -> None:
    """Health first, then accounts: a user added (a guessable password refused with the reason),
    disabled with a second yes, the purge previewed, and an API token made, used and revoked."""
    import httpx
    from sqlalchemy import select

    from openlfr.store.models import AuditEvent, User

    gov, setup, url = console
    page = browser.new_context(viewport={"width": width, "height": 844}).new_page()
    page.goto(url + "/")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", setup.passwords["admin"])
    page.click("button[type=submit]")
    page.wait_for_url(url + "/console/users")
    assert page.inner_text("#health-database") == "answering"
    assert "Demo: station forecourt" in page.inner_text("#health-cameras")  # the demo's camera runs
    newcomer = f"pc_{width}"
    form = page.locator("#new-user")
    form.locator("[name=username]").fill(newcomer)
    form.locator("[name=display_name]").fill("PC Newcomer")
    form.locator("[name=role]").select_option("field_officer")
    form.locator("[name=password]").fill("password123")
    form.locator("button[type=submit]").click()
    wait_js(page, "!document.getElementById('users-error').hidden")
    assert "password" in page.inner_text("#users-error")
    form.locator("[name=password]").fill("tidal orchid lantern 58 gravel")
    form.locator("button[type=submit]").click()
    page.wait_for_selector(f"#users tr[data-username='{newcomer}']")
    page.screenshot(path=shots / f"11-admin-{width}.png", full_page=True)
    assert no_sideways_scroll(page)
    page.click(f"#users tr[data-username='{newcomer}'] button")
    page.wait_for_selector("#confirm", state="visible")
    page.keyboard.press("Escape")  # a second thought: nothing happens
    assert not page.is_visible("#confirm")
    page.click(f"#users tr[data-username='{newcomer}'] button")
    page.click("#confirm-yes")
    wait_js(
        page,
        f"document.querySelector(\"#users tr[data-username='{newcomer}']\").textContent.includes('Enable')",
    )
    with gov.store.session() as session:
        user = session.scalar(select(User).where(User.username == newcomer))
        actions = session.scalars(
            select(AuditEvent.action).where(AuditEvent.actor == "admin", AuditEvent.object_id == user.id)
        ).all()
    assert (user.role, user.active) == ("field_officer", False)
    assert actions == ["user.create", "user.disable"]
    page.click("#purge-preview")
    wait_js(page, "document.getElementById('purge-result').textContent.startsWith('Purge would')")

    page.goto(url + "/console/account")
    page.fill("#new-token [name=name]", f"nightly check {width}")
    page.click("#new-token button[type=submit]")
    page.wait_for_selector("#token-secret", state="visible")
    secret = page.inner_text("#token-value")
    me = httpx.get(url + "/api/auth/me", headers={"Authorization": f"Bearer {secret}"})
    assert me.status_code == 200 and me.json()["username"] == "admin"
    page.click(f"#tokens tr[data-name='nightly check {width}'] button")
    page.click("#confirm-yes")
    row = f"document.querySelector(\"#tokens tr[data-name='nightly check {width}']\")"
    wait_js(page, f"{row}.textContent.includes('revoked')")
    assert httpx.get(url + "/api/auth/me", headers={"Authorization": f"Bearer {secret}"}).status_code == 401
    assert no_sideways_scroll(page)
    page.screenshot(path=shots / f"12-account-{width}.png", full_page=True)


def test_the_full_report_is_styled_and_leads_back(console, browser, shots) -> None:
    _, setup, url = console
    page = sign_in(browser, url, "auditor", setup.passwords["auditor"], "/console/reports")
    page.click(f".report[data-deployment='{setup.deployment_id}'] >> text=Full report")
    page.wait_for_selector("h1")
    border = page.evaluate("() => getComputedStyle(document.querySelector('td')).borderTopStyle")
    assert border == "solid"  # the stylesheet applied (an inline style would be refused by the CSP)
    page.screenshot(path=shots / "10-report.png", full_page=True)
    page.click("text=← All reports")
    page.wait_for_url(url + "/console/reports")


@pytest.mark.parametrize(
    ("user", "paths"),
    [
        ("operator", ["/console/alerts", "/console/live", "/console/search", "/console/deployments/{demo}"]),
        ("field", ["/console/field"]),
        ("manager", ["/console/deployments", "/console/deployments/{demo}"]),
        ("auditor", ["/console/audit", "/console/reports"]),
        ("admin", ["/console/users", "/console/account"]),
    ],
)
def test_pages_pass_axe_core(console, browser, user, paths) -> None:
    """axe-core (vendored by axe-playwright-python, no network) finds no serious or critical problem."""
    from axe_playwright_python.sync_playwright import Axe

    _, setup, url = console
    page = sign_in(browser, url, user, setup.passwords[user], paths[0])
    for path in (p.format(demo=setup.deployment_id) for p in [*paths, "/login", "/public"]):
        page.goto(url + path)
        page.wait_for_load_state("networkidle")
        results = Axe().run(page)
        serious = [
            (v["id"], v["help"], [n["target"] for n in v["nodes"]][:3])
            for v in results.response["violations"]
            if v["impact"] in ("serious", "critical")
        ]
        assert serious == [], f"{path}: {serious}"
