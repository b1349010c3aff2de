"""Deployments and their watchlists: plan, authorise, enrol, approve, go live, end, publish."""

from __future__ import annotations

import re
from datetime import datetime
from functools import partial

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy import select
from starlette.datastructures import UploadFile

from openlfr.api.deps import gov_of, image_work, require
from openlfr.errors import PolicyViolation
from openlfr.governance import deployments as dep
from openlfr.governance import watchlists as wl
from openlfr.governance.accounts import Principal
from openlfr.governance.context import aware
from openlfr.reasons import is_given
from openlfr.redaction import redact_url
from openlfr.store.models import Deployment, User, normal_reference
from openlfr.vision.images import check_image

router = APIRouter(prefix="/api", tags=["deployments"])
SAFE_NAME = re.compile(r"^[\w .()-]{1,200}$")
MAX_IMPORT_FILES = 500  # photos in one import (the whole body stays within api.max_upload_bytes)


class NewDeployment(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    purpose: str = Field(min_length=1, max_length=2000)
    location_name: str = Field(min_length=1, max_length=200)
    area_description: str = Field("", max_length=2000)
    planned_start: datetime
    planned_end: datetime
    authorising_officer: str = Field(min_length=1, max_length=80, description="Username of the officer.")
    legal_basis: str = Field(min_length=1, max_length=2000)
    dpia_reference: str = Field(min_length=1, max_length=200)
    cameras: list[str] = Field(default_factory=list, max_length=64)
    signage_confirmed: bool = False
    alert_threshold: float | None = Field(None, ge=-1.0, le=1.0)


class Reason(BaseModel):
    reason: str = Field(
        "",
        max_length=2000,
        description="Why. A deployment step's reason stays in clear in the audit trail and the "
        "transparency report: write about the operation, never name a person. A subject's removal "
        "reason is sealed with the deployment's data.",
    )


class Publication(BaseModel):
    published: bool


class ReferenceCheck(BaseModel):
    """Whether a photo would be accepted as a reference image, and why not."""

    faces: int
    usable: bool
    problem: str | None
    quality: float | None = None
    inter_eye_px: float | None = None
    found_by: str | None = None


class Removed(BaseModel):
    removed: str


class DeploymentOut(BaseModel):
    id: str
    name: str
    purpose: str
    location_name: str
    area_description: str
    planned_start: datetime
    planned_end: datetime
    cameras: list[str]
    authorising_officer: str
    legal_basis: str
    dpia_reference: str
    signage_confirmed: bool
    alert_threshold: float
    state: str
    authorised_by: str | None
    watchlist_approved_by: str | None
    started_at: datetime | None
    ended_at: datetime | None
    published: bool
    faces_seen: int
    field_officers: list[str]
    model_pack: str | None = Field(description="The pack it went live on (none before).")
    model_licence: str | None
    research_use: bool | None = Field(description="Whether its pack's licence allows research only: a trial.")


class SubjectOut(BaseModel):
    id: str
    reference: str
    category: str
    reason: str
    image_source: str
    under_18: bool
    image_outdated: bool
    quality: float
    added_by: str
    added_at: datetime
    expires_at: datetime


class EnrolmentOut(BaseModel):
    subject_id: str
    warnings: list[str]
    assessment: dict


def deployment_out(d: Deployment) -> DeploymentOut:
    return DeploymentOut(
        **{name: getattr(d, name) for name in DeploymentOut.model_fields if name not in ("cameras",)},
        cameras=[redact_url(uri) for uri in d.cameras],  # camera passwords never leave the store
    )


@router.get("/deployments")
def list_deployments(
    request: Request, _: Principal = Depends(require("deployments.read"))
) -> list[DeploymentOut]:
    return [deployment_out(d) for d in dep.list_all(gov_of(request))]


@router.get("/deployments/{deployment_id}")
def get_deployment(
    deployment_id: str, request: Request, _: Principal = Depends(require("deployments.read"))
) -> DeploymentOut:
    gov = gov_of(request)
    with gov.store.session() as session:
        return deployment_out(gov.get(session, Deployment, deployment_id))


@router.post("/deployments", status_code=201)
def create_deployment(
    body: NewDeployment, request: Request, principal: Principal = Depends(require("deployments.create"))
) -> DeploymentOut:
    gov = gov_of(request)
    with gov.store.session() as session:
        officer = session.scalar(select(User).where(User.username == body.authorising_officer))
        if officer is None or officer.role != "authorising_officer" or not officer.active:
            raise PolicyViolation(f"{body.authorising_officer} is not an active authorising officer")
    plan = dep.DeploymentPlan(
        **body.model_dump(exclude={"cameras", "planned_start", "planned_end"}),
        planned_start=aware(body.planned_start),
        planned_end=aware(body.planned_end),
        cameras=tuple(body.cameras),
    )
    return deployment_out(dep.create(gov, plan, principal.username))


def _action(path: str, permission: str, function, with_reason: bool = True):
    def endpoint(
        deployment_id: str,
        request: Request,
        body: Reason | None = None,
        principal: Principal = Depends(require(permission)),
    ) -> DeploymentOut:
        args: tuple[object, ...] = (gov_of(request), deployment_id, principal.username)
        if with_reason:
            args += ((body.reason if body else ""),)
        return deployment_out(function(*args))

    endpoint.__name__ = f"deployment_{path.replace('-', '_')}"
    endpoint.__doc__ = function.__doc__
    router.post(f"/deployments/{{deployment_id}}/{path}")(endpoint)


_action("authorise", "deployments.authorise", dep.authorise)
_action("approve-watchlist", "deployments.approve_watchlist", dep.approve_watchlist)
_action("signage", "deployments.signage", dep.confirm_signage, with_reason=False)
_action("start", "deployments.start", dep.start, with_reason=False)
_action("end", "deployments.end", dep.end)


@router.put("/deployments/{deployment_id}/publication")
def set_publication(
    deployment_id: str,
    body: Publication,
    request: Request,
    principal: Principal = Depends(require("deployments.publish")),
) -> DeploymentOut:
    """Choose whether the deployment appears on the public transparency page."""
    gov = gov_of(request)
    with gov.store.session() as session:
        deployment = gov.get(session, Deployment, deployment_id)
        deployment.published = body.published
        gov.audit(session, principal.username, "deployment.publication", deployment, published=body.published)
        return deployment_out(deployment)


class FieldOfficers(BaseModel):
    usernames: list[str] = Field(max_length=200, description="Field officers' usernames; [] assigns none.")
    reason: str = Field("", max_length=2000)


@router.put("/deployments/{deployment_id}/field-officers")
def set_field_officers(
    deployment_id: str,
    body: FieldOfficers,
    request: Request,
    principal: Principal = Depends(require("deployments.assign")),
) -> DeploymentOut:
    """Who sees the deployment's confirmed alerts in the field (field officers only)."""
    gov = gov_of(request)
    return deployment_out(
        dep.assign_field_officers(gov, deployment_id, body.usernames, principal.username, body.reason)
    )


# -- watchlist --------------------------------------------------------------------------------


@router.get("/deployments/{deployment_id}/subjects")
def list_subjects(
    deployment_id: str, request: Request, _: Principal = Depends(require("watchlist.read"))
) -> list[SubjectOut]:
    return [
        SubjectOut(**{name: getattr(s, name) for name in SubjectOut.model_fields})
        for s in wl.list_subjects(gov_of(request), deployment_id)
    ]


async def image_upload(request: Request) -> tuple[dict[str, str], bytes]:
    """The multipart form's text fields and its one image, checked before anything else sees it."""
    form = await request.form(max_files=1, max_fields=20)
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    upload = form.get("image")
    if not isinstance(upload, UploadFile):
        raise HTTPException(422, "send the reference photo as the multipart file field 'image'")
    name = upload.filename or ""
    if "/" in name or "\\" in name or ".." in name or "\x00" in name or not SAFE_NAME.match(name or "x"):
        raise HTTPException(422, "the file name must be a plain name without folders")
    data = await upload.read()
    await upload.close()
    limits = gov_of(request).settings.api
    check = partial(
        check_image,
        label="the uploaded image",
        max_pixels=limits.max_upload_pixels,
        max_decoded_bytes=limits.max_upload_decoded_bytes,
    )
    await image_work(request, check, data)  # 413/415 from the header, in the bounded pool: a header
    return fields, data  # built to be slow to parse (millions of empty chunks) cannot stall the service


@router.post(
    "/deployments/{deployment_id}/subjects/check",
    openapi_extra={
        "requestBody": {
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {"image": {"type": "string", "format": "binary"}},
                        "required": ["image"],
                    }
                }
            },
            "required": True,
        }
    },
)
async def check_reference(
    deployment_id: str, request: Request, _: Principal = Depends(require("watchlist.enrol"))
) -> ReferenceCheck:
    """Quality feedback on a reference photo before enrolment; nothing is stored."""
    _fields, data = await image_upload(request)
    gov = gov_of(request)
    with gov.store.session() as session:
        gov.get(session, Deployment, deployment_id)
    return ReferenceCheck(**await image_work(request, wl.assess_reference, gov, data))


