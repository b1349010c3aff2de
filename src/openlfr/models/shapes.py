"""Dynamic input shapes for ONNX files shipped with fixed ones, checked against the shipped file.

Some published models (OpenCV Zoo's YuNet and SFace among them) declare batch 1 and, for a
detector, one picture size, although nothing in the graph depends on them. The engine needs
batches (cameras share a forward pass; the evaluation sends a face and its mirror) and a
detector input shaped like the frame. The rewrite names those dimensions, keeps reshapes that
spelled the batch as 1 copying it instead, and takes weights out of the graph's inputs. It is
then run beside the shipped file on the same inputs; any difference refuses the pack.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from openlfr.errors import ModelPackError

TOLERANCE = 1e-4  # largest difference allowed between the shipped and the rewritten outputs
PROBES = 3  # inputs compared, as one batch of the rewritten model and one at a time on the shipped
OTHER_SIZE = 0.6  # a detector is also run at this share of its shipped height (16:9 frames are wide)


def _named_dimensions(model, spatial: bool) -> None:
    """Batch (and, with ``spatial``, the picture's height and width) as named dimensions."""
    for value in model.graph.input:
        dims = value.type.tensor_type.shape.dim
        dims[0].dim_param = "batch"
        if spatial and len(dims) == 4:
            dims[2].dim_param, dims[3].dim_param = "height", "width"
    for value in model.graph.output:
        dims = value.type.tensor_type.shape.dim
        dims[0].dim_param = "batch"
        if spatial and len(dims) >= 2:
            dims[1].dim_param = "positions"


def _reshapes_copy_the_batch(model) -> None:
    """A Reshape to (1, …) becomes (0, …): ONNX's 0 copies the input's own batch size."""
    from onnx import numpy_helper

    weights = {w.name: w for w in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type != "Reshape" or node.input[1] not in weights:
            continue
        shape = numpy_helper.to_array(weights[node.input[1]])
        if shape.ndim == 1 and len(shape) > 1 and shape[0] == 1:
            shape = shape.copy()
            shape[0] = 0
            weights[node.input[1]].CopyFrom(numpy_helper.from_array(shape, node.input[1]))


def run_on_cpu(model: str | bytes, batch: np.ndarray) -> list[np.ndarray]:
    """One forward pass on ONNX Runtime's CPU, one thread: how a rewrite is compared with its source."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 4  # a model that cannot run is reported by the caller, once
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(model, sess_options=options, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: batch})


def _checked(path: Path, rewritten: bytes, input_shape: list[int], spatial: bool) -> None:
    """The rewritten model on a batch gives, output by output and item by item, what the shipped
    one gives on each input alone (finite, within ``TOLERANCE``); a detector also runs at another
    picture size, batched, with outputs that still keep the batch apart."""
    differs = (
        f"{path.name}: with its shapes made dynamic the model no longer gives the shipped model's outputs"
    )
    probes = np.random.default_rng(0).uniform(0, 255, (PROBES, *input_shape[1:])).astype(np.float32)
    together = run_on_cpu(rewritten, probes)
    alone = [run_on_cpu(str(path), probes[i : i + 1]) for i in range(PROBES)]
    for k, output in enumerate(together):
        shipped = np.concatenate([outputs[k] for outputs in alone])
        if output.shape != shipped.shape or not output.ndim or output.shape[0] != PROBES:
            raise ModelPackError(f"{differs} (output {k} has shape {output.shape}); refusing to use it")
        if not np.isfinite(output).all() or not np.allclose(output, shipped, rtol=0, atol=TOLERANCE):
            raise ModelPackError(f"{differs} (output {k}); refusing to use it")
    if spatial:
        height = max(32, round(input_shape[2] * OTHER_SIZE / 32) * 32)
        other = run_on_cpu(rewritten, probes[:2, :, :height])
        if any(not o.ndim or o.shape[0] != 2 or not np.isfinite(o).all() for o in other):
            raise ModelPackError(
                f"{path.name}: at another picture size the outputs mix the batch; refusing it"
            )


@lru_cache(maxsize=4)
def with_dynamic_shapes(path: Path, sha256: str, spatial: bool) -> bytes:
    """The model at ``path`` (already verified as ``sha256``, which keys the cache) with a named
    batch dimension, and with ``spatial`` a named picture size: serialized, checked, in memory."""
    try:
        return _rewritten(path, spatial)
    except ModelPackError:
        raise
    except Exception as exc:  # onnx and ONNX Runtime raise their own untyped errors for odd models
        raise ModelPackError(
            f"{path.name}: cannot make its shapes dynamic ({type(exc).__name__}: {exc}); "
            "export the model with a dynamic batch instead"
        ) from None


def _rewritten(path: Path, spatial: bool) -> bytes:
    import onnx

    model = onnx.load(str(path))
    weights = {w.name for w in model.graph.initializer}
    inputs = [value for value in model.graph.input if value.name not in weights]
    del model.graph.input[:]
    model.graph.input.extend(inputs)
    if len(inputs) != 1:
        raise ModelPackError(f"{path.name}: expected one input besides the weights, found {len(inputs)}")
    tensor = inputs[0].type.tensor_type
    shipped_shape = [d.dim_value for d in tensor.shape.dim]
    if tensor.elem_type != onnx.TensorProto.FLOAT or len(shipped_shape) != 4:
        raise ModelPackError(f"{path.name}: expected one float input of four dimensions (N, C, H, W)")
    if not all(shipped_shape):
        raise ModelPackError(
            f"{path.name}: its input already has named dimensions, so dynamic_shapes cannot rewrite it "
            "(only a fully fixed input is); export it with a dynamic batch and drop dynamic_shapes"
        )
    if shipped_shape[0] != 1:
        raise ModelPackError(f"{path.name}: its batch is fixed at {shipped_shape[0]}, not 1")
    if any(len(value.type.tensor_type.shape.dim) == 0 for value in model.graph.output):
        raise ModelPackError(f"{path.name}: an output declares no shape; its batch cannot be named")
    _named_dimensions(model, spatial)
    _reshapes_copy_the_batch(model)
    rewritten = model.SerializeToString()
    _checked(path, rewritten, shipped_shape, spatial)
    return rewritten
