"""The operator console: server-rendered pages with a little JavaScript, served by the API."""
