"""The web application: the API's routes and the console's pages around one ``Service``, joined here
so that neither layer imports the other's assembly."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.formparsers import MultiPartParser

from openlfr import __version__
from openlfr.api import errors
from openlfr.api.middleware import BodyLimit, SecurityHeaders
from openlfr.api.routes import (
    admin,
    alerts,
    auth,
    cameras,
    deployments,
    field,
    metrics,
    public,
    reports,
    search,
)
from openlfr.api.service import Service
from openlfr.console import pages, public_page
from openlfr.console.templating import CONSOLE


def create_app(service: Service) -> FastAPI:
    limit = service.gov.settings.api.max_upload_bytes
    # Uploaded photos are biometric: keep every upload in memory (it is capped by BodyLimit)
    # rather than letting the multipart parser spill large ones into an unencrypted temp file.
    MultiPartParser.spool_max_size = max(MultiPartParser.spool_max_size, limit + 1)
    app = FastAPI(
        title="openlfr",
        version=__version__,
        description="Live facial recognition under law: deployments, watchlists, alerts, audit.",
        lifespan=service.lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    app.state.service = service
    errors.install(app)
    for module in (auth, deployments, alerts, field, cameras, reports, admin, search, public, metrics):
        app.include_router(module.router)
    app.include_router(pages.router)
    app.include_router(public_page.router)
    app.add_exception_handler(pages.NotForYourRole, pages.not_for_your_role)  # type: ignore[arg-type]
    app.mount("/static", StaticFiles(directory=str(CONSOLE / "static")), name="static")
    app.add_middleware(BodyLimit, limit=limit)
    app.add_middleware(SecurityHeaders)
    return app
