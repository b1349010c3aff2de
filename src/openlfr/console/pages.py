"""Console pages. Each names the permission it needs, like every API route; data comes from the API."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from openlfr.api.deps import (
    SESSION_COOKIE,
    gov_of,
    principal_of,
    public,
    require,
    service_of,
    set_session_cookie,
    sign_in,
)
from openlfr.console.templating import templates
from openlfr.governance import accounts, reports
from openlfr.governance import alerts as al
from openlfr.governance import deployments as dep
from openlfr.governance import watchlists as wl
from openlfr.governance.accounts import Principal
from openlfr.governance.permissions import PERMISSIONS, ROLES
from openlfr.store.models import Deployment

router = APIRouter(include_in_schema=False)


UNDO_SECONDS = 4  # a decision waits this long in the browser before it is sent, so a slip is undone
HOMES = {  # where each role's working day starts
    "operator": "/console/alerts",
    "field_officer": "/console/field",
    "authorising_officer": "/console/deployments",
    "watchlist_manager": "/console/deployments",
    "auditor": "/console/audit",
    "admin": "/console/users",
}


def home_of(role: str) -> str:
    return HOMES.get(role, "/console/deployments")


class LoginRequired(HTTPException):
    def __init__(self, path: str) -> None:
        super().__init__(303, "sign in", {"Location": f"/login?next={quote(path)}"})


class NotForYourRole(HTTPException):
    """A signed-in person opened a page their role may not see: a page that says so, never JSON."""

    def __init__(self, principal: Principal, path: str) -> None:
        super().__init__(403, "not for your role")
        self.principal, self.path = principal, path


def page(permission: str):
    """Like ``require``, but an anonymous or expired visitor is sent to the sign-in page, and a
    role that may not see the page gets a page saying so with a link to its own start page."""
    check = require(permission)

    def dependency(request: Request) -> Principal:
        try:
            return check(request)
        except HTTPException as exc:
            if exc.status_code == 401:
                raise LoginRequired(request.url.path) from None
            if exc.status_code == 403:
                principal = principal_of(request)
                if principal is not None:
                    raise NotForYourRole(principal, request.url.path) from None
            raise

    dependency.permission = permission  # type: ignore[attr-defined]
    return dependency


def render(request: Request, name: str, principal: Principal | None, **context: object) -> HTMLResponse:
    can = {p for p, roles in PERMISSIONS.items() if principal and principal.role in roles}
    return templates.TemplateResponse(
        request,
        name,
        {"me": principal, "can": can, "csrf": principal.csrf_token if principal else ""} | context,
    )


@router.get("/", dependencies=[Depends(public)])
def home(request: Request) -> RedirectResponse:
    """Each role lands where its day starts (``HOMES``); a visitor on the sign-in page."""
    cookie = request.cookies.get(SESSION_COOKIE)
    principal = accounts.resolve_session(gov_of(request), cookie) if cookie else None
    return RedirectResponse(home_of(principal.role) if principal else "/login", 303)


def not_for_your_role(request: Request, exc: NotForYourRole) -> HTMLResponse:
    response = render(request, "denied.html", exc.principal, path=exc.path, home=home_of(exc.principal.role))
    response.status_code = 403
    return response


@router.get("/login", response_class=HTMLResponse, dependencies=[Depends(public)])
def login_page(request: Request, next: str = ""):
    return render(request, "login.html", None, next=_local(next), error=None)


def _local(target: str) -> str:
    """Only redirect within this site (no open redirect through ?next=); "" is the role's home."""
    return target if target.startswith("/") and not target.startswith("//") and "\\" not in target else ""


@router.post("/login", response_class=HTMLResponse, dependencies=[Depends(public)])
async def login_form(
    request: Request,
    username: str = Form(max_length=80),
    password: str = Form(max_length=10 * accounts.MAX_PASSWORD_LENGTH),  # longer: wrong, not a 422
    next: str = Form("", max_length=500),
):
    try:
        signed = await sign_in(request, username, password)
    except HTTPException as exc:
        error = {
            403: "Sign in from openlfr's own sign-in page.",
            429: "Too many failed sign-ins. Wait and try again.",
            503: "Too many sign-ins at once. Try again in a moment.",
        }.get(exc.status_code, "Wrong username or password.")
        return render(request, "login.html", None, next=_local(next), error=error)
    principal, token, _ = signed
    response = RedirectResponse(_local(next) or home_of(principal.role), 303)
    set_session_cookie(response, request, token)
    return response


