"""A pack is refused when it loads, with the reason, whenever its files do not keep the contract
its manifest states: research-only files in any combination, rewritten shapes that change an
output, a detector family that does not match, a misspelt or mistyped manifest key. Cases from the
adversarial pass on the yunet_sface pack."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from openlfr.errors import ModelPackError
from openlfr.evaluation.fusion import check_pack_name
from openlfr.models import load_pack, sha256_file
from openlfr.models.shapes import with_dynamic_shapes
from openlfr.settings import load_settings
from openlfr.vision import FaceAnalyzer

YUNET = 'family = "yunet"\ninput_mean = 0.0\ninput_std = 1.0\nbgr_to_rgb = false\ndynamic_shapes = true\n'
SFACE = "input_mean = 0.0\ninput_std = 1.0\nembedding_size = 128\ndynamic_shapes = true\n"


def pack_of(
    folder: Path,
    detector: Path,
    recognizer: Path,
    detector_keys: str = "",
    recognizer_keys: str = "",
    extra: str = "",
) -> str:
    """A user's pack folder of these two files, claiming operational use."""
    folder.mkdir(parents=True)
    shutil.copy(detector, folder / "det.onnx")
    shutil.copy(recognizer, folder / "rec.onnx")
    (folder / "manifest.toml").write_text(
        f'name = "custom"\nlicence = "test"\noperational_use = true\n'
        f'[detector]\nfile = "det.onnx"\nsha256 = "{sha256_file(folder / "det.onnx")}"\n{detector_keys}\n'
        f'[recognizer]\nfile = "rec.onnx"\nsha256 = "{sha256_file(folder / "rec.onnx")}"\n'
        f"{recognizer_keys}\n{extra}"
    )
    return str(folder)


def saved(graph_nodes, inputs, outputs, path: Path, initializers=()) -> Path:
    model = helper.make_model(
        helper.make_graph(graph_nodes, "g", inputs, outputs, list(initializers)),
        opset_imports=[helper.make_opsetid("", 13)],
    )
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def tensor(name: str, shape) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def test_one_research_only_file_beside_a_clean_one_keeps_the_pack_research_only(tmp_path: Path) -> None:
    buffalo, yunet = load_pack("buffalo_s"), load_pack("yunet_sface")
    scrfd_and_sface = load_pack(
        pack_of(tmp_path / "a", buffalo.detector_path, yunet.recognizer_path, "", SFACE)
    )
    yunet_and_mbf = load_pack(pack_of(tmp_path / "b", yunet.detector_path, buffalo.recognizer_path, YUNET))
    assert scrfd_and_sface.manifest.operational_use and not scrfd_and_sface.operational
    assert yunet_and_mbf.manifest.operational_use and not yunet_and_mbf.operational


def test_a_rewrite_that_mixes_the_batch_is_refused_even_when_it_gives_nan(tmp_path: Path) -> None:
    """sqrt(x − mean over the batch): zeros one at a time, NaN and nonsense in a batch."""
    path = saved(
        [
            helper.make_node("ReduceMean", ["x"], ["m"], axes=[0], keepdims=1),
            helper.make_node("Sub", ["x", "m"], ["d"]),
            helper.make_node("Sqrt", ["d"], ["y"]),
        ],
        [tensor("x", [1, 3, 8, 8])],
        [tensor("y", [1, 3, 8, 8])],
        tmp_path / "mixing.onnx",
    )
    with pytest.raises(ModelPackError, match="no longer gives the shipped model's outputs"):
        with_dynamic_shapes(path, sha256_file(path), spatial=False)


def test_a_reshape_that_flattens_the_batch_is_refused(tmp_path: Path) -> None:
    shape = numpy_helper.from_array(np.array([-1], np.int64), "flat")
    path = saved(
        [helper.make_node("Reshape", ["x", "flat"], ["y"])],
        [tensor("x", [1, 3, 8, 8])],
        [tensor("y", [192])],
        tmp_path / "flat.onnx",
        [shape],
    )
    with pytest.raises(ModelPackError, match="shape"):
        with_dynamic_shapes(path, sha256_file(path), spatial=False)


def test_a_detector_whose_reshapes_fix_the_picture_size_is_refused_when_it_loads(tmp_path: Path) -> None:
    yunet = load_pack("yunet_sface")
    model = onnx.load(str(yunet.detector_path))
    outputs = {o.name: [d.dim_value for d in o.type.tensor_type.shape.dim] for o in model.graph.output}
    consumers: dict[str, list] = {}
    for node in model.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    for k, node in enumerate(n for n in model.graph.node if n.op_type == "Reshape"):
        target = node.output[0]
        while target not in outputs:
            target = consumers[target][0].output[0]
        model.graph.initializer.append(
            numpy_helper.from_array(np.array(outputs[target], np.int64), f"fixed{k}")
        )
        node.input[1] = f"fixed{k}"
    onnx.save(model, str(tmp_path / "fixed.onnx"))
    folder = pack_of(tmp_path / "pack", tmp_path / "fixed.onnx", yunet.recognizer_path, YUNET, SFACE)
    with pytest.raises(ModelPackError, match="cannot make its shapes dynamic"):
        _ = FaceAnalyzer(load_settings(model_pack=folder)).detector


