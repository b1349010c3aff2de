"""Transparency reports: the figures police forces publish for each deployment, and a plot.

The report holds counts and the deployment's public facts only: no image, template,
subject reference or candidate ever enters it.
"""

from __future__ import annotations

import base64
import io
import textwrap
from collections import Counter
from datetime import datetime
from pathlib import Path

from jinja2 import Environment, select_autoescape
from sqlalchemy import select

from openlfr.governance import audit
from openlfr.governance.context import Governance, aware
from openlfr.store.models import AlertRecord, Deployment, Subject


def build(gov: Governance, deployment_id: str) -> dict:
    """The transparency report of one deployment as plain data."""
    with gov.store.session() as session:
        d = gov.get(session, Deployment, deployment_id)
        alerts = session.scalars(select(AlertRecord).where(AlertRecord.deployment_id == deployment_id)).all()
        watchlist = d.watchlist_summary
        if watchlist is None:  # not live yet: describe the watchlist as it stands
            subjects = session.scalars(select(Subject).where(Subject.deployment_id == deployment_id)).all()
            watchlist = {"size": len(subjects), "by_category": dict(Counter(s.category for s in subjects))}
        audit_seq, audit_hash = audit.head(session)
    decisions = Counter(a.decision or "undecided" for a in alerts)
    outcomes = Counter(a.outcome for a in alerts if a.outcome)
    false_alerts = decisions.get("false_alert", 0)
    return {
        "deployment": d.name,
        "location": d.location_name,
        "area": d.area_description,
        "purpose": d.purpose,
        "legal_basis": d.legal_basis,
        "dpia_reference": d.dpia_reference,
        "authorising_officer": d.authorising_officer,
        "signage_confirmed": d.signage_confirmed,
        "state": d.state,
        "planned_start": _iso(d.planned_start),
        "planned_end": _iso(d.planned_end),
        "started_at": _iso(d.started_at),
        "ended_at": _iso(d.ended_at),
        "alert_threshold": d.alert_threshold,
        "watchlist_size": watchlist.get("size", 0),
        "watchlist_by_category": watchlist.get("by_category", {}),
        "people_seen": d.tracks_seen,  # each person tracked past the camera counts once
        "faces_seen": d.faces_seen,  # detections, in every frame: not a count of people
        "alerts": len(alerts),
        "confirmed_alerts": decisions.get("confirmed_match", 0),
        "false_alerts": false_alerts,
        "undecided_alerts": decisions.get("undecided", 0),
        "not_engaged": decisions.get("not_engaged", 0),
        "unable_to_locate": decisions.get("unable_to_locate", 0),
        "engagements": sum(outcomes.values()),
        "outcomes": dict(outcomes),
        "false_alert_rate": (false_alerts / d.tracks_seen) if d.tracks_seen else None,  # per person seen
        "audit_head": f"{audit_seq}:{audit_hash}",  # the audit trail as this report was made (verify --head)
        "alert_times": [_iso(a.raised_at) for a in sorted(alerts, key=lambda a: a.raised_at)],
        "alert_decisions": [a.decision or "undecided" for a in sorted(alerts, key=lambda a: a.raised_at)],
    }


def _iso(value: datetime | None) -> str | None:
    value = aware(value)
    return value.isoformat(timespec="seconds") if value else None


def alerts_plot_png(report: dict) -> bytes:
    """Alerts over the deployment's time window, stacked by decision, as a PNG."""
    import matplotlib.pyplot as plt

    figure = alerts_figure(report)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return buffer.getvalue()


