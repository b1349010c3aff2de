"""50 WebSocket clients and a burst of 100 alerts per second: every client gets every alert, in order."""

from __future__ import annotations

import pytest
from benchmarks.api_load import alert_load

pytestmark = pytest.mark.slow


def test_every_client_receives_every_alert_in_order(tmp_path) -> None:
    result = alert_load(clients=50, rate=100.0, seconds=3.0, folder=tmp_path)
    print(f"delivery latency p50 {result['latency_ms_p50']} ms, p95 {result['latency_ms_p95']} ms")
    assert result["alerts"] == 300
    assert result["deliveries"] == result["expected_deliveries"] == 15_000
    assert result["every_client_complete"] and result["every_client_in_order"]
