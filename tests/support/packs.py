"""A model pack folder of one's own, as a user would make it (the built-in files, a manifest)."""

from __future__ import annotations

import shutil
from pathlib import Path

from openlfr.models import load_pack, sha256_file

MANIFEST = """
name = "my-pack"
licence = "test licence text"
[detector]
file = "det.onnx"
sha256 = "{det}"
[recognizer]
file = "rec.onnx"
sha256 = "{rec}"
input_std = 127.5
"""


def make_pack(folder: Path, corrupt: bool = False, operational: bool = False) -> Path:
    """The built-in files under a manifest of one's own; ``operational``: other weights, whose
    licence says they may be used operationally."""
    builtin = load_pack("buffalo_s")
    folder.mkdir()
    shutil.copy(builtin.detector_path, folder / "det.onnx")
    shutil.copy(builtin.recognizer_path, folder / "rec.onnx")
    if operational:  # weights of its own (one trailing byte each: for governance tests, never run)
        for name in ("det.onnx", "rec.onnx"):
            with (folder / name).open("ab") as handle:
                handle.write(b"\0")
    manifest = MANIFEST.format(det=sha256_file(folder / "det.onnx"), rec=sha256_file(folder / "rec.onnx"))
    if operational:
        manifest = 'operational_use = true\nlicence_name = "our own, for operations"\n' + manifest
    (folder / "manifest.toml").write_text(manifest)
    if corrupt:
        with (folder / "rec.onnx").open("r+b") as handle:
            handle.seek(1000)
            byte = handle.read(1)
            handle.seek(1000)
            handle.write(bytes([byte[0] ^ 0xFF]))
    return folder