def alerts_figure(report: dict):
    """The plot as a matplotlib figure (the caller closes it): its title wrapped to the figure's
    width, so a long deployment name is shown whole, never clipped at the edges."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(8, 3), dpi=100)
    times = [datetime.fromisoformat(t) for t in report["alert_times"]]
    colours = {"confirmed_match": "#c0392b", "false_alert": "#7f8c8d", "undecided": "#f1c40f"}
    start, end = (
        datetime.fromisoformat(report["planned_start"]),
        datetime.fromisoformat(report["planned_end"]),
    )
    bins = 24
    edges = [start + (end - start) * i / bins for i in range(bins + 1)]
    bottom = [0] * bins
    for decision in sorted(set(report["alert_decisions"]) | {"confirmed_match", "false_alert"}):
        chosen = [t for t, d in zip(times, report["alert_decisions"], strict=True) if d == decision]
        counts = [
            sum(edges[i] <= t < edges[i + 1] or (i == bins - 1 and t == end) for t in chosen)
            for i in range(bins)
        ]
        axis.bar(  # matplotlib takes datetimes, and a timedelta for their width
            edges[:-1],  # type: ignore[arg-type]
            counts,
            width=(end - start) / bins,  # type: ignore[arg-type]
            bottom=bottom,
            align="edge",
            color=colours.get(decision, "#34495e"),
            label=decision.replace("_", " "),
        )
        bottom = [b + c for b, c in zip(bottom, counts, strict=True)]
    axis.set_ylabel("alerts")
    axis.xaxis.set_major_formatter(mdates.DateFormatter("%d %b %H:%M"))
    axis.legend(loc="upper right", fontsize=8)
    figure.autofmt_xdate()
    _wrapped_title(figure, axis, f"Alerts over time: {report['deployment']}")  # lays the figure out
    return figure


def _wrapped_title(figure, axis, title: str) -> None:
    """Set ``title`` wrapped at the most characters per line that stay inside the figure, laid
    out again each time (measured: wide letters and CJK take more room than a count suggests)."""
    renderer = figure.canvas.get_renderer()
    for width in range(90, 9, -10):
        lines = textwrap.wrap(title, width, break_long_words=True)
        text = axis.set_title("\n".join(lines), parse_math=False)  # a name may hold "$"
        figure.tight_layout()
        box = text.get_window_extent(renderer)
        if box.x0 >= 0 and box.x1 <= figure.bbox.width:
            return


TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Transparency report: {{ r.deployment }}</title>
{% if stylesheet %}<link rel="stylesheet" href="{{ stylesheet }}">{% else %}<style>body{font-family:sans-serif;
max-width:52em;margin:2em auto;color:#222}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em;
text-align:left}th{background:#f4f4f4}img{max-width:100%}</style>{% endif %}
</head><body>
{% if back %}<p><a href="{{ back }}">← All reports</a></p>{% endif %}
<h1>Live facial recognition deployment: {{ r.deployment }}</h1>
<table>
<tr><th>Location</th><td>{{ r.location }}{% if r.area %} ({{ r.area }}){% endif %}</td></tr>
<tr><th>Time window</th><td>{{ r.planned_start }} to {{ r.planned_end }}</td></tr>
<tr><th>Purpose</th><td>{{ r.purpose }}</td></tr>
<tr><th>Legal basis</th><td>{{ r.legal_basis }}</td></tr>
<tr><th>DPIA</th><td>{{ r.dpia_reference }}</td></tr>
<tr><th>Signage confirmed</th><td>{{ "yes" if r.signage_confirmed else "no" }}</td></tr>
<tr><th>Alert threshold</th><td>{{ r.alert_threshold }}</td></tr>
<tr><th>Watchlist size</th><td>{{ r.watchlist_size }}{% for c, n in r.watchlist_by_category.items() %}; {{ c.replace("_", " ") }}: {{ n }}{% endfor %}</td></tr>
<tr><th>People seen</th><td>{{ r.people_seen }} (faces detected in all frames: {{ r.faces_seen }})</td></tr>
<tr><th>Alerts</th><td>{{ r.alerts }}</td></tr>
<tr><th>Confirmed alerts</th><td>{{ r.confirmed_alerts }}</td></tr>
<tr><th>False alerts</th><td>{{ r.false_alerts }}</td></tr>
<tr><th>False alert rate</th><td>{% if r.false_alert_rate is not none %}{{ "%.6f"|format(r.false_alert_rate) }} per person seen{% else %}n/a{% endif %}</td></tr>
<tr><th>Engagements</th><td>{{ r.engagements }}{% for o, n in r.outcomes.items() %}; {{ o.replace("_", " ") }}: {{ n }}{% endfor %}</td></tr>
<tr><th>Audit trail head</th><td><code>{{ r.audit_head }}</code> (check later with <code>openlfr audit verify --head</code>)</td></tr>
</table>
<h2>Alerts over time</h2><img alt="alerts over time" src="data:image/png;base64,{{ plot }}">
<p>Faces that matched no one on the watchlist were deleted at once and never stored.</p>
</body></html>"""


def render_html(report: dict, stylesheet: str | None = None, back: str | None = None) -> str:
    """The report as one HTML page, styled inline as a file of its own; a site whose content policy
    forbids inline style gives its ``stylesheet`` address instead, and where ``back`` leads."""
    environment = Environment(autoescape=select_autoescape(default=True))
    plot = base64.b64encode(alerts_plot_png(report)).decode()
    return environment.from_string(TEMPLATE).render(r=report, plot=plot, stylesheet=stylesheet, back=back)


PDF_WRAP = 62  # characters per line of a field's value on an A4 page
PDF_LINE = 0.018  # of the page's height


def render_pdf(report: dict, path: Path) -> None:
    """The figures, every field whole (wrapped, over as many pages as it takes: a published legal
    document is never cut short), then the plot; matplotlib's PDF backend, no system libraries.
    Text is set as written: a "$" in a name is a dollar sign, not a formula."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.image as mpimg
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_pdf import PdfPages

    skip = {"alert_times", "alert_decisions"}
    rows = [
        (key.replace("_", " "), textwrap.wrap(str(value), PDF_WRAP, break_long_words=True) or [""])
        for key, value in report.items()
        if key not in skip
    ]
    with PdfPages(path) as pdf:
        page, y = _pdf_page(plt, f"Transparency report: {report['deployment']}"), 0.9
        for label, lines in rows:
            for number, line in enumerate(lines):
                if y < 0.05:
                    pdf.savefig(page)
                    plt.close(page)
                    page, y = _pdf_page(plt, f"Transparency report (continued): {report['deployment']}"), 0.9
                if number == 0:
                    page.text(0.08, y, f"{label}:", fontsize=9, weight="bold", parse_math=False)
                page.text(0.38, y, line, fontsize=9, parse_math=False)
                y -= PDF_LINE
            y -= PDF_LINE / 2
        pdf.savefig(page)
        plt.close(page)
        plot = plt.figure(figsize=(8.27, 4))
        plot.figimage(mpimg.imread(io.BytesIO(alerts_plot_png(report)), format="png"), 20, 20)
        pdf.savefig(plot)
        plt.close(plot)


def _pdf_page(plt, title: str):
    page = plt.figure(figsize=(8.27, 11.69))
    for number, line in enumerate(textwrap.wrap(title, 56)):
        page.text(0.08, 0.95 - number * 0.02, line, fontsize=14, weight="bold", parse_math=False)
    return page
