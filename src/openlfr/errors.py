"""Typed errors a user can cause, each with its own CLI exit code.

This module imports nothing, so every layer (vision, models, live, store...) can raise
these without breaking the import rules. The CLI turns them into one clear line and the
exit code below; nothing a user does should ever end in a traceback.
"""

from __future__ import annotations


class OpenLFRError(Exception):
    """Base class: a problem the user can fix, with a message that says how."""

    exit_code = 1


class ConfigError(OpenLFRError):
    """A setting or a settings file is invalid."""

    exit_code = 3


class ModelPackError(OpenLFRError):
    """A model pack is missing, incomplete, or fails its checksum."""

    exit_code = 4


class ProviderUnavailableError(OpenLFRError):
    """The inference provider that was asked for cannot run here (no silent CPU fallback)."""

    exit_code = 5


class ImageError(OpenLFRError):
    """Base class for images that cannot be used."""

    exit_code = 10


class ImageNotFoundError(ImageError):
    """The path does not exist or is not a readable file."""

    exit_code = 11


class EmptyImageError(ImageError):
    """The file has zero bytes."""

    exit_code = 12


class ImageDecodeError(ImageError):
    """The bytes are not an image we can decode (wrong format, truncated, corrupt)."""

    exit_code = 13


class VideoDecodeError(ImageError):
    """The bytes are not a video we can decode (wrong format, truncated, corrupt)."""

    exit_code = 13


class ImageTooLargeError(ImageError):
    """The image has more pixels than allowed: refused before decoding (decompression bomb guard)."""

    exit_code = 14


class FaceError(OpenLFRError):
    """Base class for images whose faces do not fit the request."""

    exit_code = 20


class NoFaceError(FaceError):
    """No face passed detection (and the quality gate, where one applies)."""

    exit_code = 21


class MultipleFacesError(FaceError):
    """Several faces where one is needed, and none clearly the one meant."""

    exit_code = 22

    def __init__(self, message: str, faces: int = 2) -> None:
        super().__init__(message)
        self.faces = faces


class LowQualityFaceError(FaceError):
    """A face was found but fails the quality gate."""

    exit_code = 23


class CameraError(OpenLFRError):
    """No camera could run (every source failed)."""

    exit_code = 40


class StoreError(OpenLFRError):
    """The database is unreachable or refused a write."""

    exit_code = 50


class EncryptionKeyError(OpenLFRError):
    """A key is missing or wrong, or encrypted data was altered."""

    exit_code = 51


class PolicyViolation(OpenLFRError):
    """A governance rule refuses the action (deployment not live, watchlist rule, retention...)."""

    exit_code = 52


class DuplicateError(PolicyViolation):
    """What was to be stored already exists (the database refused a second one)."""


class NotFoundError(OpenLFRError):
    """No such deployment, subject or alert."""

    exit_code = 53


class NotSignedInError(OpenLFRError):
    """Nobody is signed in at this terminal, or the sign-in has ended."""

    exit_code = 54


class NotAllowedError(OpenLFRError):
    """The signed-in user's role may not do this."""

    exit_code = 55


class AuditChainBroken(OpenLFRError):
    """The audit trail's hash chain does not verify: a record was altered, removed or reordered."""

    exit_code = 60


class DatasetError(OpenLFRError):
    """An evaluation dataset or protocol file is missing or malformed."""

    exit_code = 30
