"""The web application: ``create_app`` joins the API and the console around a service."""

from openlfr.web.app import create_app

__all__ = ["create_app"]