@router.get("/console/alerts", response_class=HTMLResponse)
def alerts_page(request: Request, me: Principal = Depends(page("alerts.read"))):
    return render(
        request, "alerts.html", me, decisions=al.DECISIONS, outcomes=al.OUTCOMES, undo_seconds=UNDO_SECONDS
    )


@router.get("/console/field", response_class=HTMLResponse)
def field_page(request: Request, me: Principal = Depends(page("alerts.field"))):
    return render(request, "field.html", me, outcomes=al.OUTCOMES)


@router.get("/console/live", response_class=HTMLResponse)
def live_page(request: Request, me: Principal = Depends(page("cameras.status"))):
    supervisor = service_of(request).supervisor
    return render(
        request,
        "live.html",
        me,
        running=supervisor.status(),
        refused=supervisor.refusals,
        names={d.id: d.name for d in dep.list_all(gov_of(request))},
    )


@router.get("/console/deployments", response_class=HTMLResponse)
def deployments_page(request: Request, me: Principal = Depends(page("deployments.read"))):
    return render(request, "deployments.html", me, deployments=dep.list_all(gov_of(request)))


@router.get("/console/deployments/{deployment_id}", response_class=HTMLResponse)
def deployment_page(deployment_id: str, request: Request, me: Principal = Depends(page("deployments.read"))):
    gov = gov_of(request)
    with gov.store.session() as session:
        deployment = gov.get(session, Deployment, deployment_id)
    subjects = (
        wl.list_subjects(gov, deployment_id)
        if "watchlist.read" in {p for p, roles in PERMISSIONS.items() if me.role in roles}
        else []
    )
    return render(
        request,
        "deployment.html",
        me,
        d=deployment,
        model=dep.model_of(gov, deployment),
        subjects=subjects,
        categories=gov.settings.governance.allowed_categories,
    )


@router.get("/console/reports", response_class=HTMLResponse)
def reports_page(request: Request, me: Principal = Depends(page("reports.read"))):
    gov = gov_of(request)
    built = [(d, reports.build(gov, d.id)) for d in dep.list_all(gov)]
    return render(request, "reports.html", me, reports=built)


@router.get("/console/search", response_class=HTMLResponse)
def search_page(request: Request, me: Principal = Depends(page("search.run"))):
    from openlfr.search.gallery import list_galleries

    return render(request, "search.html", me, galleries=list_galleries(gov_of(request)))


@router.get("/console/audit", response_class=HTMLResponse)
def audit_page(request: Request, me: Principal = Depends(page("audit.read"))):
    return render(request, "audit.html", me)


@router.get("/console/users", response_class=HTMLResponse)
def users_page(request: Request, me: Principal = Depends(page("users.manage"))):
    """The administrator's desk: the service's health first, then the accounts."""
    gov = gov_of(request)
    names = {d.id: d.name for d in dep.list_all(gov)}
    return render(
        request,
        "users.html",
        me,
        users=accounts.list_users(gov),
        health=service_of(request).health(),
        names=names,
        roles=ROLES,
    )


@router.get("/console/account", response_class=HTMLResponse)
def account_page(request: Request, me: Principal = Depends(page("account.own"))):
    """Your password, and your own API tokens for scripts and the `openlfr` command."""
    return render(request, "account.html", me)


@router.post("/logout", dependencies=[Depends(public)])
def logout_form(request: Request) -> Response:
    """Sign out from the console (SameSite=strict keeps other sites from doing this for you)."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        principal = accounts.resolve_session(gov_of(request), cookie)
        if principal is not None:
            accounts.end_session(gov_of(request), principal)
    response = RedirectResponse("/login", 303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
