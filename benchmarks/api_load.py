"""Alert delivery under load: 50 WebSocket clients, a burst of 100 alerts per second.

Alerts are written through the same path the engine uses (sealed, audited, fed), each one
timed when its transaction commits; every client must receive every alert, in order. The
delivery latency (commit → client) is reported beside the feed's poll interval, the floor
this design can reach.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from websockets.asyncio.client import connect

from benchmarks.common import benchmark_deployment, hardware, save
from openlfr.api.server import serve_in_thread
from openlfr.api.service import Service
from openlfr.governance import Governance, accounts
from openlfr.governance import alerts as al
from openlfr.governance import watchlists as wl
from openlfr.live.alerts import Alert
from openlfr.models import sample_image_paths
from openlfr.settings import load_settings
from openlfr.store import Store
from openlfr.store.crypto import new_key
from openlfr.watchlist import Candidate
from openlfr.web import create_app

console = Console()
SUBJECTS = 20  # on the watchlist; alerts go round them, each camera raising one alert for each


def _service(folder: Path) -> tuple[Governance, str, str]:
    """A fresh store with one operator token and one deployment to raise alerts in."""
    settings = load_settings(data_dir=folder / "data")
    store = Store(f"sqlite:///{folder / 'main.sqlite'}", f"sqlite:///{folder / 'keys.sqlite'}", new_key())
    store.migrate()
    gov = Governance(store, settings)
    user = accounts.create_user(gov, "operator", "load-test-password", "operator", "benchmark")
    principal = accounts.Principal(user.id, user.username, user.role, "session")
    secret = accounts.create_token(gov, principal, "load test")[1]
    deployment_id = benchmark_deployment(gov, "Load test")
    photo = sample_image_paths()["yaoming"].read_bytes()
    for number in range(SUBJECTS):  # sightings of anyone else would not be stored
        entry = wl.SubjectEntry(f"subject-{number}", "wanted_on_warrant", "load test", photo, "benchmark")
        wl.add_subject(gov, deployment_id, entry, "benchmark")
    return gov, secret, deployment_id


def _alert(number: int) -> Alert:
    crop = np.full((112, 112, 3), number % 255, np.uint8)  # a synthetic crop: no face, no person
    now = time.time()
    return Alert(
        camera=f"cam-{number // SUBJECTS}",  # each (camera, subject) once: every one a new alert
        subject=f"subject-{number % SUBJECTS}",
        score=0.6,
        threshold=0.45,
        track_id=number,
        candidates=[Candidate(f"subject-{number % SUBJECTS}", 0.6)],
        supporting_faces=2,
        frame_time=now,
        raised_at=now,
        media_position=0.0,
        probe_crop=crop,
    )


def _produce(
    gov: Governance, deployment_id: str, total: int, rate: float, committed: dict[str, float]
) -> None:
    start = time.perf_counter()
    for number in range(total):
        delay = start + number / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        alert = _alert(number)
        al.record(gov, deployment_id, alert)
        committed[alert.alert_id] = time.time()


async def _client(url: str, secret: str, total: int, ready: asyncio.Event, deadline: float) -> list[tuple]:
    received = []
    async with connect(
        url, additional_headers={"Authorization": f"Bearer {secret}"}, max_queue=None
    ) as socket:
        ready.set()
        while len(received) < total and time.time() < deadline:
            try:
                message = await asyncio.wait_for(socket.recv(), timeout=max(0.1, deadline - time.time()))
            except TimeoutError:
                break
            event = json.loads(message)
            received.append((event["seq"], event["alert"]["id"], time.time()))
    return received


async def _clients(url: str, secret: str, clients: int, total: int, pipe, timeout: float):  # type: ignore[no-untyped-def]
    deadline = time.time() + timeout
    events = [asyncio.Event() for _ in range(clients)]
    tasks = [asyncio.create_task(_client(url, secret, total, events[i], deadline)) for i in range(clients)]
    for event in events:
        await asyncio.wait_for(event.wait(), 30)
    await asyncio.sleep(0.3)  # every socket subscribed before the first alert
    pipe.send("ready")
    return await asyncio.gather(*tasks)


def _client_process(url: str, secret: str, clients: int, total: int, timeout: float, pipe) -> None:  # type: ignore[no-untyped-def]
    """The clients live in their own process, like real consoles on other machines."""
    pipe.send(asyncio.run(_clients(url, secret, clients, total, pipe, timeout)))


def alert_load(
    clients: int = 50, rate: float = 100.0, seconds: float = 3.0, folder: Path | None = None
) -> dict:
    """Run the load and return what every client got, with latency percentiles."""
    total = int(rate * seconds)
    with tempfile.TemporaryDirectory() as scratch:
        gov, secret, deployment_id = _service(Path(folder or scratch))
        committed: dict[str, float] = {}
        producer = threading.Thread(target=_produce, args=(gov, deployment_id, total, rate, committed))
        with serve_in_thread(create_app(Service(gov, run_engines=False))) as base:
            url = base.replace("http", "ws") + "/api/alerts/ws"
            ours, theirs = multiprocessing.get_context("spawn").Pipe()
            child = multiprocessing.get_context("spawn").Process(
                target=_client_process, args=(url, secret, clients, total, seconds + 60, theirs)
            )
            child.start()
            if not ours.poll(60) or ours.recv() != "ready":
                child.kill()
                raise RuntimeError("the WebSocket clients did not connect")
            began = time.perf_counter()
            producer.start()
            results = ours.recv()
            producer.join()
            child.join(30)
            elapsed = time.perf_counter() - began
        gov.store.dispose()
    order = [a for a, _ in sorted(committed.items(), key=lambda item: item[1])]
    latencies = [(at - committed[alert_id]) * 1000 for got in results for _, alert_id, at in got]
    complete = [len(got) == total for got in results]
    in_order = [
        [s for s, _, _ in got] == sorted(s for s, _, _ in got) and [a for _, a, _ in got] == order
        for got in results
    ]
    return {
        "clients": clients,
        "alerts": total,
        "rate_per_s": rate,
        "deliveries": len(latencies),
        "expected_deliveries": clients * total,
        "every_client_complete": all(complete),
        "every_client_in_order": all(in_order),
        "latency_ms_p50": round(statistics.median(latencies), 1) if latencies else None,
        "latency_ms_p95": round(float(np.percentile(latencies, 95)), 1) if latencies else None,
        "latency_ms_max": round(max(latencies), 1) if latencies else None,
        "poll_interval_ms": gov.settings.api.feed_poll_seconds * 1000,
        "seconds": round(elapsed, 2),
    }


def run() -> dict[str, Any]:
    console.rule("[bold]API: alert delivery to 50 WebSocket clients at 100 alerts/s")
    result = alert_load()
    result["latency_p50_over_poll_interval"] = round(result["latency_ms_p50"] / result["poll_interval_ms"], 2)
    console.print(
        f"{result['deliveries']:,} of {result['expected_deliveries']:,} deliveries; "
        f"complete: {result['every_client_complete']}, in order: {result['every_client_in_order']}; "
        f"latency p50 {result['latency_ms_p50']} ms, p95 {result['latency_ms_p95']} ms, "
        f"max {result['latency_ms_max']} ms (poll interval {result['poll_interval_ms']:.0f} ms, "
        f"p50 = {result['latency_p50_over_poll_interval']}× it)"
    )
    record = {"hardware": hardware(), "alert_delivery": result}
    save("api", record)
    return record
