"""The transparency report's plot shows a deployment's name whole, however long or wide."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pytest

from openlfr.governance.reports import alerts_figure, alerts_plot_png


def report(name: str) -> dict:
    return {
        "deployment": name,
        "planned_start": "2026-01-01T10:00:00+00:00",
        "planned_end": "2026-01-01T12:00:00+00:00",
        "alert_times": ["2026-01-01T10:30:00+00:00"],
        "alert_decisions": ["false_alert"],
    }


@pytest.mark.parametrize(
    "name",
    [
        "Operation " + "very long deployment name " * 7,
        "W" * 200,  # one wide word: broken, not clipped
        "Cost $x^2$ zone " * 12,  # dollars stay dollars
    ],
)
def test_a_long_name_is_wrapped_inside_the_plot_not_clipped(name: str) -> None:
    figure = alerts_figure(report(name))
    try:
        figure.canvas.draw()
        title = figure.axes[0].title
        box, frame = title.get_window_extent(), figure.bbox
        assert len(title.get_text().splitlines()) > 1
        assert box.x0 >= 0 and box.x1 <= frame.width and box.y1 <= frame.height
        assert "".join(title.get_text().split()) == "".join(f"Alerts over time: {name}".split())
    finally:
        plt.close(figure)


def test_a_short_name_stays_on_one_line() -> None:
    figure = alerts_figure(report("High Street"))
    try:
        assert figure.axes[0].title.get_text() == "Alerts over time: High Street"
    finally:
        plt.close(figure)
    assert alerts_plot_png(report("High Street")).startswith(b"\x89PNG")
