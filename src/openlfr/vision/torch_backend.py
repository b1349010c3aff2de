"""PyTorch inference from the same ONNX files, for GPU machines that have PyTorch.

onnx2torch converts the graph once at start; ``TorchSession`` then answers the three calls
our detector and recognizer make of an ONNX Runtime session (``get_inputs``, ``get_outputs``,
``run``), so nothing above this module knows which backend runs, plus ``run_images``: uint8
images scaled on the device, so that the CPU neither does the float arithmetic nor copies
four times the bytes (``vision.tensors``). Half precision is the
default on a GPU; the prepared GPU check (``benchmarks/gpu_check.py``) compares it with the
CPU templates. A requested device that is not there is an error, never a CPU fallback.
"""

from __future__ import annotations

import logging
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from openlfr.errors import ModelPackError, ProviderUnavailableError
from openlfr.vision.sessions import model_name
from openlfr.vision.tensors import InputScaling

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Port:
    """An input or output of the graph, as ONNX Runtime describes it."""

    name: str
    shape: list[int | str]


def _ports(values: Any, skip: set[str]) -> list[Port]:
    return [
        Port(v.name, [d.dim_value or d.dim_param or "?" for d in v.type.tensor_type.shape.dim])
        for v in values
        if v.name not in skip
    ]


