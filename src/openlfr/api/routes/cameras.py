"""Camera health, and live preview tiles in which every non-alert face is pixelated."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, Field

from openlfr.api.deps import require, service_of
from openlfr.governance.accounts import Principal
from openlfr.live.runner import CameraStatus

router = APIRouter(prefix="/api", tags=["cameras"])
BOUNDARY = "openlfrframe"


class CamerasOut(BaseModel):
    running: dict[str, list[CameraStatus]] = Field(
        description="By deployment id: each camera's state, rates, counters (its address's password masked)."
    )
    refused: dict[str, str] = Field(description="Live deployments not running, and why.")


@router.get("/cameras")
def cameras(request: Request, _: Principal = Depends(require("cameras.status"))) -> CamerasOut:
    """Per running deployment: each camera's state, fps, latency and counters."""
    supervisor = service_of(request).supervisor
    return CamerasOut(running=supervisor.status(), refused=dict(supervisor.refusals))


@router.get("/cameras/{deployment_id}/{camera}/preview.mjpg", response_class=StreamingResponse)
async def preview(
    deployment_id: str, camera: str, request: Request, _: Principal = Depends(require("cameras.preview"))
):
    """A multipart JPEG stream of the camera's newest frames, faces blurred unless under an alert."""
    service = service_of(request)
    if not service.supervisor.has_camera(deployment_id, camera):
        raise HTTPException(404, "no such running camera")
    interval = 1.0 / service.gov.settings.api.preview_fps

    async def frames() -> AsyncIterator[bytes]:
        while not await request.is_disconnected():
            jpeg = await asyncio.to_thread(service.supervisor.preview_jpeg, deployment_id, camera)
            if jpeg is None and not service.supervisor.has_camera(deployment_id, camera):
                return
            if jpeg is not None:
                part = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n"
                yield part.encode() + jpeg + b"\r\n"
            await asyncio.sleep(interval)

    return StreamingResponse(frames(), media_type=f"multipart/x-mixed-replace; boundary={BOUNDARY}")


@router.get("/cameras/{deployment_id}/{camera}/snapshot.jpg", response_class=Response)
def snapshot(
    deployment_id: str, camera: str, request: Request, _: Principal = Depends(require("cameras.preview"))
):
    """One blurred preview frame (for clients that cannot show MJPEG)."""
    jpeg = service_of(request).supervisor.preview_jpeg(deployment_id, camera)
    if jpeg is None:
        raise HTTPException(404, "no frame from this camera yet")
    return Response(jpeg, media_type="image/jpeg")
