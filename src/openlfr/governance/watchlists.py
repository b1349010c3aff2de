"""Watchlists built for one deployment, under rules enforced in code.

Rules (settings.governance): allowed categories; a maximum size; a subject under 18 only with
a recorded justification; reference images older than a set age are flagged. Every
reference image must show one face (others, if any, much smaller: see
``vision.analyzer.dominant_face``) with enough resolution and quality. A new
subject whose face already matches another subject at the deployment's threshold is
enrolled with a duplicate warning. Templates and reference crops are sealed at rest.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
from sqlalchemy import func, select

from openlfr.errors import (
    DatasetError,
    DuplicateError,
    FaceError,
    ImageError,
    LowQualityFaceError,
    MultipleFacesError,
    NoFaceError,
    NotFoundError,
    PolicyViolation,
)
from openlfr.governance.context import Governance, aware
from openlfr.reasons import is_given
from openlfr.store.models import Deployment, Subject, normal_reference, reference_key
from openlfr.vision.analyzer import Chosen
from openlfr.vision.images import encode_jpeg
from openlfr.vision.types import Face
from openlfr.watchlist import Gallery, face_crop


@dataclass(frozen=True)
class SubjectEntry:
    """A request to put one person on a watchlist."""

    reference: str
    category: str
    reason: str
    image: Path | bytes
    image_source: str
    image_date: datetime | None = None
    age: int | None = None
    under_18_justification: str | None = None
    expires_at: datetime | None = None


@dataclass
class Enrolment:
    subject_id: str
    warnings: list[str] = field(default_factory=list)
    quality: float | None = None
    inter_eye_px: float | None = None
    reference: str = ""
    line: int | None = None  # of an imported CSV


def _check_rules(gov: Governance, session, deployment: Deployment, entry: SubjectEntry) -> list[str]:
    rules = gov.settings.governance
    if deployment.state not in ("draft", "authorised"):
        raise PolicyViolation(f"deployment is {deployment.state}; its watchlist can no longer change")
    if entry.category not in rules.allowed_categories:
        raise PolicyViolation(
            f"category {entry.category!r} is not allowed (allowed: {', '.join(rules.allowed_categories)})"
        )
    for name in ("reference", "reason", "image_source"):
        if not str(getattr(entry, name)).strip():
            raise PolicyViolation(f"every subject needs a {name.replace('_', ' ')}")
    size = session.scalar(
        select(func.count()).select_from(Subject).where(Subject.deployment_id == deployment.id)
    )
    if size >= rules.max_watchlist_size:
        raise PolicyViolation(f"the watchlist is full ({rules.max_watchlist_size} subjects)")
    if entry.age is not None and entry.age < 18 and not (entry.under_18_justification or "").strip():
        raise PolicyViolation(f"{entry.reference}: a subject under 18 needs a recorded justification")
    duplicate_reference = session.scalar(
        select(Subject.id).where(
            Subject.deployment_id == deployment.id, Subject.reference_key == reference_key(entry.reference)
        )
    )
    if duplicate_reference:
        raise PolicyViolation(f"{entry.reference} is already on this watchlist")
    warnings = []
    if entry.image_date is not None and gov.now() - aware(entry.image_date) > timedelta(
        days=rules.max_image_age_days
    ):
        warnings.append(f"{entry.reference}: reference image is older than {rules.max_image_age_days} days")
    return warnings


def _enrolment_face(gov: Governance, reference: str, image: np.ndarray) -> Chosen:
    """The face a reference image is of (its only face, or one clearly dominant), checked against
    the enrolment rules; the typed error of the first rule it breaks, named by ``reference``."""
    chosen = gov.analyzer.subject_face(image, label=reference, hint="crop the picture to the subject")
    quality, rules = chosen.face.quality, gov.settings.governance
    if quality.inter_eye < rules.enrol_min_inter_eye:
        raise LowQualityFaceError(
            f"{reference}: {quality.inter_eye:.0f} px between the eyes, "
            f"at least {rules.enrol_min_inter_eye:.0f} needed"
        )
    if quality.score < rules.enrol_min_quality:
        raise LowQualityFaceError(
            f"{reference}: quality {quality.score:.2f} is below {rules.enrol_min_quality:.2f}"
        )
    if chosen.face.score < rules.enrol_min_detector_score:
        raise LowQualityFaceError(
            f"{reference}: the detector is only {chosen.face.score:.2f} sure this is a face "
            f"(at least {rules.enrol_min_detector_score:.2f} needed for a reference image)"
        )
    return chosen


def assess_reference(gov: Governance, image: Path | bytes, label: str = "the photo") -> dict:
    """Quality feedback on a candidate reference image before anyone enrols it (nothing is stored)."""
    try:
        chosen = _enrolment_face(gov, label, gov.analyzer.load(image))
    except FaceError as exc:
        faces = exc.faces if isinstance(exc, MultipleFacesError) else 0 if isinstance(exc, NoFaceError) else 1
        return {"faces": faces, "usable": False, "problem": str(exc)}
    face = chosen.face
    return {
        "faces": 1 + len(chosen.others),
        "quality": round(face.quality.score, 3),
        "inter_eye_px": round(face.quality.inter_eye, 1),
        "found_by": face.found_by,
        "usable": True,
        "problem": None,
    }


def reference_jpeg(gov: Governance, subject_id: str, actor: str, reason: str) -> bytes:
    """A subject's reference crop, decrypted for a person to look at (audited)."""
    with gov.store.session() as session:
        subject = gov.get(session, Subject, subject_id)
        jpeg = gov.store.open(
            subject.deployment_id, subject.reference_image_sealed, f"reference:{subject.id}"
        )
        gov.audit(session, actor, "subject.view_reference", subject, reason, sealed_for=subject.deployment_id)
    return jpeg


