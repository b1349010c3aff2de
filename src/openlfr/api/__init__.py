"""The service: REST and WebSocket API, the console, the public page, and what runs behind them."""

from openlfr.api.app import create_app

__all__ = ["create_app"]
