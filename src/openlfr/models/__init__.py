"""Model packs: locating, verifying and describing the ONNX files openlfr runs."""

from openlfr.models.pack import (
    BUFFALO_S,
    ModelPack,
    PackManifest,
    load_pack,
    sample_image_paths,
    sha256_file,
)

__all__ = ["BUFFALO_S", "ModelPack", "PackManifest", "load_pack", "sample_image_paths", "sha256_file"]
