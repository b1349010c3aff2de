"""Cross-camera batching: concurrent callers share forward passes and each gets exactly its rows."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from openlfr.vision import FaceAnalyzer
from openlfr.vision.batching import MicroBatcher
from openlfr.vision.embedder import ArcFaceEmbedder
from openlfr.vision.sessions import feeds_images


def call_together(function, inputs: list[np.ndarray]) -> list[object]:  # type: ignore[no-untyped-def]
    """Call ``function`` on each input from its own thread, all released at once."""
    barrier = threading.Barrier(len(inputs))
    results: list[object] = [None] * len(inputs)

    def worker(i: int) -> None:
        barrier.wait()
        try:
            results[i] = function(inputs[i])
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(inputs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


def test_concurrent_calls_share_batches_and_get_their_own_rows() -> None:
    sizes: list[int] = []

    def network(rows: np.ndarray) -> np.ndarray:
        sizes.append(len(rows))
        return rows * 10

    batcher = MicroBatcher(network, max_batch=1000, max_wait=0.3)
    inputs = [np.full((i % 3 + 1, 4), i, np.float32) for i in range(12)]
    results = call_together(batcher, inputs)
    for i, result in enumerate(results):
        assert isinstance(result, np.ndarray)
        np.testing.assert_array_equal(result, inputs[i] * 10)
    assert sum(sizes) == sum(len(x) for x in inputs)
    assert len(sizes) < len(inputs), f"twelve calls should share passes, got batches {sizes}"
    assert batcher.mean_batch > 1


def test_a_full_batch_runs_without_waiting_for_the_deadline() -> None:
    batcher = MicroBatcher(lambda rows: rows + 1, max_batch=4, max_wait=30.0)
    results = call_together(batcher, [np.zeros((2, 3)), np.ones((2, 3))])  # 4 rows: full at once
    assert sorted(float(r[0, 0]) for r in results) == [1.0, 2.0]  # type: ignore[index]


def test_an_error_reaches_every_caller_of_the_batch() -> None:
    def broken(rows: np.ndarray) -> np.ndarray:
        raise RuntimeError("device lost")

    results = call_together(MicroBatcher(broken, max_wait=0.3), [np.zeros((1, 2))] * 4)
    assert all(isinstance(r, RuntimeError) and "device lost" in str(r) for r in results)


def test_every_output_of_a_multi_output_network_is_split_per_caller() -> None:
    batcher = MicroBatcher(lambda rows: [rows * 2, rows[:, :1] + 1], max_batch=1000, max_wait=0.3)
    inputs = [np.full((i + 1, 3), i, np.float32) for i in range(5)]
    for i, result in enumerate(call_together(batcher, inputs)):
        assert isinstance(result, list) and len(result) == 2
        np.testing.assert_array_equal(result[0], inputs[i] * 2)
        np.testing.assert_array_equal(result[1], inputs[i][:, :1] + 1)
    assert batcher.batches < len(inputs)


def test_cameras_sharing_a_detector_get_their_own_faces(
    analyzer: FaceAnalyzer, players: np.ndarray, yaoming: np.ndarray, astronaut: np.ndarray
) -> None:
    """Frames of one network size meet in one batch; another size gets its own; no face moves."""
    frames = [players, players[:, ::-1].copy(), players[::-1].copy(), yaoming, astronaut]
    alone = [analyzer.detect(frame) for frame in frames]
    shared = analyzer.detector_on(analyzer.detector.session, batch_wait=0.5)
    results = call_together(shared.detect, frames)
    for expected, got in zip(alone, results, strict=True):
        assert not isinstance(got, Exception), got
        assert len(got) == len(expected) > 0  # type: ignore[arg-type]
        np.testing.assert_allclose(np.sort(got.boxes, axis=0), np.sort(expected.boxes, axis=0), atol=1e-2)  # type: ignore[union-attr]
    sizes = {shared.network_size([frame]) for frame in frames}
    assert len(shared.batchers) == len(sizes) < len(frames)
    batches = sum(b.batches for b in shared.batchers.values())
    assert batches < len(frames), "the three frames of the team photo should share one forward pass"


def test_batched_recognizer_gives_the_same_templates_as_one_by_one(
    analyzer: FaceAnalyzer, players: np.ndarray
) -> None:
    crops = analyzer.align(players, analyzer.detect(players))
    assert len(crops) >= 3
    alone = [analyzer.embedder.embed(crops[i : i + 1])[0] for i in range(len(crops))]
    shared = ArcFaceEmbedder(analyzer.embedder.session, batch_wait=0.3)
    results = call_together(shared.embed, [crops[i : i + 1] for i in range(len(crops))])
    for expected, got in zip(alone, results, strict=True):
        assert isinstance(got, np.ndarray) and got.shape == (1, 512)
        assert float(got[0] @ expected) > 0.9999
    assert shared.batcher is not None and shared.batcher.batches < len(crops)


@pytest.mark.parametrize("wait_ms, batching", [(None, False), (0.0, False), (5.0, True)])
def test_batching_is_off_on_the_cpu_unless_asked_for(wait_ms, batching, settings) -> None:  # type: ignore[no-untyped-def]
    update = {"batch_wait_ms": wait_ms}
    analyzer = FaceAnalyzer(
        settings.model_copy(
            update={
                "recognition": settings.recognition.model_copy(update=update),
                "detector": settings.detector.model_copy(update=update),
            }
        )
    )
    assert (analyzer.embedder.batcher is not None) == batching
    assert (analyzer.detector.batch_wait > 0) == batching
    assert analyzer.backend_summary().count("batching off") == (0 if batching else 2)


def test_the_torch_backend_never_falls_back_to_the_cpu_silently(settings) -> None:  # type: ignore[no-untyped-def]
    from openlfr.errors import ProviderUnavailableError

    runtime = settings.runtime.model_copy(update={"backend": "torch", "torch_device": "cuda"})
    analyzer = FaceAnalyzer(settings.model_copy(update={"runtime": runtime}))
    with pytest.raises(ProviderUnavailableError, match=r"torch|CUDA"):
        analyzer.backend_summary()


def test_cuda_graphs_are_refused_on_the_cpu_with_the_reason(settings) -> None:  # type: ignore[no-untyped-def]
    """A graph needs CUDA; asking for one on the CPU is a configuration error, not a quiet no-op."""
    pytest.importorskip("torch", reason="PyTorch is not installed (make test installs it)")
    pytest.importorskip("onnx2torch", reason="onnx2torch is not installed")
    from openlfr.errors import ProviderUnavailableError

    update = {"backend": "torch", "torch_device": "cpu", "torch_fp16": False, "torch_cuda_graphs": True}
    runtime = settings.runtime.model_copy(update=update)
    analyzer = FaceAnalyzer(settings.model_copy(update={"runtime": runtime}))
    with pytest.raises(ProviderUnavailableError, match=r"torch_cuda_graphs needs a CUDA device"):
        analyzer.backend_summary()


def test_a_model_whose_graph_cannot_be_captured_runs_eagerly_and_says_so(
    analyzer: FaceAnalyzer, players: np.ndarray, caplog: pytest.LogCaptureFixture
) -> None:
    """Capture fails for real here (no CUDA); the call must still answer, warn and stop claiming graphs."""
    pytest.importorskip("torch", reason="PyTorch is not installed (make test installs it)")
    pytest.importorskip("onnx2torch", reason="onnx2torch is not installed")
    from openlfr.vision.torch_backend import TorchSession

    session = TorchSession(analyzer.pack.recognizer_path, "cpu", fp16=False)
    crops = analyzer.align(players, analyzer.detect(players))[:4]
    eager = session.run_images(crops, analyzer.embedder.scaling)[0]
    session._graphs = {}  # as ``torch_cuda_graphs`` sets it up on a GPU
    assert session.get_providers()[0].endswith(":cuda-graphs")
    with caplog.at_level("WARNING", logger="openlfr.vision.torch_backend"):
        fallback = session.run_images(crops, analyzer.embedder.scaling)[0]
    assert "w600k_mbf.onnx: no CUDA graph" in caplog.text and "running it eagerly" in caplog.text
    assert session.get_providers() == ["torch:cpu:fp32"]
    np.testing.assert_allclose(fallback, eager, atol=1e-5)


def test_a_model_pytorch_cannot_take_is_refused_with_the_way_out(tmp_path) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("torch", reason="PyTorch is not installed (make test installs it)")
    pytest.importorskip("onnx2torch", reason="onnx2torch is not installed")
    from openlfr.errors import ModelPackError
    from openlfr.vision.torch_backend import TorchSession

    damaged = tmp_path / "recognizer.onnx"
    damaged.write_bytes(b"\x08\x07 this is not a protobuf" * 40)
    with pytest.raises(ModelPackError, match=r"cannot convert model recognizer.onnx .*'onnxruntime'"):
        TorchSession(damaged, "cpu", fp16=False)


def test_the_start_line_names_where_each_model_runs(analyzer: FaceAnalyzer) -> None:
    summary = analyzer.backend_summary()
    assert "detector on CPUExecutionProvider" in summary and "recognizer on CPUExecutionProvider" in summary
    assert "batching off" in summary


def test_torch_on_the_cpu_agrees_with_onnx_runtime(settings, analyzer: FaceAnalyzer, players) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("torch", reason="PyTorch is not installed (make test installs it)")
    pytest.importorskip("onnx2torch", reason="onnx2torch is not installed")
    from openlfr.vision.torch_backend import TorchSession

    crops = analyzer.align(players, analyzer.detect(players))
    torch_embedder = ArcFaceEmbedder(TorchSession(analyzer.pack.recognizer_path, "cpu", fp16=False))  # type: ignore[arg-type]
    cosines = np.sum(torch_embedder.embed(crops) * analyzer.embedder.embed(crops), axis=1)
    assert cosines.min() > 0.999


def test_a_gpu_session_pads_batches_and_returns_only_the_real_rows(analyzer: FaceAnalyzer, players) -> None:  # type: ignore[no-untyped-def]
    """On a GPU a batch of 3 runs as 4 (few shapes for cuDNN to plan); the padding must not leak."""
    pytest.importorskip("torch", reason="PyTorch is not installed (make test installs it)")
    pytest.importorskip("onnx2torch", reason="onnx2torch is not installed")
    from openlfr.vision.torch_backend import TorchSession, padded_size

    sizes = (0, 1, 2, 3, 5, 16, 17, 256, 257, 1025)
    assert [padded_size(n) for n in sizes] == [1, 1, 2, 4, 8, 16, 32, 256, 512, 1280]
    session = TorchSession(analyzer.pack.recognizer_path, "cpu", fp16=False)
    crops = analyzer.align(players, analyzer.detect(players))[:3]
    scaling = analyzer.embedder.scaling
    exact = session.run(None, {session.get_inputs()[0].name: scaling.blob(crops)})[0]  # no worker, no padding
    session._worker = ThreadPoolExecutor(1)  # as on a GPU: through the worker thread, padded to 4
    padded = session.run(None, {session.get_inputs()[0].name: scaling.blob(crops)})[0]
    padded_images = session.run_images(crops, scaling)[0]
    assert padded.shape == padded_images.shape == exact.shape == (3, 512)
    assert np.allclose(padded, exact, atol=1e-4) and np.allclose(padded_images, exact, atol=1e-4)


def test_torch_sessions_take_uint8_images_and_scale_them_as_the_cpu_would(
    analyzer: FaceAnalyzer, players: np.ndarray
) -> None:
    """Our calls feed a PyTorch session the uint8 frames and crops themselves (scaled on its
    device, a quarter of the bytes); the outputs and the faces must not change."""
    pytest.importorskip("torch", reason="PyTorch is not installed (make test installs it)")
    pytest.importorskip("onnx2torch", reason="onnx2torch is not installed")
    from openlfr.vision.torch_backend import TorchSession

    session = TorchSession(analyzer.pack.detector_path, "cpu", fp16=False)
    detector = analyzer.detector_on(session, batch_wait=0.0)
    assert detector.feeds_images and not analyzer.detector.feeds_images
    canvas, _ = detector.letterbox([players, players[::-1].copy()])
    assert detector.network_input(canvas) is canvas and canvas.dtype == np.uint8
    from_images = detector.network(canvas)
    from_blob = session.run(None, {session.get_inputs()[0].name: detector.scaling.blob(canvas)})
    assert len(from_images) == len(from_blob) == 9
    for a, b in zip(from_images, from_blob, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-4)
    got, expected = detector.detect(players), analyzer.detect(players)
    assert len(got) == len(expected) > 10
    np.testing.assert_allclose(np.sort(got.boxes, axis=0), np.sort(expected.boxes, axis=0), atol=0.5)

    embedder = analyzer.embedder_on(TorchSession(analyzer.pack.recognizer_path, "cpu", fp16=False))
    crops = analyzer.align(players, expected)
    assert embedder.feeds_images and embedder.network_input(crops) is crops
    assert np.sum(embedder.embed(crops) * analyzer.embedder.embed(crops), axis=1).min() > 0.9999


@pytest.mark.parametrize("backend", ["onnxruntime", "torch"])
def test_a_node_actor_gives_cameras_what_their_own_models_give(
    settings, analyzer: FaceAnalyzer, players: np.ndarray, backend: str
) -> None:  # type: ignore[no-untyped-def]
    """Cameras send a node's inference actor uint8 images. Over ONNX Runtime the actor scales
    them itself; over PyTorch its session does, on its device. Either way the outputs are a
    camera's own models' outputs."""
    from openlfr.cluster.inference import InferenceActor

    if backend == "torch":
        pytest.importorskip("torch", reason="PyTorch is not installed (make test installs it)")
        pytest.importorskip("onnx2torch", reason="onnx2torch is not installed")
        runtime = {"backend": "torch", "torch_device": "cpu", "torch_fp16": False}
        settings = settings.model_copy(update={"runtime": settings.runtime.model_copy(update=runtime)})
    actor = InferenceActor(settings)
    assert feeds_images(actor.sessions["detector"]) == (backend == "torch")
    canvas, _ = analyzer.detector.letterbox([players])
    crops = analyzer.align(players, analyzer.detect(players))
    detector, embedder = analyzer.detector, analyzer.embedder
    for got, expected in zip(
        actor.run_images("detector", canvas, detector.scaling),
        detector.network(detector.network_input(canvas)),
        strict=True,
    ):
        np.testing.assert_allclose(got, expected, atol=1e-4)
    features = actor.run_images("recognizer", crops, embedder.scaling)[0]
    np.testing.assert_allclose(features, embedder.forward(embedder.network_input(crops)), atol=1e-3)
    assert {model for model in actor.stats()} == {"detector", "recognizer"}


def test_the_recognizer_batch_is_bigger_off_the_cpu(analyzer: FaceAnalyzer) -> None:
    from openlfr.vision.runtime import recognizer_batch_size

    class OnTheGpu:
        def get_providers(self) -> list[str]:
            return ["torch:cuda:fp16"]

    assert recognizer_batch_size(None, analyzer.embedder.session) == analyzer.embedder.batch_size == 16
    assert recognizer_batch_size(None, OnTheGpu()) == 256  # type: ignore[arg-type]
    assert recognizer_batch_size(32, OnTheGpu()) == 32  # type: ignore[arg-type]
