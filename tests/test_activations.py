"""The recognizers' PReLU, unrolled for ONNX Runtime's CPU when a session loads: the same
templates on real faces, and the original model kept wherever the rewrite would change it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
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


# Cases from the adversarial pass: whatever the model, the rewrite is exact or not made.


def graph(nodes, inputs, outputs, weights, path: Path | None = None, opset: int = 13, ir: int = 8):
    """A hand-built model: serialized, or saved at ``path``."""
    model = helper.make_model(
        helper.make_graph(nodes, "g", inputs, outputs, weights),
        opset_imports=[helper.make_opsetid("", opset)],
    )
    model.ir_version = ir
    if path is None:
        return model.SerializeToString()
    onnx.save(model, str(path))
    return path


def run(model: Path | bytes, **feeds: np.ndarray) -> list[np.ndarray]:
    source = model if isinstance(model, bytes) else str(model)
    return ort.InferenceSession(source, providers=["CPUExecutionProvider"]).run(None, feeds)


def value(name: str, shape) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def test_a_file_replaced_in_place_is_read_again(tmp_path: Path) -> None:
    x = np.full((1, 2, 4, 4), -1.0, np.float32)
    path = prelu_model(tmp_path / "model.onnx", np.array([0.1, 0.1]))
    assert np.allclose(run(unrolled_prelu(path), x=x)[0], -0.1)
    prelu_model(path, np.array([0.9, 0.9]))  # same path, new weights
    assert np.allclose(run(unrolled_prelu(path), x=x)[0], -0.9)


def test_names_the_rewrite_would_reuse_get_fresh_ones() -> None:
    """The model already holds an initializer named like the rewrite's (1 − slope)."""
    nodes = [
        helper.make_node("PRelu", ["x", "s"], ["y"]),
        helper.make_node("Neg", ["x"], ["nx"]),
        helper.make_node("Relu", ["nx"], ["neg"]),
        helper.make_node("Mul", ["neg", "s__one_minus"], ["w"]),
        helper.make_node("Add", ["y", "w"], ["z"]),
    ]
    weights = [
        numpy_helper.from_array(np.float32(0.2), "s"),
        numpy_helper.from_array(np.float32(5.0), "s__one_minus"),
    ]
    model = graph(nodes, [value("x", [1, 1, 1, 2])], [value("z", [1, 1, 1, 2])], weights)
    rewritten = unrolled_prelu(model)
    assert rewritten is not model
    x = np.array([[[[-1.0, 1.0]]]], np.float32)
    assert np.allclose(run(rewritten, x=x)[0], run(model, x=x)[0])


def test_a_slope_a_caller_may_feed_is_left_alone() -> None:
    """Old exporters list weights among the inputs: feeding one must still work as in the original."""
    model = graph(
        [helper.make_node("PRelu", ["x", "s"], ["y"])],
        [value("x", [1, 3, 2, 2]), value("s", [])],
        [value("y", [1, 3, 2, 2])],
        [numpy_helper.from_array(np.float32(0.2), "s")],
        opset=9,
        ir=4,
    )
    assert unrolled_prelu(model) is model


def test_slopes_too_large_to_unroll_exactly_are_left_alone() -> None:
    """x·s − x·(s − 1) loses x's digits when s is huge; such a model keeps its PRelu."""
    for slope in (3e4, 1e30):
        nodes = [helper.make_node("Neg", ["x"], ["n"]), helper.make_node("PRelu", ["n", "s"], ["y"])]
        weights = [numpy_helper.from_array(np.full((2, 1, 1), slope, np.float32), "s")]
        model = graph(nodes, [value("x", [1, 2, 4, 4])], [value("y", [1, 2, 4, 4])], weights)
        assert unrolled_prelu(model) is model


def test_models_with_odd_outputs_or_no_readable_file_load_as_the_runtime_would(tmp_path: Path) -> None:
    from openlfr.errors import ModelPackError
    from openlfr.settings import RuntimeSettings
    from openlfr.vision.runtime import create_session

    prelu = helper.make_node("PRelu", ["x", "s"], ["y"])
    slope = numpy_helper.from_array(np.float32(0.2), "s")
    empty = graph(
        [prelu, helper.make_node("Slice", ["x", "zero", "zero", "one"], ["e"])],
        [value("x", [1, 3, 8, 8])],
        [value("y", [1, 3, 8, 8]), value("e", None)],
        [
            slope,
            numpy_helper.from_array(np.array([0]), "zero"),
            numpy_helper.from_array(np.array([1]), "one"),
        ],
    )
    sequence = graph(
        [prelu, helper.make_node("SequenceConstruct", ["y", "x"], ["q"])],
        [value("x", [1, 3, 8, 8])],
        [helper.make_tensor_sequence_value_info("q", TensorProto.FLOAT, None)],
        [slope],
    )
    settings = RuntimeSettings(providers="cpu")
    x = np.full((1, 3, 8, 8), -2.0, np.float32)
    y = create_session(empty, settings).run(None, {"x": x})[0]
    assert np.allclose(y, -0.4)
    y, same_x = create_session(sequence, settings).run(None, {"x": x})[0]
    assert np.allclose(y, -0.4) and np.array_equal(same_x, x)
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(empty[:50])
    with pytest.raises(ModelPackError, match=r"truncated\.onnx"):
        create_session(truncated, settings)


def test_weights_kept_outside_the_file_are_not_loaded_twice(tmp_path: Path) -> None:
    model = onnx.load(str(prelu_model(tmp_path / "inline.onnx", np.array([0.2, 0.3]))))
    onnx.save(model, str(tmp_path / "outside.onnx"), save_as_external_data=True, size_threshold=0)
    assert unrolled_prelu(tmp_path / "outside.onnx") == tmp_path / "outside.onnx"
