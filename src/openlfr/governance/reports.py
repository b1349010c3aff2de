"""Transparency reports: the figures police forces publish for each deployment, and a plot.

The report holds counts and the deployment's public facts only: no image, template,
subject reference or candidate ever enters it.
"""

from __future__ import annotations

import base64
import functools
import io
import textwrap
import unicodedata
from collections import Counter
from datetime import datetime
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy import select

from openlfr.governance import audit
from openlfr.governance.context import Governance, aware
from openlfr.governance.deployments import model_of
from openlfr.store.models import AlertRecord, Deployment, Subject

TEMPLATES = Environment(
    loader=PackageLoader("openlfr.governance"), autoescape=select_autoescape(default=True)
)


def font_file(bold: bool = False) -> Path:
    """DejaVu Sans as matplotlib ships it (no system font needed); matplotlib loads only here."""
    import matplotlib

    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    return folder / ("DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf")


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
        **model_of(gov, d),
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
    _wrapped_title(
        figure, axis, _settable(f"Alerts over time: {report['deployment']}")
    )  # lays the figure out
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


def render_html(report: dict, stylesheet: str | None = None, back: str | None = None) -> str:
    """The report as one HTML page (``templates/report.html``), styled inline as a file of its
    own; a site whose content policy forbids inline style gives its ``stylesheet`` address
    instead, and where ``back`` leads."""
    plot = base64.b64encode(alerts_plot_png(report)).decode()
    return TEMPLATES.get_template("report.html").render(r=report, plot=plot, stylesheet=stylesheet, back=back)


def render_pdf(report: dict, path: Path) -> None:
    """Every field whole, flowed and wrapped over as many A4 pages as it takes (a published legal
    document is never cut short), then the plot. fpdf2 sets the text with the DejaVu Sans font
    matplotlib ships, so any name prints as written, in any script DejaVu covers."""
    from fpdf import FPDF

    missing = False

    def settable(text: str) -> str:
        nonlocal missing
        shown = _settable(text)
        missing = missing or shown != text.replace("\t", " ")
        return shown

    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_font("dejavu", "", str(font_file()))
    pdf.add_font("dejavu", "B", str(font_file(bold=True)))
    pdf.add_page()
    pdf.set_font("dejavu", "B", 15)
    pdf.multi_cell(
        0, 8, settable(f"Transparency report: {report['deployment']}"), new_x="LMARGIN", new_y="NEXT"
    )
    pdf.ln(3)
    skip = {"alert_times", "alert_decisions"}
    for key, value in report.items():
        if key in skip:
            continue
        pdf.set_font("dejavu", "B", 9)
        pdf.multi_cell(0, 5, key.replace("_", " "), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("dejavu", "", 9)
        pdf.multi_cell(0, 5, settable(_shown(value)), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(1.5)
    if missing:  # said on the page, never dropped in silence
        pdf.set_font("dejavu", "", 8)
        pdf.multi_cell(
            0,
            4,
            f"{MISSING_GLYPH} marks a character this PDF's font cannot show; "
            "the HTML and JSON versions of this report hold every character as written.",
            new_x="LMARGIN",
            new_y="NEXT",
        )
    pdf.add_page()
    pdf.image(io.BytesIO(alerts_plot_png(report)), w=pdf.epw)
    pdf.output(str(path))


MISSING_GLYPH = "\u25a1"  # □, which DejaVu Sans has


@functools.cache
def _font_characters() -> frozenset[int]:
    from fontTools.ttLib import TTFont

    return frozenset(TTFont(str(font_file())).getBestCmap())


def _settable(text: str) -> str:
    """``text`` as the font can set it: tabs as spaces, other control characters dropped, and a
    visible mark for each character it has no glyph for (CJK, emoji), so nothing vanishes unseen."""
    characters = _font_characters()
    out = []
    for char in text.replace("\t", " "):
        if char == "\n" or ord(char) in characters:
            out.append(char)
        elif unicodedata.category(char) not in ("Cc", "Cf"):
            out.append(MISSING_GLYPH)
    return "".join(out)


def _shown(value: object) -> str:
    if isinstance(value, dict):
        return "; ".join(f"{k}: {v}" for k, v in value.items()) or "none"
    return "none" if value is None else str(value)
