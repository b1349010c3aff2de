"""Retrospective search of a still against a named gallery: ranked candidates for review, audited."""

from __future__ import annotations

import numpy as np
from fastapi import APIRouter, Depends, HTTPException, Request
from starlette.concurrency import run_in_threadpool

from openlfr.api.accounts import Principal
from openlfr.api.deps import gov_of, require, service_of
from openlfr.api.routes.deployments import image_upload
from openlfr.search.gallery import GallerySearcher, GalleryStore
from openlfr.search.probes import image_probes

router = APIRouter(prefix="/api", tags=["search"])

SEARCH_FORM = {
    "type": "object",
    "properties": {
        "image": {"type": "string", "format": "binary"},
        "reason": {"type": "string"},
        "top": {"type": "integer", "minimum": 1, "maximum": 1000},
    },
    "required": ["image", "reason"],
}


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
async def search_still(
    name: str, request: Request, principal: Principal = Depends(require("search.run"))
) -> dict:
    """Every usable face of the uploaded still against the gallery; up to ``top`` candidates each."""
    fields, data = await image_upload(request)
    reason = fields.get("reason", "").strip()
    if not reason:
        raise HTTPException(422, "a retrospective search needs a reason (recorded in the audit trail)")
    try:
        top = int(fields.get("top") or 200)
    except ValueError:
        raise HTTPException(422, "top must be a whole number") from None
    if not 1 <= top <= 1000:
        raise HTTPException(422, "top must be between 1 and 1000")
    searcher = await run_in_threadpool(_searcher, request, name)
    gov = gov_of(request)
    probes = await run_in_threadpool(image_probes, gov.analyzer, data)
    templates = np.stack([p.template for p in probes])
    results = await run_in_threadpool(
        searcher.search, templates, top, principal.username, reason, "uploaded still"
    )
    return {
        "gallery": name,
        "probes": [
            {
                "probe": probe.name,
                "seen": probe.seen,
                "candidates": [
                    {"rank": c.rank, "label": c.label, "score": round(c.score, 4)} for c in candidates
                ],
            }
            for probe, candidates in zip(probes, results, strict=True)
        ],
    }
