"""Frames on the models' device (``live.frames_on_device``): each PyTorch image operation gives
OpenCV's pixels, and the engine on device frames raises the alerts it raises on arrays.

PyTorch runs the same code on the CPU as on a GPU, so these checks run here; NVDEC's frames
reaching it through DLPack are checked by ``benchmarks.gpu_check`` on a GPU machine.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import av
import cv2
import numpy as np
import pytest

from openlfr.demo.synthetic import ENROLLED_SUBJECT
from openlfr.errors import ConfigError, ProviderUnavailableError
from openlfr.live.alerts import CollectingSink
from openlfr.live.engine import CameraEngine
from openlfr.live.runner import LiveRunner
from openlfr.settings import load_settings
from openlfr.video import parse_source
from openlfr.video.frames import DecodedPixels, DevicePixels, Frame
from openlfr.video.sources import bgr_pixels, decoded_pixels
from openlfr.vision import FaceAnalyzer
from openlfr.vision.align import align_faces
from openlfr.vision.batching import MicroBatcher
from openlfr.vision.embedder import ArcFaceEmbedder
from openlfr.watchlist import face_crop

torch = pytest.importorskip("torch", reason="PyTorch is not installed (make test installs it)")
pytest.importorskip("onnx2torch", reason="onnx2torch is not installed")

from openlfr.video import device_pixels  # noqa: E402  (needs PyTorch)
from openlfr.vision import device  # noqa: E402

# every check on the CPU, and on a CUDA device too where there is one (docs/gpu's script runs this file)
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(scope="module", params=DEVICES)
def where(request) -> str:  # type: ignore[no-untyped-def]
    return request.param


def there(image: np.ndarray, where: str):  # type: ignore[no-untyped-def]
    return torch.from_numpy(np.ascontiguousarray(image)).to(where)


def grey_levels(a: np.ndarray, b: np.ndarray) -> tuple[float, int]:
    """Mean and largest absolute difference of two uint8 images."""
    difference = np.abs(a.astype(np.int16) - b.astype(np.int16))
    return float(difference.mean()), int(difference.max())


@pytest.fixture(scope="module")
def on_device(settings, where: str) -> FaceAnalyzer:  # type: ignore[no-untyped-def]
    """Both models in PyTorch in fp32, with frames going to their device."""
    runtime = settings.runtime.model_copy(
        update={"backend": "torch", "torch_device": where, "torch_fp16": False}
    )
    live = settings.live.model_copy(update={"frames_on_device": True})
    return FaceAnalyzer(settings.model_copy(update={"runtime": runtime, "live": live}))


def test_nv12_converts_as_opencv_and_swscale_do(players: np.ndarray, where: str) -> None:
    image = cv2.resize(players, (1110, 624))  # rows padded past the width
    frame = av.VideoFrame.from_ndarray(image, format="bgr24")
    nv12 = frame.reformat(format="nv12")
    assert nv12.planes[0].line_size > nv12.width
    luma, chroma = device_pixels.frame_planes(nv12)
    assert tuple(luma.shape) == (624, 1110) and tuple(chroma.shape) == (312, 555, 2)
    ours = device_pixels.nv12_to_bgr(luma.to(where), chroma.to(where)).cpu().numpy()
    assert grey_levels(device_pixels.decoded_to_bgr(nv12).numpy(), ours)[1] <= 1  # as a CPU frame's are
    assert ours.shape == image.shape and ours.dtype == np.uint8
    assert grey_levels(ours, image)[0] < 4  # and the photo survived the round trip
    mean, largest = grey_levels(ours, cv2.cvtColor(nv12.to_ndarray(), cv2.COLOR_YUV2BGR_NV12))
    assert mean < 0.6 and largest <= 2  # the same BT.601 arithmetic, rounded in fixed point by OpenCV
    # BT.709 and full range, against swscale, which follows the tags; on a smooth picture, since
    # swscale also interpolates chroma between rows where OpenCV and we repeat it
    smooth = av.VideoFrame.from_ndarray(cv2.GaussianBlur(image, (0, 0), 6), format="bgr24")
    for tag, value, other in (
        ("colorspace", 1, {"colorspace": 2}),
        ("color_range", 2, {"full_range": False}),
    ):
        tagged = smooth.reformat(format="nv12")
        setattr(tagged, tag, value)
        expected = tagged.to_ndarray(format="bgr24")
        planes = [plane.to(where) for plane in device_pixels.frame_planes(tagged)]
        mean, _ = grey_levels(
            device_pixels.nv12_to_bgr(*planes, tagged.colorspace, tagged.color_range == 2).cpu().numpy(),
            expected,
        )
        assert mean < 1.5, (tag, mean)  # swscale's own rounding: it is 1.2 from OpenCV for BT.601 too
        untagged = device_pixels.nv12_to_bgr(*planes, **other).cpu().numpy()  # type: ignore[arg-type]
        assert grey_levels(untagged, expected)[0] > mean + 1, tag  # the tag really changes the matrix


def test_odd_sized_frames_convert_whole(players: np.ndarray, where: str) -> None:
    image = cv2.GaussianBlur(cv2.resize(players, (101, 75)), (0, 0), 2)
    nv12 = av.VideoFrame.from_ndarray(image, format="bgr24").reformat(format="nv12")
    luma, chroma = (plane.to(where) for plane in device_pixels.frame_planes(nv12))
    assert tuple(chroma.shape) == (37, 50, 2)  # PyAV leaves out the odd last chroma row and column
    ours = device_pixels.nv12_to_bgr(luma, chroma).cpu().numpy()
    assert ours.shape == image.shape
    even = device_pixels.nv12_to_bgr(luma[:74, :100], chroma).cpu().numpy()
    assert np.array_equal(ours[:74, :100], even)  # the rest as it would be
    assert grey_levels(ours, image)[0] < 3  # and the picture survived (2.1 for a 100×74 frame)


def test_a_degenerate_face_warps_as_opencv_does(players: np.ndarray, where: str) -> None:
    collapsed = np.full((1, 5, 2), 40.0, np.float32)  # every landmark on one point: no similarity exists
    expected = align_faces(players, collapsed)
    assert np.array_equal(align_faces(there(players, where), collapsed).cpu().numpy(), expected)


def test_a_software_frame_stays_in_system_memory(players: np.ndarray) -> None:
    nv12 = av.VideoFrame.from_ndarray(players, format="bgr24").reformat(format="nv12")
    pixels = decoded_pixels(nv12)  # only NVDEC's CUDA frames stay on the device
    assert isinstance(pixels, DecodedPixels) and np.array_equal(pixels.host(), bgr_pixels(nv12))


@pytest.mark.parametrize("size", [(1920, 1080), (1280, 720), (1000, 700), (320, 200), (641, 479)])
def test_the_letterbox_is_the_detectors(analyzer: FaceAnalyzer, players, where: str, size) -> None:  # type: ignore[no-untyped-def]
    image = cv2.resize(players, size, interpolation=cv2.INTER_LINEAR)
    expected, scales = analyzer.detector.letterbox([image])
    ours, our_scales = analyzer.detector.letterbox([there(image, where)])
    assert isinstance(ours, torch.Tensor) and ours.device.type == where
    assert ours.shape == expected.shape and our_scales == scales
    mean, largest = grey_levels(ours.cpu().numpy(), expected)
    assert mean < 0.2 and largest <= 1, (mean, largest)  # the same averages, rounded apart


def test_aligned_crops_match_opencvs_and_give_the_same_templates(
    analyzer: FaceAnalyzer, players, where: str
) -> None:  # type: ignore[no-untyped-def]
    detections = analyzer.detect(players)
    assert len(detections) >= 5
    expected = align_faces(players, detections.landmarks)
    ours = align_faces(there(players, where), detections.landmarks).cpu()
    assert isinstance(ours, torch.Tensor) and ours.shape == expected.shape
    mean, largest = grey_levels(ours.numpy(), expected)
    assert mean < 0.5 and largest <= 3, (mean, largest)  # OpenCV interpolates in 1/32 pixel steps
    cosines = np.sum(analyzer.embedder.embed(ours.numpy()) * analyzer.embedder.embed(expected), axis=1)
    assert cosines.min() > 0.999
    box = detections.boxes[0]
    mean, _ = grey_levels(face_crop(there(players, where), box), face_crop(players, box))
    assert mean < 0.5  # the operator's crop, edges repeated


def test_faces_found_on_the_device_are_the_faces_found_in_arrays(on_device: FaceAnalyzer, players) -> None:  # type: ignore[no-untyped-def]
    frame = Frame(players, 0, 0.0, 0.0)
    pixels = on_device.pixels_of(frame)
    assert isinstance(pixels, torch.Tensor) and pixels.device.type == on_device.settings.runtime.torch_device
    on_tensor, on_array = on_device.detect(pixels), on_device.detect(players)
    assert len(on_tensor) == len(on_array) >= 5
    # near-equal scores may swap places, so each face is paired with its nearest
    nearest = np.abs(on_tensor.boxes[:, None] - on_array.boxes[None]).max(axis=2).argmin(axis=1)
    assert sorted(nearest) == list(range(len(on_array)))
    assert np.abs(on_tensor.boxes - on_array.boxes[nearest]).max() < 2.0  # pixels, on faces of 20 and up
    crops = on_device.align(pixels, on_tensor)
    assert isinstance(crops, torch.Tensor)
    templates = on_device.embedder.embed(crops)  # the crops go to the session as they are
    assert np.sum(templates * on_device.embedder.embed(crops.cpu().numpy()), axis=1).min() > 0.9999
    # the same people: landmarks a pixel apart move a tiny face's crop a lot, so faces of the
    # size the quality gate lets through
    expected = on_device.embedder.embed(on_device.align(players, on_array))[nearest]
    cosines = np.sum(templates * expected, axis=1)
    sizeable = (on_tensor.boxes[:, 2] - on_tensor.boxes[:, 0]) >= 40
    assert sizeable.sum() >= 5 and cosines[sizeable].min() > 0.99, cosines
    assert f"frames on {on_device.settings.runtime.torch_device}" in on_device.backend_summary()


def test_device_pixels_reach_system_memory_once_and_only_when_asked() -> None:
    tensor = torch.arange(2 * 3 * 3, dtype=torch.uint8).reshape(2, 3, 3)
    frame = Frame(DevicePixels(tensor), 0, 0.0, 0.0)
    assert frame.pixels._host is None  # type: ignore[union-attr]
    assert np.array_equal(frame.image, tensor.numpy()) and frame.image is frame.image


def test_the_engine_on_device_frames_alerts_for_the_enrolled_person_only(
    on_device: FaceAnalyzer, demo_gallery, demo_material, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    calls = {"resized": 0, "warp": 0}
    for name in calls:
        original = getattr(device, name)

        def counted(*args, _original=original, _name=name, **kwargs):  # type: ignore[no-untyped-def]
            calls[_name] += 1
            return _original(*args, **kwargs)

        monkeypatch.setattr(device, name, counted)
    sink = CollectingSink()
    source = parse_source(
        str(demo_material["video"]), lossless=True, **on_device.settings.live.source_options()
    )
    runner = LiveRunner({"cam": source}, on_device, demo_gallery, sink, on_device.settings.live)
    runner.start()
    assert runner.wait(180)
    runner.stop()
    status = runner.status()[0]
    assert [a.subject for a in sink.alerts] == [ENROLLED_SUBJECT]
    assert sink.alerts[0].probe_crop.shape == (160, 160, 3)
    metrics = status.metrics
    assert metrics["errors"] == 0 and metrics["tracks_ended_unmatched"] == metrics["tracks"] - 1
    assert calls["resized"] == metrics["frames"] and calls["warp"] > 0  # every frame went to the device


def test_nvdec_frames_stay_on_the_gpu_only_on_the_shared_context(monkeypatch) -> None:
    from openlfr.video import hwdecode

    assert hwdecode.hwaccel_for("cpu", "auto", keep_on_gpu=True) is None
    monkeypatch.setattr(hwdecode, "_refused", [])
    assert hwdecode.hwaccel_for("cuda", "auto", keep_on_gpu=True).is_hw_owned  # type: ignore[union-attr]
    assert not hwdecode.hwaccel_for("cuda", "auto").is_hw_owned  # type: ignore[union-attr]
    # once a decoder has been refused the shared context, each has its own, with no ordering
    # against PyTorch's stream: their frames are copied back
    monkeypatch.setattr(hwdecode, "_refused", ["[Errno 95] Operation not supported"])
    assert not hwdecode.hwaccel_for("cuda", "auto", keep_on_gpu=True).is_hw_owned  # type: ignore[union-attr]


def test_frames_on_device_are_refused_where_the_models_cannot_take_them(settings, demo_gallery) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match=r"frames_on_device needs runtime\.backend 'torch'"):
        load_settings(live={"frames_on_device": True})
    with pytest.raises(ConfigError, match=r"not cluster\.inference 'node'"):
        load_settings(
            runtime={"backend": "torch"}, live={"frames_on_device": True}, cluster={"inference": "node"}
        )
    live = settings.live.model_copy(update={"frames_on_device": True})
    onnx = FaceAnalyzer(settings.model_copy(update={"live": live}))  # past the check, as a test can go
    with pytest.raises(ProviderUnavailableError, match="local PyTorch sessions"):
        CameraEngine("cam", onnx, demo_gallery, CollectingSink())


def test_batches_of_device_crops_are_joined_and_mirrored_on_the_device(
    on_device: FaceAnalyzer, players
) -> None:  # type: ignore[no-untyped-def]
    crops = on_device.align(players, on_device.detect(players))[:4]
    fused = ArcFaceEmbedder(on_device.embedder.session, flip_fusion=True)  # type: ignore[arg-type]
    on_tensor, on_array = fused.embed(there(crops, str(on_device.frames_device))), fused.embed(crops)
    assert np.sum(on_tensor * on_array, axis=1).min() > 0.9999
    assert np.sum(on_tensor * on_device.embedder.embed(crops), axis=1).max() < 0.9999  # the mirror counted

    seen: list[object] = []

    def network(rows):  # type: ignore[no-untyped-def]
        seen.append(rows)
        return rows.numpy() * 2

    batcher = MicroBatcher(network, max_batch=6, max_wait=5.0)  # waits for all three callers
    # a camera's device frames meet an API request's photo, an array, in one batch
    inputs = [torch.full((2, 3), 0.0), np.full((2, 3), 1.0, np.float32), torch.full((2, 3), 2.0)]
    with ThreadPoolExecutor(3) as pool:
        outputs = list(pool.map(batcher, inputs))
    assert len(seen) == 1 and isinstance(seen[0], torch.Tensor) and seen[0].shape == (6, 3)
    for out, rows in zip(outputs, inputs, strict=True):
        assert np.array_equal(out, np.asarray(rows) * 2)
