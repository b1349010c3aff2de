"""The evaluation protocols end to end on small real subsets of LFW and UTKFace (skipped without the data)."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from openlfr.cli import app
from openlfr.settings import get_settings
from tests.support.packs import make_pack

pytestmark = pytest.mark.shared_data


def subset(source: Path, target: Path, keep) -> None:  # type: ignore[no-untyped-def]
    """Copy labels.csv rows chosen by ``keep`` and link their images."""
    rows = list(csv.DictReader((source / "labels.csv").open()))
    chosen = keep(rows)
    target.mkdir(parents=True)
    with (target / "labels.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(chosen)
    for row in chosen:
        (target / row["path"]).parent.mkdir(parents=True, exist_ok=True)
        (target / row["path"]).symlink_to(source / row["path"])


def lfw_people(rows: list[dict]) -> list[dict]:
    by_person: dict[str, list[dict]] = {}
    for row in rows:
        by_person.setdefault(row["identity"], []).append(row)
    several = [r for images in by_person.values() if len(images) >= 3 for r in images[:3]][:120]
    singles = [images[0] for images in by_person.values() if len(images) == 1][:60]
    return several + singles


def test_identification_and_demographics_on_real_subsets(
    shared_data: Path, tmp_path: Path, monkeypatch
) -> None:
    data = tmp_path / "data"
    subset(shared_data / "lfw", data / "lfw", lfw_people)
    subset(shared_data / "utkface", data / "utkface", lambda rows: rows[::40])
    monkeypatch.setenv("OPENLFR_DATA_DIR", str(tmp_path / "state"))
    get_settings.cache_clear()
    out = tmp_path / "report"
    args = [
        "eval",
        "study",
        "--data",
        str(data),
        "--output",
        str(out),
        "--part",
        "identify",
        "--part",
        "demographics",
        "--pack",
        "buffalo_s",
        "--pack",
        str(make_pack(tmp_path / "user-pack")),
    ]
    result = CliRunner().invoke(app, args)
    get_settings.cache_clear()
    assert result.exit_code == 0, result.stderr
    report = json.loads((out / "evaluation.json").read_text())
    summary, user = report["packs"]
    ident = summary["lfw_identification"]
    assert ident["gallery_size"] == 40 and ident["mated_probes"] == 80 and ident["nonmated_probes"] == 60
    assert ident["rank1"] > 0.95 and ident["tpir_at_threshold_0.45"] > 0.8
    attributes = {d["attribute"] for d in summary["demographics"]}
    assert "LFW sex" in attributes and "UTKFace race × sex (all pairs)" in attributes
    for d in summary["demographics"]:
        for group in d["fmr"].values():
            assert 0 <= group["ci"][0] <= group["rate"] <= group["ci"][1] <= 1
    mitigated = summary["mitigation_cluster_thresholds"]
    for name, section in mitigated.items():
        if "held-out" in name:  # no group is made worse by the cluster thresholds
            assert section["groups_made_worse"] == []
    # The user's pack (the same networks, copied) runs beside the default and agrees with it.
    assert user["pack"] != "buffalo_s"
    assert user["lfw_identification"]["rank1"] == ident["rank1"]
    rows = {row[0]: row[1:] for row in report["comparison"]}
    assert rows["rank-1 identification"][0] == rows["rank-1 identification"][1]
    html = (out / "evaluation.html").read_text()
    assert "Model packs side by side" in html and user["pack"] in html
    assert html.count("data:image/png;base64,") >= 6
    pdf = (out / "evaluation.pdf").read_bytes()
    assert pdf.startswith(b"%PDF")
    pages = len(re.findall(rb"/Type /Page\b", pdf))
    tables = 1 + len(summary["demographics"]) + len(user["demographics"])  # comparison + one per differential
    assert pages == tables + html.count("data:image/png;base64,")  # the PDF carries the tables too
    assert list((tmp_path / "state" / "eval-cache").glob("*.sealed"))  # the cache exists, sealed
