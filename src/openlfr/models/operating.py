"""A pack's operating point applied to settings: its thresholds wherever the settings name none.

A cosine of 0.45 means one false match in about a million LFW impostor pairs with buffalo_s and
something else with another recognizer, and detectors state confidence on their own scales. So
each pack's manifest carries the thresholds its scores call for, and a threshold set in the
settings file or the environment always wins over them.
"""

from __future__ import annotations

from pydantic import BaseModel

from openlfr.errors import ModelPackError
from openlfr.models.pack import PackManifest, pack_manifest
from openlfr.settings import Settings

# operating point field → (settings section, field there)
PLACES = {
    "alert_threshold": ("live", "alert_threshold"),
    "verify_threshold": ("recognition", "verify_threshold"),
    "track_identity_threshold": ("live", "track_identity_threshold"),
    "track_identity_confirm": ("live", "track_identity_confirm"),
    "detector_score_threshold": ("detector", "score_threshold"),
    "turned_score_threshold": ("detector", "turned_score_threshold"),
    "track_high_score": ("live", "track_high_score"),
    "min_quality": ("quality", "min_quality"),
}


def for_pack(settings: Settings, manifest: PackManifest | None = None) -> Settings:
    """``settings`` with the pack's thresholds where none was set. A pack whose manifest cannot be
    read leaves them as they are (loading it will fail with the reason)."""
    if manifest is None:
        try:
            manifest = pack_manifest(settings.model_pack)
        except ModelPackError:
            return settings
    sections: dict[str, dict[str, float]] = {}
    for key, (section, field) in PLACES.items():
        if field not in getattr(settings, section).model_fields_set:
            sections.setdefault(section, {})[field] = getattr(manifest.operating, key)
    return settings.model_copy(
        update={name: _filled(getattr(settings, name), v) for name, v in sections.items()}
    )


def _filled(section: BaseModel, values: dict[str, float]) -> BaseModel:
    """A copy of a settings section with the pack's values, still counted as not set: a copy of the
    settings for another pack takes that pack's thresholds."""
    copy = section.model_copy(update=values)
    copy.model_fields_set.difference_update(values)
    return copy