def find_subject(gov: Governance, deployment_id: str, reference: str) -> str:
    """The id of the subject with this reference on the deployment's watchlist."""
    with gov.store.session() as session:
        subject_id = session.scalar(
            select(Subject.id).where(
                Subject.deployment_id == deployment_id, Subject.reference_key == reference_key(reference)
            )
        )
    if subject_id is None:
        raise NotFoundError(f"{reference} is no longer on the watchlist (purged or removed)")
    return subject_id


def list_subjects(gov: Governance, deployment_id: str) -> list[Subject]:
    with gov.store.session() as session:
        gov.get(session, Deployment, deployment_id)
        return list(
            session.scalars(
                select(Subject).where(Subject.deployment_id == deployment_id).order_by(Subject.added_at)
            )
        )


def add_subject(gov: Governance, deployment_id: str, entry: SubjectEntry, actor: str) -> Enrolment:
    """Check the rules and the image, then enrol; a change after approval voids the approval."""
    with gov.store.session() as session:
        deployment = gov.get(session, Deployment, deployment_id)
        warnings = _check_rules(gov, session, deployment, entry)
    image = gov.analyzer.load(entry.image)
    chosen = _enrolment_face(gov, f"{entry.reference}'s reference image", image)
    face = chosen.face
    if chosen.others:
        warnings.append(
            f"{entry.reference}: {len(chosen.others)} smaller face(s) in the reference image were left aside"
        )
    assert face.embedding is not None  # enrolment analyses with embed=True
    template = face.embedding.astype(np.float32)
    existing = load_gallery(gov, deployment_id, actor, reason="duplicate check at enrolment", quiet=True)
    if len(existing):
        best = existing.search(template[None], k=1)[0][0]
        if best.score >= deployment.alert_threshold:
            warnings.append(
                f"{entry.reference}: face already matches subject {best.subject} (score {best.score:.2f})"
            )
    jpeg = encode_jpeg(face_crop(image, face.box, size=200))
    try:
        return _store_subject(gov, deployment_id, entry, actor, face, template, jpeg, warnings)
    except DuplicateError:  # enrolled at the same moment by someone else: the database kept one
        raise PolicyViolation(f"{entry.reference} is already on this watchlist") from None


def _store_subject(
    gov: Governance,
    deployment_id: str,
    entry: SubjectEntry,
    actor: str,
    face: Face,
    template: np.ndarray,
    jpeg: bytes,
    warnings: list[str],
) -> Enrolment:
    """The subject's row, sealed template and reference crop, in one transaction, rules checked again."""
    with gov.store.session() as session:
        deployment = gov.get(session, Deployment, deployment_id)
        _check_rules(gov, session, deployment, entry)
        subject = Subject(
            deployment_id=deployment_id,
            reference=entry.reference,
            category=entry.category,
            reason=entry.reason,
            image_source=entry.image_source,
            image_date=aware(entry.image_date),
            image_outdated=any("older than" in w for w in warnings),
            under_18=entry.age is not None and entry.age < 18,
            under_18_justification=entry.under_18_justification,
            added_by=actor,
            added_at=gov.now(),
            expires_at=aware(entry.expires_at) or aware(deployment.planned_end),
            quality=face.quality.score,
            template_sealed=b"",
            reference_image_sealed=b"",
        )
        session.add(subject)
        session.flush()
        subject.template_sealed = gov.store.seal(deployment_id, template.tobytes(), f"template:{subject.id}")
        subject.reference_image_sealed = gov.store.seal(deployment_id, jpeg, f"reference:{subject.id}")
        if deployment.watchlist_approved_at is not None:
            deployment.watchlist_approved_at = deployment.watchlist_approved_by = None
            warnings.append("the watchlist changed after approval: it must be approved again")
        gov.audit(
            session,
            actor,
            "subject.add",
            subject,
            entry.reason,
            sealed_for=deployment_id,
            personal={"reference": entry.reference, "warnings": warnings},
            category=entry.category,
        )
        return Enrolment(subject.id, warnings, face.quality.score, face.quality.inter_eye)


