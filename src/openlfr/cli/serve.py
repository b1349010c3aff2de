"""`openlfr serve`: the API, the console, the live engines and the periodic purge in one process."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated

import typer

from openlfr.cli.common import cli_errors, err, out


@cli_errors
def serve_command(
    host: Annotated[str | None, typer.Option(help="Address to listen on (default api.host).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default api.port).")] = None,
    demo: Annotated[
        bool, typer.Option(help="Fresh demo state in ./openlfr-demo: users, a live deployment, a camera.")
    ] = False,
    engines: Annotated[bool, typer.Option(help="Run the live engines of live deployments.")] = True,
) -> None:
    """Start the API, the console, the live engines, the periodic purge and the webhook."""
    import uvicorn

    from openlfr.api.server import uvicorn_options
    from openlfr.api.service import Service
    from openlfr.governance import Governance
    from openlfr.settings import load_settings
    from openlfr.store import open_store
    from openlfr.web import create_app

    if demo:
        folder = Path("openlfr-demo").resolve()
        shutil.rmtree(folder / "state", ignore_errors=True)
        # the demo is a trial of openlfr itself, on the research-only default pack
        settings = load_settings(data_dir=folder / "state", governance={"research_use_acknowledged": True})
    else:
        settings = load_settings()
    bind_host, bind_port = host or settings.api.host, port or settings.api.port
    gov = Governance(open_store(settings), settings)
    setup = None
    if demo:
        from openlfr.demo.service import prepare_demo

        err.print("preparing the demo (users, watchlist, camera video)…")
        setup = prepare_demo(gov, folder)
    if engines:
        from openlfr.video.hwdecode import decoding_summary

        out.print(f"inference: {gov.analyzer.backend_summary()}", highlight=False)
        out.print(
            f"video: {decoding_summary(settings.live.decode_device, settings.live.frames_on_device)}",
            highlight=False,
        )
    app = create_app(Service(gov, run_engines=engines))
    url = f"http://{'127.0.0.1' if bind_host in ('0.0.0.0', '::') else bind_host}:{bind_port}"
    out.print(f"[bold]openlfr console:[/] {url}/   public page: {url}/public   API: {url}/api/openapi.json")
    if setup is not None:
        out.print(f"demo watchlist: {', '.join(setup.enrolled)}")
        for line in setup.rejected:
            err.print(f"[yellow]not enrolled:[/] {line}")
        out.print("demo logins (new passwords each start):")
        for name, password in setup.passwords.items():
            out.print(f"  {name:9} {password}", highlight=False)
        out.print("sign in as [bold]operator[/] to adjudicate alerts; Ctrl-C stops.")
        out.print(
            f"the CLI sees this demo with: export OPENLFR_DATA_DIR={settings.data_dir}", highlight=False
        )
    uvicorn.run(app, host=bind_host, port=bind_port, **uvicorn_options(app))


def register(app: typer.Typer) -> None:
    app.command("serve")(serve_command)
