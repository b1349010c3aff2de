"""PReLU spelt as operations ONNX Runtime's CPU kernels run faster, checked against the original.

ONNX Runtime's CPU PRelu broadcasts its per-channel slope element by element: in the buffalo_s
and SFace recognizers it takes about 40% of a forward pass. ``PRelu(x, s)`` equals
``x·s + Relu(x)·(1 − s)`` for any slope, and those three element-wise kernels are vectorised,
so a face takes 0.65–0.78× the time (``python -m benchmarks packs``). The
rewrite is made in memory when a session loads, and used only when it gives the original's
outputs on a probe. Anything it is not sure of keeps the model as it is: slopes a caller could
feed, slopes so large that the sum loses precision, weights kept outside the file, inputs or
outputs that are not plain float tensors.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from openlfr.models.shapes import run_on_cpu

RELATIVE_TOLERANCE = 1e-4  # of the outputs' largest magnitude: float rounding, nothing more
LARGEST_SLOPE = 16.0  # trained PReLU slopes stay near [-1, 1]; past this x·s − x·(s − 1) cancels
LARGEST_FILE = 512 * 2**20  # bigger models load as they are rather than held twice in memory
PROBE_SIDE = 64  # height and width of the probe where the model leaves them open


def unrolled_prelu(model: Path | bytes) -> Path | bytes:
    """``model`` with each PRelu unrolled, serialized; ``model`` itself when it has no PRelu,
    or when the rewrite is not certain to compute what it computes."""
    if isinstance(model, bytes):
        data = model
    else:
        try:
            if model.stat().st_size > LARGEST_FILE:
                return model
            data = model.read_bytes()
        except OSError:
            return model  # the session's own load reports it
    return _unrolled(data) or model  # keyed on the content: a replaced file is read afresh


@lru_cache(maxsize=8)
def _unrolled(data: bytes) -> bytes | None:
    import onnx

    try:
        graph_model = onnx.load_from_string(data)
        probe = _probe(graph_model.graph)  # read before the rewrite changes the graph
        if probe is None:
            return None
        rewritten = _rewritten(graph_model)
        return rewritten if rewritten is not None and _same_outputs(data, rewritten, probe) else None
    except Exception:  # onnx's and ONNX Runtime's own untyped errors: keep the original
        return None


def _rewritten(graph_model) -> bytes | None:
    import onnx
    from onnx import helper, numpy_helper

    graph = graph_model.graph
    if any(w.data_location == onnx.TensorProto.EXTERNAL for w in graph.initializer):
        return None
    weights = {w.name: w for w in graph.initializer}
    fed = {value.name for value in graph.input}  # an initializer listed as an input can be fed
    taken = set(weights) | fed | {name for node in graph.node for name in node.output}

    def fresh(name: str) -> str:
        candidate, suffix = name, 0
        while candidate in taken:
            suffix += 1
            candidate = f"{name}_{suffix}"
        taken.add(candidate)
        return candidate

    kept: dict[str, str] = {}  # slope → its (1 − slope), made once however many PRelu share it
    nodes = []
    for node in graph.node:
        slope = weights.get(node.input[1]) if node.op_type == "PRelu" else None
        values = numpy_helper.to_array(slope) if slope is not None and slope.name not in fed else None
        if slope is None or values is None or not _plain(values):
            nodes.append(node)  # not a PRelu, or one whose slope is computed, fed or odd
            continue
        if slope.name not in kept:
            kept[slope.name] = fresh(f"{slope.name}__one_minus")
            graph.initializer.append(numpy_helper.from_array(1 - values, kept[slope.name]))
        x, y = node.input[0], node.output[0]
        leak, relu, through = fresh(f"{y}__leak"), fresh(f"{y}__relu"), fresh(f"{y}__kept")
        nodes += [
            helper.make_node("Mul", [x, slope.name], [leak]),
            helper.make_node("Relu", [x], [relu]),
            helper.make_node("Mul", [relu, kept[slope.name]], [through]),
            helper.make_node("Add", [leak, through], [y]),
        ]
    if not kept:
        return None
    del graph.node[:]
    graph.node.extend(nodes)
    return graph_model.SerializeToString()


def _plain(slope: np.ndarray) -> bool:
    return slope.dtype == np.float32 and bool(np.all(np.abs(slope) <= LARGEST_SLOPE))


def _probe(graph) -> np.ndarray | None:
    """An input of both signs for the model's one float input; None for any other model."""
    import onnx

    weights = {w.name for w in graph.initializer}
    inputs = [value for value in graph.input if value.name not in weights]
    tensor = inputs[0].type.tensor_type if len(inputs) == 1 else None
    if tensor is None or tensor.elem_type != onnx.TensorProto.FLOAT:
        return None
    dims = tensor.shape.dim
    shape = [d.dim_value if d.dim_value > 0 else (2 if i == 0 else PROBE_SIDE) for i, d in enumerate(dims)]
    return np.random.default_rng(0).uniform(-255, 255, shape).astype(np.float32)


def _same_outputs(original: bytes, rewritten: bytes, probe: np.ndarray) -> bool:
    """Both models on the probe: float outputs equal within rounding, others identical."""
    before, after = run_on_cpu(original, probe), run_on_cpu(rewritten, probe)
    for a, b in zip(after, before, strict=True):
        if not isinstance(a, np.ndarray) or not isinstance(b, np.ndarray) or a.shape != b.shape:
            return False
        if a.dtype.kind != "f":
            if not np.array_equal(a, b):
                return False
            continue
        scale = max(1.0, float(np.abs(b).max())) if b.size else 1.0
        if not np.isfinite(a).all() or not np.allclose(a, b, rtol=0, atol=RELATIVE_TOLERANCE * scale):
            return False
    return True
