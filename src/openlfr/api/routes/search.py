"""Retrospective search of a still or a recording against a named gallery: ranked candidates for
review, audited. Uploads are decoded in memory; nothing of them is written anywhere."""

from __future__ import annotations

import numpy as np
from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from openlfr.api.deps import gov_of, image_work, require, service_of
from openlfr.api.routes.deployments import image_upload
from openlfr.errors import NoFaceError
from openlfr.governance.accounts import Principal
from openlfr.reasons import is_given
from openlfr.search.gallery import GallerySearcher, GalleryStore, list_galleries
from openlfr.search.probes import FACE_CHOICES, Probe, VideoLimits, image_probes, video_probes

router = APIRouter(prefix="/api", tags=["search"])

SEARCH_FORM = {
    "type": "object",
    "properties": {
        "image": {"type": "string", "format": "binary", "description": "A still (or send 'video')."},
        "video": {"type": "string", "format": "binary", "description": "A recording, searched per person."},
        "reason": {"type": "string"},
        "top": {"type": "integer", "minimum": 1, "maximum": 1000},
        "faces": {
            "type": "string",
            "enum": list(FACE_CHOICES),
            "description": "In a still: its dominant face (default), the largest, or all faces.",
        },
    },
    "required": ["reason"],
}


class GalleryOut(BaseModel):
    name: str
    count: int = Field(description="Templates.")
    subjects: int = Field(description="People (labels).")
    model_pack: str


class RankedOut(BaseModel):
    rank: int
    label: str
    score: float


class ProbeOut(BaseModel):
    probe: str
    seen: str
    candidates: list[RankedOut]


class SearchOut(BaseModel):
    gallery: str
    probes: list[ProbeOut] = Field(description="One per face of a still, or per tracked person of a video.")


@router.get("/galleries")
def galleries(request: Request, _: Principal = Depends(require("search.run"))) -> list[GalleryOut]:
    """The galleries that can be searched, with their sizes."""
    return [
        GalleryOut(name=g["name"], count=g["count"], subjects=g["subjects"], model_pack=g["model_pack"])
        for g in list_galleries(gov_of(request))
    ]


async def upload_probes(request: Request) -> tuple[list[Probe], str]:
    """Probe templates from the form's one file: the chosen face(s) of a still, or one per person
    of a video."""
    form = await request.form(max_files=1, max_fields=20)
    video = form.get("video")
    if not isinstance(video, UploadFile):
        faces = form.get("faces") or "dominant"
        if faces not in FACE_CHOICES:
            raise HTTPException(422, f"faces must be one of {', '.join(FACE_CHOICES)}")
        _fields, data = await image_upload(request)
        analyzer = gov_of(request).analyzer
        return await image_work(request, image_probes, analyzer, data, faces), "uploaded still"
    data = await video.read()
    await video.close()
    api = gov_of(request).settings.api
    limits = VideoLimits(api.max_upload_video_pixels, api.max_upload_video_frames)
    probes = await image_work(request, video_probes, gov_of(request).analyzer, data, limits)
    if not probes:
        raise NoFaceError("the uploaded video: nobody with a face of usable quality")
    return probes, "uploaded video"


def search_terms(fields: dict[str, str]) -> tuple[str, int]:
    """The reason and the number of candidates, checked before any face work."""
    reason = fields.get("reason", "").strip()
    if not is_given(reason):
        raise HTTPException(422, "a retrospective search needs a reason (recorded in the audit trail)")
    try:
        top = int(fields.get("top") or 200)
    except ValueError:
        raise HTTPException(422, "top must be a whole number") from None
    if not 1 <= top <= 1000:
        raise HTTPException(422, "top must be between 1 and 1000")
    return reason, top


def _searcher(request: Request, name: str) -> GallerySearcher:
    """Galleries stay loaded between searches; the first search of one loads it."""
    cache = service_of(request).searchers
    if name not in cache:
        cache[name] = GallerySearcher(GalleryStore(gov_of(request), name))
    return cache[name]


@router.post(
    "/galleries/{name}/search",
    openapi_extra={
        "requestBody": {"content": {"multipart/form-data": {"schema": SEARCH_FORM}}, "required": True}
    },
)
async def search_upload(
    name: str, request: Request, principal: Principal = Depends(require("search.run"))
) -> SearchOut:
    """Every usable face of a still, or every tracked person of a video, against the gallery."""
    form = await request.form(max_files=1, max_fields=20)
    reason, top = search_terms({k: v for k, v in form.items() if isinstance(v, str)})
    searcher = await run_in_threadpool(_searcher, request, name)
    probes, what = await upload_probes(request)
    templates = np.stack([p.template for p in probes])
    results = await run_in_threadpool(searcher.search, templates, top, principal.username, reason, what)
    return SearchOut(
        gallery=name,
        probes=[
            ProbeOut(
                probe=probe.name,
                seen=probe.seen,
                candidates=[
                    RankedOut(rank=c.rank, label=c.label, score=round(c.score, 4)) for c in candidates
                ],
            )
            for probe, candidates in zip(probes, results, strict=True)
        ],
    )
