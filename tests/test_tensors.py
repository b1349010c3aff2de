"""Network inputs from uint8 images: the values each model's contract asks for, in either colour order."""

from __future__ import annotations

import numpy as np
import pytest

from openlfr.vision.sessions import feeds_images
from openlfr.vision.tensors import InputScaling, to_nchw


def expected_blob(images: np.ndarray, mean: float, std: float, bgr_to_rgb: bool) -> np.ndarray:
    ordered = images[..., ::-1] if bgr_to_rgb else images
    return np.transpose((ordered.astype(np.float64) - mean) / std, (0, 3, 1, 2))


@pytest.mark.parametrize("bgr_to_rgb", [True, False])
@pytest.mark.parametrize("shape", [(3, 112, 112, 3), (2, 384, 640, 3), (1, 7, 5, 3)])
def test_to_nchw_scales_every_pixel_into_its_colour_plane(shape, bgr_to_rgb) -> None:  # type: ignore[no-untyped-def]
    images = np.random.default_rng(7).integers(0, 256, shape, dtype=np.uint8)
    blob = to_nchw(images, 127.5, 128.0, bgr_to_rgb)
    assert blob.dtype == np.float32 and blob.shape == (shape[0], 3, shape[1], shape[2])
    np.testing.assert_allclose(blob, expected_blob(images, 127.5, 128.0, bgr_to_rgb), rtol=0, atol=1e-6)
    # a pure blue pixel lands in the last plane for RGB networks, the first for BGR ones
    blue = np.zeros((1, 2, 2, 3), np.uint8)
    blue[..., 0] = 255
    planes = to_nchw(blue, 0.0, 255.0, bgr_to_rgb)[0, :, 0, 0]
    assert planes.tolist() == ([0.0, 0.0, 1.0] if bgr_to_rgb else [1.0, 0.0, 0.0])


def test_to_nchw_takes_views_and_empty_batches() -> None:
    images = np.random.default_rng(8).integers(0, 256, (4, 16, 16, 3), dtype=np.uint8)
    mirrored = images[:, :, ::-1]  # flip fusion hands over a negative-stride view
    np.testing.assert_allclose(
        to_nchw(mirrored, 127.5, 127.5), expected_blob(mirrored, 127.5, 127.5, True), atol=1e-6
    )
    assert to_nchw(images[:0], 127.5, 127.5).shape == (0, 3, 16, 16)


def test_only_sessions_with_run_images_are_fed_uint8_images() -> None:
    class Described:
        def get_inputs(self) -> list:
            return []

        def get_outputs(self) -> list:
            return []

        def get_providers(self) -> list[str]:
            return ["test"]

    class Scales(Described):
        def run_images(self, images: np.ndarray, scaling: InputScaling) -> list[np.ndarray]:
            return [scaling.blob(images)]

    class TakesBlobs(Described):
        run_images = None

        def run(self, names: object, feeds: dict) -> list:
            return []

    assert feeds_images(Scales()) and not feeds_images(TakesBlobs()) and not feeds_images(object())
