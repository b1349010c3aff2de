"""Tables of the main database. Columns named ``*_sealed`` hold AES-GCM blobs (biometric data).

Nothing biometric is ever stored in clear: reference images, templates and alert probe
crops are sealed under their deployment's data key, which lives in the separate key store.
Faces that match no one never reach any table.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, validates


def new_id() -> str:
    return uuid.uuid4().hex


def normal_reference(reference: str) -> str:
    """A subject's reference as stored: NFKC, invisible format characters (zero-width space…)
    dropped, spaces trimmed and collapsed, so that what looks the same is the same."""
    text = "".join(c for c in unicodedata.normalize("NFKC", reference) if unicodedata.category(c) != "Cf")
    return re.sub(r"\s+", " ", text).strip()


def reference_key(reference: str) -> str:
    """What makes a reference unique on its watchlist: its normal form, case folded ("AB 123"
    and "ab 123" name one person)."""
    return unicodedata.normalize("NFKC", normal_reference(reference).casefold())


class Base(DeclarativeBase):
    pass


class Deployment(Base):
    """One authorised use of live facial recognition: where, when, why, and under whose authority."""

    __tablename__ = "deployments"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    purpose: Mapped[str] = mapped_column(Text)
    location_name: Mapped[str] = mapped_column(String(200))
    area_description: Mapped[str] = mapped_column(Text, default="")
    planned_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    planned_end: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    cameras: Mapped[list] = mapped_column(JSON, default=list)
    field_officers: Mapped[list] = mapped_column(JSON, default=list)  # usernames who engage on its alerts
    authorising_officer: Mapped[str] = mapped_column(String(200))
    legal_basis: Mapped[str] = mapped_column(Text)
    dpia_reference: Mapped[str] = mapped_column(String(200))
    signage_confirmed: Mapped[bool] = mapped_column(Boolean, default=False)
    alert_threshold: Mapped[float] = mapped_column(Float)
    state: Mapped[str] = mapped_column(String(20), default="draft", index=True)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    authorised_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    authorised_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    watchlist_approved_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    watchlist_approved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    watchlist_purged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    purged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    faces_seen: Mapped[int] = mapped_column(Integer, default=0)
    tracks_seen: Mapped[int] = mapped_column(Integer, default=0)
    published: Mapped[bool] = mapped_column(Boolean, default=True)
    model_pack: Mapped[str | None] = mapped_column(String(200), nullable=True)  # fixed at go-live
    model_fingerprint: Mapped[str | None] = mapped_column(String(64), nullable=True)  # of its weights
    model_licence: Mapped[str | None] = mapped_column(Text, nullable=True)
    research_use: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    watchlist_summary: Mapped[dict | None] = mapped_column(JSON, nullable=True)

    subjects: Mapped[list[Subject]] = relationship(back_populates="deployment", cascade="all, delete-orphan")
    alerts: Mapped[list[AlertRecord]] = relationship(
        back_populates="deployment", cascade="all, delete-orphan"
    )


class Subject(Base):
    """A person on a deployment's watchlist, with why they are there and until when."""

    __tablename__ = "subjects"
    __table_args__ = (
        UniqueConstraint("deployment_id", "reference_key", name="uq_subjects_deployment_reference_key"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    deployment_id: Mapped[str] = mapped_column(ForeignKey("deployments.id"), index=True)
    reference: Mapped[str] = mapped_column(String(200))
    reference_key: Mapped[str] = mapped_column(Text)  # set with ``reference``; unique per deployment
    category: Mapped[str] = mapped_column(String(60))
    reason: Mapped[str] = mapped_column(Text)
    image_source: Mapped[str] = mapped_column(String(200))
    image_date: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    image_outdated: Mapped[bool] = mapped_column(Boolean, default=False)
    under_18: Mapped[bool] = mapped_column(Boolean, default=False)
    under_18_justification: Mapped[str | None] = mapped_column(Text, nullable=True)
    added_by: Mapped[str] = mapped_column(String(200))
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    quality: Mapped[float] = mapped_column(Float)
    template_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    reference_image_sealed: Mapped[bytes] = mapped_column(LargeBinary)

    deployment: Mapped[Deployment] = relationship(back_populates="subjects")

    @validates("reference")
    def _normalise(self, _: str, reference: str) -> str:
        """Every path that enrols (API, CLI, CSV import) stores the normal form and its key, so
        the database refuses a variant of a reference already on the watchlist."""
        reference = normal_reference(reference)[:200]
        self.reference_key = reference_key(reference)
        return reference


class AlertRecord(Base):
    """A possible match raised by the engine, and what people decided about it."""

    __tablename__ = "alerts"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    deployment_id: Mapped[str] = mapped_column(ForeignKey("deployments.id"), index=True)
    camera: Mapped[str] = mapped_column(String(200))
    subject_reference: Mapped[str] = mapped_column(String(200))
    score: Mapped[float] = mapped_column(Float)
    threshold: Mapped[float] = mapped_column(Float)
    candidates: Mapped[list] = mapped_column(JSON, default=list)
    track_id: Mapped[int] = mapped_column(Integer)
    supporting_faces: Mapped[int] = mapped_column(Integer)
    raised_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    latency_ms: Mapped[float] = mapped_column(Float)
    probe_sealed: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    decision: Mapped[str | None] = mapped_column(String(40), nullable=True)
    decided_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    outcome: Mapped[str | None] = mapped_column(String(40), nullable=True)
    outcome_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    outcome_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    retain_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    retained_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    sightings: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    last_seen_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    deployment: Mapped[Deployment] = relationship(back_populates="alerts")


class AlertSighting(Base):
    """One track of an alert's subject on its camera: the first, or a later one attached to it.
    The alert keeps the best sighting's score and probe crop; a sighting keeps no image."""

    __tablename__ = "alert_sightings"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    alert_id: Mapped[str] = mapped_column(ForeignKey("alerts.id"), index=True)
    seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    score: Mapped[float] = mapped_column(Float)
    track_id: Mapped[int] = mapped_column(Integer)
    supporting_faces: Mapped[int] = mapped_column(Integer)


class AuditEvent(Base):
    """One link of the audit hash chain. Never holds biometric data."""

    __tablename__ = "audit_events"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(60), index=True)
    object_type: Mapped[str] = mapped_column(String(40))
    object_id: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text, default="")
    details: Mapped[dict] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class KeyBase(DeclarativeBase):
    """The key store's own tables: kept in a separate database from everything above."""


class DataKey(KeyBase):
    __tablename__ = "data_keys"

    deployment_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    master_key_id: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class User(Base):
    """A person who signs in to the console or API, with exactly one role."""

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(40))
    password_hash: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class WebSession(Base):
    """A console sign-in. Only the SHA-256 of the cookie's token is stored."""

    __tablename__ = "web_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class ApiToken(Base):
    """A bearer token for an integration, acting as its owner. Only the SHA-256 is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class AlertFeedEntry(Base):
    """Ordered feed of alert events: what WebSocket clients and webhooks replay from (ids only)."""

    __tablename__ = "alert_feed"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alert_id: Mapped[str] = mapped_column(String(32), index=True)
    deployment_id: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(40))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ServiceState(Base):
    """Small named values the service must keep across restarts (such as the webhook's cursor)."""

    __tablename__ = "service_state"

    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
