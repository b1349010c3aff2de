"""What the application's routes require, read from the routes themselves."""

from __future__ import annotations


def all_routes(routes):  # type: ignore[no-untyped-def]
    """Routes with included routers flattened (FastAPI keeps each included router as one entry)."""
    for route in routes:
        if hasattr(route, "original_router"):
            yield from all_routes(route.original_router.routes)
        else:
            yield route


def permission_of(route) -> tuple[bool, str | None]:  # type: ignore[no-untyped-def]
    """(marked, permission) from the route's dependencies; None means public."""
    for dependency in route.dependant.dependencies:
        if hasattr(dependency.call, "permission"):
            return True, dependency.call.permission
    return False, None