SUBJECT_FORM = {
    "type": "object",
    "properties": {
        "image": {"type": "string", "format": "binary"},
        "reference": {"type": "string"},
        "category": {"type": "string"},
        "reason": {"type": "string"},
        "image_source": {"type": "string"},
        "image_date": {"type": "string"},
        "age": {"type": "integer"},
        "under_18_justification": {"type": "string"},
    },
    "required": ["image", "reference", "category", "reason", "image_source"],
}


@router.post(
    "/deployments/{deployment_id}/subjects",
    status_code=201,
    openapi_extra={
        "requestBody": {"content": {"multipart/form-data": {"schema": SUBJECT_FORM}}, "required": True}
    },
)
async def enrol_subject(
    deployment_id: str, request: Request, principal: Principal = Depends(require("watchlist.enrol"))
) -> EnrolmentOut:
    """Enrol one subject from an uploaded photo, under the watchlist rules."""
    fields, data = await image_upload(request)
    missing = [
        f for f in ("reference", "category", "reason", "image_source") if not is_given(fields.get(f, ""))
    ]
    if missing:
        raise HTTPException(422, f"missing form fields: {', '.join(missing)}")
    try:
        age = int(fields["age"]) if fields.get("age") else None
        image_date = aware(datetime.fromisoformat(fields["image_date"])) if fields.get("image_date") else None
    except ValueError:
        raise HTTPException(422, "age must be a whole number and image_date an ISO date") from None
    entry = wl.SubjectEntry(
        reference=normal_reference(fields["reference"])[:200],  # as stored: respellings refused early
        category=fields["category"][:60],
        reason=fields["reason"][:2000],
        image=data,
        image_source=fields["image_source"][:200],
        image_date=image_date,
        age=age,
        under_18_justification=fields.get("under_18_justification") or None,
    )
    gov = gov_of(request)
    result = await image_work(request, wl.add_subject, gov, deployment_id, entry, principal.username)
    assessment = {  # the enrolled face's own measures: no second analysis of the photo
        "faces": 1,
        "quality": round(result.quality, 3) if result.quality is not None else None,
        "inter_eye_px": round(result.inter_eye_px, 1) if result.inter_eye_px is not None else None,
        "usable": True,
        "problem": None,
    }
    return EnrolmentOut(subject_id=result.subject_id, warnings=result.warnings, assessment=assessment)


