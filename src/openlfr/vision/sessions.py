"""The model sessions the detector and the recognizer call, as two protocols instead of duck typing.

ONNX Runtime's ``InferenceSession`` is a ``FeedSession``: it takes the scaled float blob by input
name. openlfr's ``TorchSession`` (the same ONNX file in PyTorch) and a cluster node's shared
``RemoteSession`` are ``ImageSession``s: they take the uint8 images and scale them where the model
runs, which saves the CPU the float arithmetic and three quarters of the bytes to move.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeGuard, runtime_checkable

if TYPE_CHECKING:
    from openlfr.vision.tensors import InputScaling


@runtime_checkable
class FeedSession(Protocol):
    def get_inputs(self) -> Sequence[Any]: ...
    def get_outputs(self) -> Sequence[Any]: ...
    def get_providers(self) -> list[str]: ...
    def run(self, output_names: Sequence[str] | None, input_feed: dict[str, Any]) -> list[Any]: ...


@runtime_checkable
class ImageSession(Protocol):
    def get_inputs(self) -> Sequence[Any]: ...
    def get_outputs(self) -> Sequence[Any]: ...
    def get_providers(self) -> list[str]: ...
    def run_images(self, images: Any, scaling: InputScaling) -> list[Any]: ...


ModelSession = FeedSession | ImageSession


def feeds_images(session: ModelSession) -> TypeGuard[ImageSession]:
    """Whether ``session`` takes uint8 NHWC images and scales them itself."""
    return isinstance(session, ImageSession)


def model_name(model: Path | bytes) -> str:
    """How logs and errors name a model: its file, or a model rewritten in memory by its size."""
    return model.name if isinstance(model, Path) else f"in-memory model ({len(model):,} bytes)"