def remove_subject(gov: Governance, subject_id: str, actor: str, reason: str) -> None:
    """Withdraw a subject for a stated reason: the row, its sealed image and template go at once."""
    if not is_given(reason):
        raise PolicyViolation("removing a subject needs a reason")
    with gov.store.session() as session:
        subject = gov.get(session, Subject, subject_id)
        gov.audit(session, actor, "subject.remove", subject, reason, sealed_for=subject.deployment_id)
        session.delete(subject)


def load_gallery(
    gov: Governance, deployment_id: str, actor: str, reason: str, quiet: bool = False
) -> Gallery:
    """Decrypt the deployment's unexpired templates into a gallery (an audited read of biometric data)."""
    gallery = Gallery(gov.analyzer.embedder.dimension)
    with gov.store.session() as session:
        deployment = gov.get(session, Deployment, deployment_id)
        subjects = session.scalars(
            select(Subject).where(Subject.deployment_id == deployment_id).order_by(Subject.added_at)
        ).all()
        now = gov.now()
        for subject in subjects:
            if aware(subject.expires_at) < now:
                continue
            template = np.frombuffer(
                gov.store.open(deployment_id, subject.template_sealed, f"template:{subject.id}"), np.float32
            )
            jpeg = gov.store.open(deployment_id, subject.reference_image_sealed, f"reference:{subject.id}")
            reference = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
            gallery.add(subject.reference, template, reference)
        if not quiet:
            gov.audit(session, actor, "watchlist.read", deployment, reason, subjects=len(gallery))
    return gallery


def active_references(gov: Governance, deployment_id: str) -> frozenset[str]:
    """The references a deployment may match now: on its watchlist and not expired."""
    now = gov.now()
    with gov.store.session() as session:
        rows = session.execute(
            select(Subject.reference, Subject.expires_at).where(Subject.deployment_id == deployment_id)
        ).all()
    return frozenset(reference for reference, expires in rows if aware(expires) >= now)


class WatchlistSync:
    """Keeps the gallery of a running deployment equal to its watchlist now: a removed or expired
    subject leaves it at the next ``check``, and a new one (possible only after a re-approval)
    comes in with a fresh, audited read of the watchlist."""

    def __init__(self, gov: Governance, deployment_id: str, gallery: Gallery, actor: str) -> None:
        self.gov, self.deployment_id, self.gallery, self.actor = gov, deployment_id, gallery, actor

    def check(self) -> bool:
        """Bring the gallery up to date; True if it changed (it may be a new object then)."""
        active, current = active_references(self.gov, self.deployment_id), set(self.gallery.subjects)
        if active == current:
            return False
        if active - current:
            self.gallery = load_gallery(self.gov, self.deployment_id, self.actor, "the watchlist changed")
        for subject in current - active:
            if subject in self.gallery.subjects:
                self.gallery.remove(subject)
        return True


def import_csv(
    gov: Governance, deployment_id: str, csv_path: Path, actor: str
) -> tuple[list[Enrolment], list[tuple[int, str]]]:
    """Enrol every row of a CSV (reference, category, reason, image, image_source[, image_date, age,
    justification, expires_at]); image paths are relative to the CSV. Bad rows are reported, not fatal."""
    try:
        text = csv_path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{csv_path}: cannot read it as CSV ({exc})") from None
    return import_rows(gov, deployment_id, text, lambda name: csv_path.parent / name, actor, str(csv_path))


def import_rows(
    gov: Governance,
    deployment_id: str,
    text: str,
    image_of: Callable[[str], Path | bytes],
    actor: str,
    label: str = "the CSV",
) -> tuple[list[Enrolment], list[tuple[int, str]]]:
    """Enrol every row of CSV ``text``, each photo found by ``image_of`` from the row's ``image``
    (a file beside the CSV, or an upload held in memory). Bad rows are reported, not fatal."""
    required = {"reference", "category", "reason", "image", "image_source"}
    try:
        rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    except csv.Error as exc:
        raise DatasetError(f"{label}: cannot read it as CSV ({exc})") from None
    if not rows or not required <= set(rows[0]):
        raise DatasetError(f"{label}: needs the columns {', '.join(sorted(required))}")
    enrolled, rejected = [], []
    for line, row in enumerate(rows, start=2):
        try:
            entry = SubjectEntry(
                reference=normal_reference(row["reference"] or ""),
                category=(row["category"] or "").strip(),
                reason=(row["reason"] or "").strip(),
                image=image_of((row["image"] or "").strip()),
                image_source=row["image_source"].strip(),
                image_date=_date(row.get("image_date")),
                age=int(row["age"]) if (row.get("age") or "").strip() else None,
                under_18_justification=(row.get("justification") or "").strip() or None,
                expires_at=_date(row.get("expires_at")),
            )
            enrolled.append(
                replace(add_subject(gov, deployment_id, entry, actor), reference=entry.reference, line=line)
            )
        except (
            PolicyViolation,
            ImageError,
            NoFaceError,
            MultipleFacesError,
            LowQualityFaceError,
            ValueError,
        ) as exc:
            rejected.append((line, str(exc)))
    return enrolled, rejected


def _date(value: str | None) -> datetime | None:
    value = (value or "").strip()
    return aware(datetime.fromisoformat(value)) if value else None
