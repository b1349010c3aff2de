"""``/metrics`` for Prometheus: scraped with an administrator's API token (``bearer_token`` in the
scrape configuration), like any other read of the service's state."""

from __future__ import annotations

import secrets

from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.concurrency import run_in_threadpool

from openlfr.api.deps import gov_of, require, service_of
from openlfr.api.metrics import exposition

router = APIRouter(tags=["metrics"])


def metrics_reader(request: Request) -> None:
    """``api.metrics_token`` (compared without the database), else an administrator's sign-in."""
    configured = gov_of(request).settings.api.metrics_token
    scheme, _, sent = request.headers.get("authorization", "").partition(" ")
    token = configured.get_secret_value().encode() if configured else None
    if token and scheme.lower() == "bearer" and secrets.compare_digest(sent.strip().encode(), token):
        return
    require("metrics.read")(request)


metrics_reader.permission = "metrics.read"  # type: ignore[attr-defined]


@router.get("/metrics", response_class=Response, dependencies=[Depends(metrics_reader)])
async def metrics(request: Request) -> Response:
    text = await run_in_threadpool(exposition, service_of(request))
    return Response(text, media_type=CONTENT_TYPE_LATEST)
