"""The service's REST and WebSocket API, and what runs behind it (``Service``)."""