class ImportRow(BaseModel):
    line: int
    reference: str | None = None
    subject_id: str | None = None
    warnings: list[str] = []
    problem: str | None = None


@router.post("/deployments/{deployment_id}/subjects/import")
async def import_subjects(
    deployment_id: str, request: Request, principal: Principal = Depends(require("watchlist.enrol"))
) -> list[ImportRow]:
    """Enrol many at once: the multipart field ``csv`` (the columns of ``openlfr watchlist import``)
    and the photos it names as ``images`` files, all held in memory, within the upload limit.
    One result per row, enrolled or with the reason it was not."""
    form = await request.form(max_files=MAX_IMPORT_FILES + 1, max_fields=10)
    table = form.get("csv")
    if not isinstance(table, UploadFile):
        raise HTTPException(422, "send the CSV as the multipart file field 'csv'")
    text = (await table.read()).decode("utf-8", errors="replace")
    photos = {f.filename or "": await f.read() for f in form.getlist("images") if isinstance(f, UploadFile)}

    def photo(name: str) -> bytes:
        if name not in photos:
            raise ValueError(f"no uploaded photo named {name!r}")
        return photos[name]

    gov = gov_of(request)
    enrolled, rejected = await image_work(
        request, wl.import_rows, gov, deployment_id, text, photo, principal.username, "the uploaded CSV"
    )
    rows = [ImportRow(line=line, problem=problem) for line, problem in rejected]
    rows += [
        ImportRow(line=e.line, reference=e.reference, subject_id=e.subject_id, warnings=e.warnings)
        for e in enrolled
    ]
    return sorted(rows, key=lambda row: row.line)


@router.delete("/subjects/{subject_id}")
def remove_subject(
    subject_id: str,
    body: Reason,
    request: Request,
    principal: Principal = Depends(require("watchlist.remove")),
) -> Removed:
    wl.remove_subject(gov_of(request), subject_id, principal.username, body.reason)
    return Removed(removed=subject_id)


@router.get("/subjects/{subject_id}/image.jpg", response_class=Response)
def subject_image(
    subject_id: str, request: Request, principal: Principal = Depends(require("watchlist.images"))
):
    """The subject's enrolled reference crop (audited)."""
    jpeg = wl.reference_jpeg(gov_of(request), subject_id, principal.username, "watchlist review")
    return Response(jpeg, media_type="image/jpeg")
