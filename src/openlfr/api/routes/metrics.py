"""``/metrics`` for Prometheus: scraped with an administrator's API token (``bearer_token`` in the
scrape configuration), like any other read of the service's state."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.concurrency import run_in_threadpool

from openlfr.api.deps import require, service_of
from openlfr.api.metrics import exposition
from openlfr.governance.accounts import Principal

router = APIRouter(tags=["metrics"])


@router.get("/metrics", response_class=Response)
async def metrics(request: Request, _: Principal = Depends(require("metrics.read"))) -> Response:
    text = await run_in_threadpool(exposition, service_of(request))
    return Response(text, media_type=CONTENT_TYPE_LATEST)
