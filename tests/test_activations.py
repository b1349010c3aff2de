"""The recognizers' PReLU, unrolled for ONNX Runtime's CPU when a session loads: the same
templates on real faces, and the original model kept wherever the rewrite would change it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from openlfr.models.activations import unrolled_prelu
from openlfr.vision import FaceAnalyzer


def prelu_model(path: Path, slope: np.ndarray | None) -> Path:
    """x (1, 2, 4, 4) → PRelu(x, slope): an initializer slope, or (None) one computed in the graph."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 4, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 4, 4])
    if slope is None:
        nodes = [
            helper.make_node("ReduceMean", ["x"], ["s"], axes=[0, 2, 3], keepdims=1),
            helper.make_node("PRelu", ["x", "s"], ["y"]),
        ]
        weights = []
    else:
        nodes = [helper.make_node("PRelu", ["x", "s"], ["y"])]
        weights = [numpy_helper.from_array(slope.astype(np.float32).reshape(2, 1, 1), "s")]
    model = helper.make_model(
        helper.make_graph(nodes, "g", [x], [y], weights), opset_imports=[helper.make_opsetid("", 13)]
    )
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def ops(model: Path | bytes) -> set[str]:
    loaded = onnx.load_from_string(model) if isinstance(model, bytes) else onnx.load(str(model))
    return {node.op_type for node in loaded.graph.node}


def test_each_packs_recognizer_is_unrolled_and_gives_the_same_templates_on_real_faces(
    pack_analyzer: FaceAnalyzer, players: np.ndarray
) -> None:
    shipped = pack_analyzer.pack.recognizer_model
    assert "PRelu" in ops(shipped)
    unrolled = unrolled_prelu(shipped)
    assert isinstance(unrolled, bytes) and "PRelu" not in ops(unrolled)

    faces = pack_analyzer.analyze(players)
    assert len(faces) >= 3
    crops = pack_analyzer.align(players, pack_analyzer.detect(players))
    batch = pack_analyzer.embedder.network_input(crops)
    ours = pack_analyzer.embedder.forward(batch)  # the session the engine runs: the unrolled model
    ours /= np.linalg.norm(ours, axis=1, keepdims=True)

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    original = ort.InferenceSession(
        shipped if isinstance(shipped, bytes) else str(shipped), options, providers=["CPUExecutionProvider"]
    )
    reference = original.run(None, {original.get_inputs()[0].name: batch})[0]
    reference /= np.linalg.norm(reference, axis=1, keepdims=True)
    assert np.all(np.sum(ours * reference, axis=1) > 0.99999)


def test_a_model_without_prelu_is_loaded_as_it_is(analyzer: FaceAnalyzer) -> None:
    detector = analyzer.pack.detector_model
    assert "PRelu" not in ops(detector)
    assert unrolled_prelu(detector) is detector


def test_a_computed_slope_is_left_alone(tmp_path: Path) -> None:
    model = prelu_model(tmp_path / "computed.onnx", None)
    assert unrolled_prelu(model) is model


def test_a_rewrite_that_changes_the_outputs_keeps_the_original(tmp_path: Path) -> None:
    """An infinite slope makes x·s + Relu(x)·(1 − s) NaN where PRelu gives x: the check sees it."""
    model = prelu_model(tmp_path / "inf.onnx", np.array([np.inf, 0.25]))
    assert unrolled_prelu(model) is model
    fine = prelu_model(tmp_path / "fine.onnx", np.array([-0.5, 1.5]))  # slopes outside [0, 1] too
    rewritten = unrolled_prelu(fine)
    assert isinstance(rewritten, bytes)
    x = np.random.default_rng(1).normal(size=(1, 2, 4, 4)).astype(np.float32)
    got = ort.InferenceSession(rewritten, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    slope = np.array([-0.5, 1.5], np.float32).reshape(1, 2, 1, 1)
    assert np.allclose(got, np.where(x > 0, x, x * slope), atol=1e-6)
