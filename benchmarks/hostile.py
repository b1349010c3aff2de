"""The service under attack: a sign-in flood and hostile uploads, against what people signed in see.

`python -m benchmarks hostile` runs both and writes `results/hostile.json`:

1. Sign-in flood: 40 threads post `/api/auth/login` with random user names for a while, from one
   address and then from a fresh address each time (as a botnet would look), both through a
   trusted reverse proxy that names them in X-Forwarded-For. Meanwhile a signed-in operator
   reads `GET /api/alerts` ten times a second. Its
   latency is reported beside the same reads with no flood in the same run, with the server's
   memory before and at its peak.
2. Hostile uploads: small PNGs whose headers claim huge 16-bit pictures (then 10 MiB JPEGs of
   nothing but markers, slow to parse), and real photos, sent to `/subjects/check` by 8 clients at
   once while `/healthz` is read ten times a second.
"""

from __future__ import annotations

import io
import multiprocessing
import random
import resource
import statistics
import string
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from PIL import Image
from rich.console import Console

from benchmarks.common import benchmark_deployment, hardware, save
from openlfr.api.server import serve_in_thread
from openlfr.api.service import Service
from openlfr.governance import Governance, accounts
from openlfr.settings import load_settings
from openlfr.store import Store
from openlfr.store.crypto import new_key
from openlfr.web import create_app

console = Console()
PASSWORD = "a long benchmark password"


def _service(folder: Path, **api: object) -> tuple[Governance, str]:
    settings = load_settings(data_dir=folder / "data", api=api)
    store = Store(f"sqlite:///{folder / 'main.sqlite'}", f"sqlite:///{folder / 'keys.sqlite'}", new_key())
    store.migrate()
    gov = Governance(store, settings)
    for name, role in (("operator", "operator"), ("manager", "watchlist_manager")):
        accounts.create_user(gov, name, PASSWORD, role, "benchmark")
    return gov, _token(gov, "operator")


def _token(gov: Governance, username: str) -> str:
    user = next(u for u in accounts.list_users(gov) if u.username == username)
    principal = accounts.Principal(user.id, user.username, user.role, "session")
    return accounts.create_token(gov, principal, "benchmark")[1]


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _percentiles(samples: list[float]) -> dict[str, float | None]:
    if not samples:
        return {"p50_ms": None, "p95_ms": None, "max_ms": None}
    return {
        "p50_ms": round(statistics.median(samples), 1),
        "p95_ms": round(float(np.percentile(samples, 95)), 1),
        "max_ms": round(max(samples), 1),
    }


def _sample(url: str, path: str, headers: dict[str, str], seconds: float, peak: list[float]) -> list[float]:
    """Latencies of ``path`` read ten times a second for ``seconds``, noting the peak memory."""
    latencies = []
    with httpx.Client(base_url=url, timeout=60) as client:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            started = time.perf_counter()
            response = client.get(path, headers=headers)
            latencies.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, response.text
            peak[0] = max(peak[0], _rss_mib())
            time.sleep(max(0.0, 0.1 - (time.perf_counter() - started)))
    return latencies


