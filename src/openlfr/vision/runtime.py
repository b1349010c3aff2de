"""ONNX Runtime sessions: built once, tuned for small CPUs, and honest about where they run.

On a 2-vCPU machine the settings matter (see DESIGN.md): full graph optimisation, two
intra-op threads, and no thread spinning, because spinning threads steal the core that
video decoding and Python need.
"""

from __future__ import annotations

import logging
from pathlib import Path

import onnxruntime as ort

from openlfr.errors import ModelPackError, ProviderUnavailableError
from openlfr.models.activations import unrolled_prelu
from openlfr.settings import RuntimeSettings
from openlfr.video.hwdecode import claim_the_gpu_for_decoding
from openlfr.vision.sessions import ModelSession, model_name

log = logging.getLogger(__name__)
ort.disable_telemetry_events()  # a process that imported onnxruntime before openlfr: from now on

PROVIDER_NAMES = {
    "tensorrt": "TensorrtExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "cpu": "CPUExecutionProvider",
}
AUTO_ORDER = ("tensorrt", "cuda", "cpu")


def resolve_providers(spec: str) -> list[str]:
    """Turn 'auto' or a comma list ('cuda,cpu') into ONNX Runtime provider names.

    'auto' picks every installed provider in the order TensorRT, CUDA, CPU. An explicitly
    named provider that is not installed raises, instead of silently running on the CPU.
    """
    available = set(ort.get_available_providers())
    if spec.strip().lower() == "auto":
        return [PROVIDER_NAMES[k] for k in AUTO_ORDER if PROVIDER_NAMES[k] in available]
    wanted = [part.strip().lower() for part in spec.split(",") if part.strip()]
    unknown = [w for w in wanted if w not in PROVIDER_NAMES]
    if unknown or not wanted:
        raise ProviderUnavailableError(
            f"unknown inference provider(s) {unknown or spec!r}; choose from auto, "
            + ", ".join(PROVIDER_NAMES)
        )
    missing = [w for w in wanted if PROVIDER_NAMES[w] not in available]
    if missing:
        raise ProviderUnavailableError(
            f"inference provider(s) {', '.join(missing)} requested but not installed here "
            f"(installed: {', '.join(sorted(available))}); openlfr does not fall back silently"
        )
    return [PROVIDER_NAMES[w] for w in wanted]


def batch_wait_seconds(wait_ms: float | None, session: ModelSession) -> float:
    """How long a model waits for other callers' inputs: as set, else 2 ms off the CPU and none on it.

    On this project's 2-vCPU machine a batch of 4 frames costs 1.02× per frame what one does
    and 8 faces 0.86× per face, and four cameras sharing a batched detector lost 22% of their
    frames/s (``python -m benchmarks vision``), so there waiting only adds latency.
    """
    if wait_ms is None:
        wait_ms = 0.0 if runs_on_cpu(session) else 2.0
    return wait_ms / 1000


def recognizer_batch_size(size: int | None, session: ModelSession) -> int:
    """Most faces in one recognizer call: as set, else 16 on the CPU and 256 off it.

    On an H200 the converted recognizer ran 24,300 faces/s in calls of 256 and 3,400 in
    calls of 16 (``python -m benchmarks.gpu_check``); on the CPU bigger calls gain little.
    """
    return size if size is not None else (16 if runs_on_cpu(session) else 256)


def runs_on_cpu(session: ModelSession) -> bool:
    """Whether a session (ONNX Runtime's, our PyTorch one, or a node actor's) computes on the CPU."""
    provider = session.get_providers()[0].rsplit(": ", 1)[-1]  # "node inference actor: <provider>"
    return provider == "CPUExecutionProvider" or provider.startswith("torch:cpu")


def session_options(settings: RuntimeSettings) -> ort.SessionOptions:
    """Session options from settings; shared by all our sessions and the benchmarks."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = settings.intra_op_threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3  # the recognizer declares batch 1 and warns on every batch otherwise
    options.add_session_config_entry(
        "session.intra_op.allow_spinning", "1" if settings.allow_spinning else "0"
    )
    return options


def create_session(
    model: Path | bytes, settings: RuntimeSettings, decodes_here: bool = False
) -> ModelSession:
    """Build one inference session from a file or a serialized model, and log which provider runs it.

    ``decodes_here``: this process may decode video on NVDEC, so the decoders claim the GPU
    before the session does (``hwdecode.claim_the_gpu_for_decoding``).
    """
    if settings.backend == "torch":
        from openlfr.vision.torch_backend import TorchSession

        if decodes_here and settings.torch_device.startswith("cuda"):
            claim_the_gpu_for_decoding()

        session = TorchSession(model, settings.torch_device, settings.torch_fp16, settings.torch_cuda_graphs)
        log.info("model %s runs on %s", model_name(model), session.get_providers()[0])
        return session  # the same calls as an ONNX Runtime session
    providers = resolve_providers(settings.providers)
    if decodes_here and providers[0] != "CPUExecutionProvider":
        claim_the_gpu_for_decoding()
    name = model_name(model)
    if providers[0] == "CPUExecutionProvider":
        model = unrolled_prelu(model)  # recognizers in 0.65–0.78× the time on the CPU, same outputs
    try:
        session = ort.InferenceSession(
            model if isinstance(model, bytes) else str(model),
            sess_options=session_options(settings),
            providers=providers,
        )
    except Exception as exc:  # ONNX Runtime raises its own untyped errors for bad files
        raise ModelPackError(f"cannot load model {name}: {exc}") from None
    active = session.get_providers()
    requested_accelerated = [p for p in providers if p != "CPUExecutionProvider"]
    if requested_accelerated and active[0] not in requested_accelerated:
        message = f"{name}: {requested_accelerated} installed but ONNX Runtime started only {active}"
        if settings.providers.strip().lower() != "auto":
            raise ProviderUnavailableError(message)
        log.warning("%s; running on the CPU (set providers explicitly to make this an error)", message)
    log.info(
        "model %s runs on %s (%d intra-op threads, spinning %s)",
        name,
        active[0],
        settings.intra_op_threads,
        "on" if settings.allow_spinning else "off",
    )
    return session