class TorchSession:
    """One ONNX model converted to a PyTorch module on ``device``."""

    def __init__(
        self, model: Path | bytes, device: str = "cuda", fp16: bool = True, cuda_graphs: bool = False
    ) -> None:
        try:
            import onnx
            import torch
            from onnx2torch import convert
        except ImportError as exc:
            raise ProviderUnavailableError(
                f"runtime.backend 'torch' needs PyTorch and onnx2torch ({exc.name} is missing): "
                "pip install torch onnx2torch"
            ) from None
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise ProviderUnavailableError(
                f"runtime.torch_device {device!r} requested but PyTorch sees no CUDA device; "
                "openlfr does not fall back to the CPU silently"
            )
        if cuda_graphs and not device.startswith("cuda"):
            raise ProviderUnavailableError(
                f"runtime.torch_cuda_graphs needs a CUDA device, not runtime.torch_device {device!r}"
            )
        name = model_name(model)
        # onnx2torch's Slice indexes with a list, which PyTorch warns about on every call
        warnings.filterwarnings("ignore", message="Using a non-tuple sequence", category=UserWarning)
        try:
            graph = onnx.load_from_string(model) if isinstance(model, bytes) else onnx.load(str(model))
            module = convert(graph)
        except Exception as exc:  # a damaged file, or an operator onnx2torch cannot convert
            raise ModelPackError(
                f"cannot convert model {name} for PyTorch ({type(exc).__name__}: {exc}); "
                "runtime.backend 'onnxruntime' runs the ONNX file as it is"
            ) from None
        weights = {init.name for init in graph.graph.initializer}
        self._inputs = _ports(graph.graph.input, weights)
        self._outputs = _ports(graph.graph.output, set())
        self.torch = torch
        self.name = name
        self.device = torch.device(device)
        self.dtype = torch.float16 if fp16 else torch.float32
        self.module = module.eval().to(self.device, self.dtype)
        on_gpu = self.device.type == "cuda"
        self._worker = (
            ThreadPoolExecutor(1, thread_name_prefix=f"torch-{name.split('.')[0]}") if on_gpu else None
        )
        # one captured graph per padded input shape, all captured on one stream into one memory
        # pool: only the worker thread replays them, one at a time, copying the outputs out at once
        self._graphs: dict[tuple[int, ...], CapturedForward] | None = {} if cuda_graphs else None
        self._capture: tuple[Any, Any] | None = None  # made at the first capture

    def get_inputs(self) -> list[Port]:
        return self._inputs

    def get_outputs(self) -> list[Port]:
        return self._outputs

    def get_providers(self) -> list[str]:
        precision = "fp16" if self.dtype == self.torch.float16 else "fp32"
        graphs = ":cuda-graphs" if self._graphs is not None else ""
        return [f"torch:{self.device}:{precision}{graphs}"]

    def run(self, _names: object, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Forward one prepared float32 batch; outputs come back as float32 numpy arrays in graph order."""
        return self._call(feeds[self._inputs[0].name], None)

    def run_images(self, images: np.ndarray, scaling: InputScaling) -> list[np.ndarray]:
        """Forward (B, H, W, 3) uint8 BGR images, converted and scaled on the device; a uint8
        tensor already there is used as it is."""
        return self._call(images, scaling)

    def _call(self, batch: np.ndarray, scaling: InputScaling | None) -> list[np.ndarray]:
        """On a GPU every call runs on the session's one worker thread: PyTorch keeps cuDNN's
        convolution plans per thread, so cameras calling from their own threads would each
        plan every layer again (seconds per thread on an H200), and batches are padded to a
        power of two so that only a few batch shapes are ever planned.
        """
        batch = np.ascontiguousarray(batch) if isinstance(batch, np.ndarray) else batch.contiguous()
        if self._worker is None:
            return self._forward(batch, scaling, len(batch))
        return self._worker.submit(self._forward, batch, scaling, padded_size(len(batch))).result()

    def _forward(self, batch: np.ndarray, scaling: InputScaling | None, size: int) -> list[np.ndarray]:
        torch = self.torch
        with torch.inference_mode():
            # copy, then convert on the device: ``.to(device, dtype)`` would convert on the CPU;
            # a tensor already on the device (``live.frames_on_device``) is not copied at all
            inputs = torch.as_tensor(batch).to(self.device, non_blocking=True)
            inputs = inputs.to(self.dtype) if scaling is None else self._scaled(inputs, scaling)
            if size > len(batch):
                inputs = torch.cat([inputs, inputs.new_zeros((size - len(batch), *inputs.shape[1:]))])
            outputs = self._apply(inputs)
        if not isinstance(outputs, list | tuple):
            outputs = (outputs,)
        return [output[: len(batch)].float().cpu().numpy() for output in outputs]

    def _apply(self, inputs: Any) -> Any:
        """The module's forward pass: eager, or the replay of the graph captured for this shape.

        A converted graph that cannot be captured (an operator that waits for the GPU, say)
        runs eagerly from then on, with a warning, and its provider name loses ``cuda-graphs``:
        the device stays the one asked for, only the launch optimisation is lost.
        """
        if self._graphs is None:
            return self.module(inputs)
        captured = self._graphs.get(tuple(inputs.shape))
        if captured is None:
            try:
                if self._capture is None:
                    self._capture = (self.torch.cuda.Stream(self.device), self.torch.cuda.graph_pool_handle())
                captured = CapturedForward(self.module, inputs, *self._capture)
                self._graphs[tuple(inputs.shape)] = captured
            except Exception as exc:  # PyTorch raises RuntimeError and CUDA's own errors here
                log.warning("%s: no CUDA graph (%s); running it eagerly", self.name, exc)
                self._graphs = None
                return self.module(inputs)
        return captured(inputs)

    def _scaled(self, images: Any, scaling: InputScaling) -> Any:
        """(B, H, W, 3) uint8 BGR on the device to the network's (B, 3, H, W) input, computed
        in float32, as on the CPU, and only then cast to the session's precision."""
        planes = images.permute(0, 3, 1, 2)
        if scaling.bgr_to_rgb:
            planes = planes.flip(1)
        scaled = (planes.float() - scaling.mean) * (1.0 / scaling.std)
        return scaled.to(self.dtype).contiguous()


class CapturedForward:
    """One forward pass of ``module`` at one input shape, captured as a CUDA graph.

    Eager PyTorch launches each of a network's hundred-odd kernels from Python, which bounds
    small batches (300 faces/s at batch 1 on the H200); a replay launches them all at once.
    The outputs live in the graph's memory pool and are overwritten by the next replay of any
    graph of that pool, so the caller copies them out first (``TorchSession`` does, on its one
    worker thread).

    Captures are one at a time in the process (PyTorch allows no more, and each begins with a
    device-wide synchronisation), on the model's device and its session's own capture stream,
    and a failed one leaves the calling thread on the stream it had.
    """

    def __init__(self, module: Any, example: Any, stream: Any, pool: Any) -> None:
        import torch

        self.input = example.clone()
        device = stream.device
        with _CAPTURING, torch.cuda.device(device), torch.cuda.stream(torch.cuda.current_stream(device)):
            stream.wait_stream(torch.cuda.current_stream(device))  # warm up and capture off the default
            with torch.cuda.stream(stream):
                for _ in range(3):
                    module(self.input)
            torch.cuda.current_stream(device).wait_stream(stream)
            self.graph = torch.cuda.CUDAGraph()
            # thread_local: decoders and the other model's eager calls keep using the GPU meanwhile
            with torch.cuda.graph(self.graph, pool=pool, stream=stream, capture_error_mode="thread_local"):
                self.output = module(self.input)

    def __call__(self, inputs: Any) -> Any:
        self.input.copy_(inputs)
        self.graph.replay()
        return self.output


_CAPTURING = threading.Lock()


def padded_size(rows: int, step: int = 256) -> int:
    """The batch size a call of ``rows`` runs at on a GPU: the next power of two up to
    ``step``, then the next multiple of it, so that a big batch never nearly doubles."""
    if rows > step:
        return -(-rows // step) * step
    return 1 << max(rows - 1, 0).bit_length()