def _flood(url: str, threads: int, seconds: float, spread: bool, counts) -> None:  # type: ignore[no-untyped-def]
    """``threads`` threads posting sign-ins with random names (in their own process, as attackers)."""

    def attacker() -> None:
        with httpx.Client(base_url=url, timeout=30) as client:
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                name = "".join(random.choices(string.ascii_lowercase, k=10))
                headers = (
                    {"X-Forwarded-For": f"10.{random.randrange(256)}.{random.randrange(256)}.7"}
                    if spread
                    else {}
                )
                try:
                    status = client.post(
                        "/api/auth/login", json={"username": name, "password": "x" * 12}, headers=headers
                    ).status_code
                except httpx.HTTPError:
                    status = 0
                with counts.get_lock():
                    counts[{200: 0, 401: 1, 429: 2, 503: 3}.get(status, 4)] += 1

    workers = [threading.Thread(target=attacker) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


def login_flood(
    folder: Path, threads: int = 40, seconds: float = 30.0, spread: bool = False
) -> dict[str, Any]:
    gov, secret = _service(
        folder, trusted_proxies=["127.0.0.1"]
    )  # behind a proxy: addresses in X-Forwarded-For
    headers = {"Authorization": f"Bearer {secret}"}
    with serve_in_thread(create_app(Service(gov, run_engines=False))) as url:
        peak = [_rss_mib()]
        quiet = _sample(url, "/api/alerts", headers, 3.0, peak)
        before = _rss_mib()
        counts = multiprocessing.get_context("spawn").Array("i", 5)
        attackers = multiprocessing.get_context("spawn").Process(
            target=_flood, args=(url, threads, seconds, spread, counts)
        )
        attackers.start()
        time.sleep(1.0)  # the flood is under way
        flooded = _sample(url, "/api/alerts", headers, seconds - 2.0, peak)
        attackers.join(seconds + 60)
        with httpx.Client(base_url=url) as client:  # the real user, elsewhere, can sign in once it is over
            signed_in = client.post(
                "/api/auth/login",
                json={"username": "operator", "password": PASSWORD},
                headers={"X-Forwarded-For": "192.0.2.10"},
            )
    gov.store.dispose()
    return {
        "threads": threads,
        "seconds": seconds,
        "addresses": "a new one each attempt (trusted proxy)" if spread else "one",
        "attempts": {
            "ok": counts[0],
            "401": counts[1],
            "429": counts[2],
            "503": counts[3],
            "other": counts[4],
        },
        "quiet": _percentiles(quiet),
        "flooded": _percentiles(flooded),
        "p95_flooded_over_quiet": round(
            _percentiles(flooded)["p95_ms"] / max(_percentiles(quiet)["p95_ms"], 0.1), 2
        ),
        "memory_mib_before": round(before, 1),
        "memory_mib_peak": round(peak[0], 1),
        "operator_signs_in_after": signed_in.status_code == 200,
    }


def bomb_png(side: int = 6300) -> bytes:
    """A small PNG whose header claims a ``side``² 16-bit grey picture (flat, so it compresses)."""
    buffer = io.BytesIO()
    Image.new("I;16", (side, side)).save(buffer, "PNG", optimize=True)
    return buffer.getvalue()


def slow_header_jpeg(megabytes: float = 9.0) -> bytes:
    """A JPEG of nothing but empty comment markers: costly to parse before any size is known."""
    return b"\xff\xd8" + b"\xff\xfe\x00\x02" * int(megabytes * 2**20 / 4) + b"\xff\xd9"


def _uploads(url: str, secret: str, deployment_id: str, payloads: list[bytes], clients: int, counts) -> None:  # type: ignore[no-untyped-def]
    def client_loop(number: int) -> None:
        with httpx.Client(base_url=url, timeout=120) as client:
            for index in range(number, len(payloads), clients):
                response = client.post(
                    f"/api/deployments/{deployment_id}/subjects/check",
                    files={"image": (f"p{index}.png", payloads[index])},
                    headers={"Authorization": f"Bearer {secret}"},
                )
                with counts.get_lock():
                    counts[{200: 0, 413: 1, 415: 2, 503: 3}.get(response.status_code, 4)] += 1

    workers = [threading.Thread(target=client_loop, args=(n,)) for n in range(clients)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


def hostile_uploads(
    folder: Path, clients: int = 8, uploads: int = 48, hostile: str = "bomb"
) -> dict[str, Any]:
    """Every other upload hostile: a ``bomb`` (a small PNG claiming a huge picture) or a
    ``slow_header`` (10 MiB of JPEG markers), the rest real photos."""
    from openlfr.models import sample_image_paths

    gov, _ = _service(folder)
    manager = _token(gov, "manager")
    deployment_id = benchmark_deployment(gov, "Uploads")
    photo = sample_image_paths()["yaoming"].read_bytes()
    bomb = bomb_png() if hostile == "bomb" else slow_header_jpeg()
    payloads = [bomb if i % 2 == 0 else photo for i in range(uploads)]
    with serve_in_thread(create_app(Service(gov, run_engines=False))) as url:
        peak = [_rss_mib()]
        quiet = _sample(url, "/healthz", {}, 3.0, peak)
        before = _rss_mib()
        counts = multiprocessing.get_context("spawn").Array("i", 5)
        senders = multiprocessing.get_context("spawn").Process(
            target=_uploads, args=(url, manager, deployment_id, payloads, clients, counts)
        )
        started = time.monotonic()
        senders.start()
        busy: list[float] = []
        while senders.is_alive():
            busy += _sample(url, "/healthz", {}, 1.0, peak)
        took = time.monotonic() - started
    gov.store.dispose()
    return {
        "clients": clients,
        "uploads": uploads,
        "bomb_bytes": len(bomb),
        "hostile": hostile,
        "answers": {
            "ok": counts[0],
            "413": counts[1],
            "415": counts[2],
            "503": counts[3],
            "other": counts[4],
        },
        "seconds": round(took, 1),
        "healthz_quiet": _percentiles(quiet),
        "healthz_during": _percentiles(busy),
        "memory_mib_before": round(before, 1),
        "memory_mib_peak": round(peak[0], 1),
    }


def run() -> dict[str, Any]:
    info = hardware()
    console.print(f"[bold]hardware:[/] {info}")
    results: dict[str, Any] = {"hardware": info}
    with tempfile.TemporaryDirectory(prefix="openlfr-hostile-") as folder:
        for spread in (False, True):
            label = "login_flood_many_addresses" if spread else "login_flood_one_address"
            sub = Path(folder) / label
            sub.mkdir()
            console.rule(f"sign-in flood from {'many addresses' if spread else 'one address'}")
            results[label] = login_flood(sub, spread=spread)
            console.print(results[label])
        for hostile in ("bomb", "slow_header"):
            sub = Path(folder) / f"uploads-{hostile}"
            sub.mkdir()
            console.rule(f"hostile uploads: {hostile}")
            results[f"hostile_uploads_{hostile}"] = hostile_uploads(sub, hostile=hostile)
            console.print(results[f"hostile_uploads_{hostile}"])
    save("hostile", results)
    return results
