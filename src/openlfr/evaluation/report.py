"""The evaluation report a non-specialist can read: HTML and PDF, with the expected plots."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from jinja2 import Environment, PackageLoader, select_autoescape

from openlfr.evaluation.demographics import Differential
from openlfr.evaluation.metrics import det_curve
from openlfr.evaluation.study import StudyResults

TEMPLATES = Environment(
    loader=PackageLoader("openlfr.evaluation"), autoescape=select_autoescape(default=True)
)


def _comparison_figure(plt, packs: list[StudyResults]):
    """DET curves of every pack on LFW pairs, on one plot."""
    figure, axis = plt.subplots(figsize=(6, 3.8))
    for results in packs:
        genuine, impostor = results.curves["lfw pairs"]
        _, fmr, fnmr = det_curve(genuine, impostor)
        keep = (fmr > 0) & (fnmr > 0)
        axis.loglog(fmr[keep], fnmr[keep], label=results.pack)
    axis.set(xlabel="false match rate", ylabel="false non-match rate", title="DET curves, LFW pairs, by pack")
    axis.grid(True, which="both", alpha=0.3)
    axis.legend()
    figure.tight_layout()
    return figure


def _figures(results: StudyResults) -> list[tuple[str, Any]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figures = []
    if "lfw pairs" in results.curves:
        genuine, impostor = results.curves["lfw pairs"]
        figure, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
        _, fmr, fnmr = det_curve(genuine, impostor)
        keep = (fmr > 0) & (fnmr > 0)
        left.loglog(fmr[keep], fnmr[keep])
        left.set(xlabel="false match rate", ylabel="false non-match rate", title="DET curve, LFW pairs")
        left.grid(True, which="both", alpha=0.3)
        bins = np.linspace(min(-0.3, float(impostor.min())), 1.0, 66)
        right.hist(impostor, bins, alpha=0.6, label="different people", density=True)
        right.hist(genuine, bins, alpha=0.6, label="same person", density=True)
        right.set(xlabel="cosine similarity", title="Score distributions, LFW pairs")
        right.legend()
        figure.tight_layout()
        figures.append(("Verification on LFW", figure))
    if "tpir/fpir" in results.curves:
        fpir, tpir = results.curves["tpir/fpir"]
        figure, axis = plt.subplots(figsize=(6, 3.6))
        keep = fpir > 0
        axis.semilogx(fpir[keep], tpir[keep])
        axis.set(
            xlabel="false positive identification rate",
            ylabel="true positive identification rate",
            title="Open-set identification, LFW",
        )
        axis.grid(True, which="both", alpha=0.3)
        figure.tight_layout()
        figures.append(("Identification", figure))
    for differential in results.differentials:
        if "duplicates excluded" in differential.attribute and "race × sex" not in differential.attribute:
            continue
        figure = _differential_figure(plt, differential)
        figures.append((differential.attribute, figure))
    return figures


def _differential_figure(plt, differential: Differential):
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
    groups = [g for g in differential.fmr if g.trials]
    rates = np.array([g.rate for g in groups])
    low = rates - np.array([g.ci_low for g in groups])
    high = np.array([g.ci_high for g in groups]) - rates
    left.bar(range(len(groups)), rates, yerr=[low, high], capsize=3, color="#5b8db8")
    left.set_xticks(range(len(groups)), [g.group for g in groups], rotation=40, ha="right", fontsize=8)
    left.set(ylabel="false match rate", title=f"FMR at {differential.threshold:.2f} (95% exact CI)")
    sweep_t = [t for t, _ in differential.sweep]
    sweep_p = [max(p, 1e-300) for _, p in differential.sweep]
    right.semilogy(sweep_t, sweep_p)
    right.axhline(0.05, color="red", lw=1, ls="--")
    right.set(xlabel="threshold", ylabel="p-value (groups differ)", title="Threshold sweep")
    figure.suptitle(differential.attribute, fontsize=10)
    figure.tight_layout()
    return figure


def _png(figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90)
    return base64.b64encode(buffer.getvalue()).decode()


HEADLINES = (
    ("LFW 10-fold accuracy", "lfw_verification", "accuracy_mean", "{:.2%}"),
    ("± sd", "lfw_verification", "accuracy_std", "{:.2%}"),
    ("TAR at FAR 1e-2", "lfw_verification", "tar_at_far_0.01", "{:.2%}"),
    ("rank-1 identification", "lfw_identification", "rank1", "{:.2%}"),
    ("TPIR at FPIR 1e-2", "lfw_identification", "tpir_at_fpir_0.01", "{:.2%}"),
    ("TPIR at FPIR 1e-3", "lfw_identification", "tpir_at_fpir_0.001", "{:.2%}"),
    ("FNIR at FPIR 0.003", "lfw_identification", "fnir_at_fpir_0.003", "{:.2%}"),
)


def comparison_rows(packs: list[StudyResults]) -> list[list[str]]:
    """One row per headline number, one column per pack (blank where a part was not run)."""
    rows = [["operating threshold", *(f"{r.numbers['operating_threshold']:.3f}" for r in packs)]]
    for label, section, key, fmt in HEADLINES:
        cells = []
        for r in packs:
            value = r.numbers.get(section, {})
            value = value.get(key) if isinstance(value, dict) else None
            cells.append(fmt.format(value) if isinstance(value, int | float) else "")
        if any(cells):
            rows.append([label, *cells])
    for attribute in dict.fromkeys(d.attribute for r in packs for d in r.differentials):
        cells = []
        for r in packs:
            match = [d for d in r.differentials if d.attribute == attribute]
            ratios = [v for v in match[0].ratios().values() if np.isfinite(v)] if match else []
            cells.append(f"{max(ratios):.0f}×" if ratios else "")
        rows.append([f"FMR spread, {attribute}", *cells])
    return rows


DATASETS = (
    "Data: LFW (deep-funnelled, 7,701 images, 4,281 people; sex labels) and UTKFace (4,887 aligned "
    "crops labelled by age, sex and race, no identities). Public research sets collected from the web, "
    "not a police population. Pairs share images, so intervals and p-values are optimistic."
)


def _table_page(plt, title: str, header: list[str], rows: list[list[str]], note: str = ""):
    """One A4-landscape PDF page holding a table (the PDF carries the tables, not only the plots)."""
    figure = plt.figure(figsize=(11.7, 8.3))
    figure.suptitle(title, fontsize=12, x=0.05, ha="left")
    if note:
        figure.text(0.05, 0.90, note, fontsize=8, wrap=True, va="top")
    axis = figure.add_axes((0.05, 0.05, 0.9, 0.78))
    axis.axis("off")
    table = axis.table(cellText=rows, colLabels=header, loc="upper left", cellLoc="right")
    table.auto_set_font_size(False)
    table.set_fontsize(8)
    table.auto_set_column_width(list(range(len(header))))
    return figure


def _table_pages(plt, packs: list[StudyResults]) -> Iterator[tuple[str, Any]]:
    yield (
        "Model packs side by side",
        _table_page(
            plt,
            "Accuracy and equity evaluation: model packs side by side",
            ["", *(r.pack for r in packs)],
            comparison_rows(packs),
            DATASETS,
        ),
    )
    for r in packs:
        for d in r.differentials:
            ratios = d.ratios()
            rows = [
                [
                    g.group,
                    f"{g.trials:,}",
                    f"{g.errors:,}",
                    f"{g.rate:.2e}",
                    f"{g.ci_low:.1e}–{g.ci_high:.1e}",
                    f"{ratios[g.group]:.1f}",
                ]
                for g in d.fmr
            ]
            note = (
                f"p = {d.fmr_p_value:.2g} that the groups share one rate; "
                + (
                    f"no significant difference from {d.non_significant_from}."
                    if d.non_significant_from is not None
                    else "significant across the whole sweep."
                )
                + (f" {d.excluded_pairs} likely duplicate pairs excluded." if d.excluded_pairs else "")
            )
            title = f"{r.pack}: {d.attribute}, FMR at {d.threshold:.2f}"
            header = ["group", "impostor pairs", "false matches", "FMR", "95% CI", "× lowest"]
            yield title, _table_page(plt, title, header, rows, note)


def pack_summary(results: StudyResults) -> dict[str, object]:
    summary = dict(results.numbers, pack=results.pack)
    summary["demographics"] = [
        {
            "attribute": d.attribute,
            "threshold": d.threshold,
            "fmr": {g.group: {"rate": g.rate, "ci": [g.ci_low, g.ci_high], "pairs": g.trials} for g in d.fmr},
            "fnmr": {
                g.group: {"rate": g.rate, "ci": [g.ci_low, g.ci_high], "pairs": g.trials} for g in d.fnmr
            },
            "ratio_to_lowest": d.ratios(),
            "p_value": d.fmr_p_value,
            "no_significant_difference_from": d.non_significant_from,
            "excluded_pairs": d.excluded_pairs,
        }
        for d in results.differentials
    ]
    return summary


def write_report(packs: list[StudyResults], folder: Path) -> dict[str, Path]:
    """evaluation.html, .pdf and .json for one or more packs run on the same protocol."""
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_pdf import PdfPages

    folder.mkdir(parents=True, exist_ok=True)
    per_pack = [_figures(r) for r in packs]
    shared = (
        [("DET curves by pack", _comparison_figure(plt, packs))]
        if len(packs) > 1 and all("lfw pairs" in r.curves for r in packs)
        else []
    )
    html = TEMPLATES.get_template("evaluation.html").render(
        packs=packs,
        comparison=comparison_rows(packs),
        numbers=[json.dumps(r.numbers, indent=2, default=float) for r in packs],
        ratios=[{d.attribute: d.ratios() for d in r.differentials} for r in packs],
        shared_figures=[(title, _png(figure)) for title, figure in shared],
        figures=[
            [(f"{r.pack}: {title}", _png(figure)) for title, figure in f]
            for r, f in zip(packs, per_pack, strict=True)
        ],
    )
    paths = {
        "html": folder / "evaluation.html",
        "pdf": folder / "evaluation.pdf",
        "json": folder / "evaluation.json",
    }
    paths["html"].write_text(html, encoding="utf-8")
    every = shared + [item for f in per_pack for item in f]
    with PdfPages(paths["pdf"]) as pdf:
        for _, figure in _table_pages(plt, packs):  # one at a time: tables can run to dozens of pages
            pdf.savefig(figure)
            plt.close(figure)
        for _, figure in every:
            pdf.savefig(figure)
    for _, figure in every:
        plt.close(figure)
    summary = {"packs": [pack_summary(r) for r in packs], "comparison": comparison_rows(packs)}
    paths["json"].write_text(json.dumps(summary, indent=2, default=float), encoding="utf-8")
    return paths


def write_trial_report(scores: list, scene, frames: int, folder: Path) -> dict[str, Path]:
    """trial.json and trial.png: TPIR and false alerts against watchlist size, tracked and frame by frame."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    for mode in dict.fromkeys(s.mode for s in scores):
        rows = sorted((s for s in scores if s.mode == mode), key=lambda s: s.watchlist_size)
        sizes = [s.watchlist_size for s in rows]
        left.semilogx(sizes, [s.tpir for s in rows], marker="o", label=mode)
        right.semilogx(sizes, [s.false_alerts_per_1000 for s in rows], marker="o", label=mode)
    left.set(
        xlabel="watchlist size", ylabel="TPIR (per passer-by)", title="Watchlist subjects found", ylim=(0, 1)
    )
    right.set(xlabel="watchlist size", ylabel="false alerts per 1,000 passers-by", title="False alerts")
    for axis in (left, right):
        axis.grid(True, which="both", alpha=0.3)
        axis.legend()
    figure.suptitle(
        f"Walk-past trial: faces {scene.start_width:.0f}→{scene.end_width:.0f} px, H.264 crf {scene.crf}"
    )
    figure.tight_layout()
    paths = {"json": folder / "trial.json", "png": folder / "trial.png"}
    figure.savefig(paths["png"], dpi=90)
    plt.close(figure)
    summary = {
        "scene": {**scene.__dict__, "frames": frames, "width": 1280, "height": 720},
        "runs": [s.as_dict() for s in scores],
    }
    paths["json"].write_text(json.dumps(summary, indent=2, default=float), encoding="utf-8")
    return paths