def test_models_that_cannot_be_rewritten_are_refused_with_the_reason(tmp_path: Path) -> None:
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model at all" * 100)
    with pytest.raises(ModelPackError, match="cannot make its shapes dynamic"):
        with_dynamic_shapes(junk, sha256_file(junk), spatial=False)
    pair = saved(
        [helper.make_node("Relu", ["x"], ["y"])],
        [tensor("x", [2, 3, 8, 8])],
        [tensor("y", [2, 3, 8, 8])],
        tmp_path / "two.onnx",
    )
    with pytest.raises(ModelPackError, match="fixed at 2"):
        with_dynamic_shapes(pair, sha256_file(pair), spatial=False)
    partly = saved(
        [helper.make_node("Relu", ["x"], ["y"])],
        [tensor("x", [1, 3, "h", "w"])],
        [tensor("y", [1, 3, "h", "w"])],
        tmp_path / "partly.onnx",
    )
    with pytest.raises(ModelPackError, match="only a fully fixed input"):
        with_dynamic_shapes(partly, sha256_file(partly), spatial=True)


def test_a_detector_of_the_wrong_family_and_a_wrong_width_are_refused_when_they_load(tmp_path: Path) -> None:
    buffalo, yunet = load_pack("buffalo_s"), load_pack("yunet_sface")
    scrfd_as_yunet = pack_of(
        tmp_path / "a", buffalo.detector_path, buffalo.recognizer_path, 'family = "yunet"'
    )
    with pytest.raises(ModelPackError, match="gives 9 outputs, where a 'yunet' detector gives 12"):
        _ = FaceAnalyzer(load_settings(model_pack=scrfd_as_yunet)).detector
    yunet_as_scrfd = pack_of(
        tmp_path / "b", yunet.detector_path, yunet.recognizer_path, "dynamic_shapes = true", SFACE
    )
    with pytest.raises(ModelPackError, match="gives 12 outputs"):
        _ = FaceAnalyzer(load_settings(model_pack=yunet_as_scrfd)).detector
    wrong_width = pack_of(
        tmp_path / "c", yunet.detector_path, yunet.recognizer_path, YUNET, SFACE.replace("128", "512")
    )
    with pytest.raises(ModelPackError, match="gives 128-D templates"):
        _ = FaceAnalyzer(load_settings(model_pack=wrong_width)).embedder
    wrong_crop = pack_of(
        tmp_path / "d", yunet.detector_path, yunet.recognizer_path, YUNET, SFACE + "input_size = 128\n"
    )
    with pytest.raises(ModelPackError, match="do not work as its manifest describes them"):
        _ = FaceAnalyzer(load_settings(model_pack=wrong_crop)).embedder


@pytest.mark.parametrize(
    ("detector_keys", "extra", "wrong"),
    [
        ('famliy = "yunet"', "", "famliy"),
        ("dynamic_shape = true", "", "dynamic_shape"),
        ("", "[operating]\nalert_treshold = 0.9\n", "alert_treshold"),
        ("", "[operating]\nalert_threshold = true\n", "alert_threshold"),
        ("", '[operating]\nalert_threshold = "0.6"\n', "alert_threshold"),
    ],
)
def test_a_misspelt_or_mistyped_manifest_key_is_an_error(
    tmp_path: Path, detector_keys: str, extra: str, wrong: str
) -> None:
    buffalo = load_pack("buffalo_s")
    folder = pack_of(
        tmp_path / "p", buffalo.detector_path, buffalo.recognizer_path, detector_keys, extra=extra
    )
    with pytest.raises(ModelPackError, match=wrong):
        load_pack(folder)


def test_the_study_checks_every_pack_name_before_it_starts(tmp_path: Path) -> None:
    for bad in ("buffalo_s+nope", "buffalo_s+", "+buffalo_s", "dlib+buffalo_s", "a+b+c"):
        with pytest.raises(ModelPackError):
            check_pack_name(bad)
    check_pack_name("buffalo_s+yunet_sface")
    check_pack_name("dlib")
    buffalo = load_pack("buffalo_s")
    plus = pack_of(tmp_path / "v1+ft", buffalo.detector_path, buffalo.recognizer_path)
    check_pack_name(plus)  # a folder with '+' in its name is a pack, not a fusion
