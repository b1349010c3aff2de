"""Errors as clear JSON with the right status, and never an internal detail in a response."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from openlfr import errors
from openlfr.redaction import redact_text

log = logging.getLogger(__name__)

STATUS = (
    (errors.NotFoundError, 404),
    (errors.ImageTooLargeError, 413),
    (errors.ImageError, 415),
    (errors.FaceError, 422),
    (errors.PolicyViolation, 409),
    (errors.StoreError, 503),
    (errors.OpenLFRError, 400),
)


def problem(status: int, detail: object, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def install(app: FastAPI) -> None:
    @app.exception_handler(errors.OpenLFRError)
    async def known(_: Request, exc: errors.OpenLFRError) -> JSONResponse:
        status = next(code for kind, code in STATUS if isinstance(exc, kind))
        if status >= 500:
            log.error("%s", redact_text(str(exc)))
            return problem(status, "the database is unavailable; try again shortly")
        return problem(status, redact_text(str(exc)))

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        # Location and message only: FastAPI's default echoes the input, which may be a password.
        detail = [
            {"loc": [str(part) for part in error.get("loc", ())], "msg": error.get("msg", "invalid")}
            for error in exc.errors()
        ]
        return problem(422, detail)

    @app.exception_handler(StarletteHTTPException)
    async def http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem(exc.status_code, exc.detail, getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem(500, "internal error")
