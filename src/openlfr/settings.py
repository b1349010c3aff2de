"""The one place where openlfr's defaults live.

Values come, in increasing priority, from these defaults, an optional TOML file (path in
``OPENLFR_CONFIG``, else ``./openlfr.toml`` when present) and ``OPENLFR_*`` environment
variables (nested fields use ``__``, e.g. ``OPENLFR_DETECTOR__SCORE_THRESHOLD=0.6``).
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from openlfr.errors import ConfigError


class RuntimeSettings(BaseModel):
    """How the models run: ONNX Runtime (CPU, CUDA, TensorRT) or PyTorch on a GPU."""

    backend: Literal["onnxruntime", "torch"] = Field(
        "onnxruntime",
        description="'torch' runs the same ONNX files converted to PyTorch (needs torch and onnx2torch).",
    )
    torch_device: str = Field(
        "cuda", description="PyTorch device for backend 'torch'; never silently the CPU."
    )
    torch_fp16: bool = Field(
        True, description="Half precision on the GPU (checked against fp32 by the GPU script)."
    )
    torch_cuda_graphs: bool = Field(
        False,
        description="Replay each batch shape's forward pass as a captured CUDA graph (backend "
        "'torch' on a CUDA device): eager launches bound small batches. Off until a GPU run "
        "of benchmarks.gpu_check has measured it.",
    )
    providers: str = Field(
        "auto",
        description="'auto' (best installed), or a comma list such as 'cuda,cpu' or 'cpu'. "
        "An explicitly requested provider that is not installed is an error.",
    )
    intra_op_threads: int = Field(2, ge=1, le=256, description="ONNX Runtime threads per model call.")
    allow_spinning: bool = Field(
        False, description="Spinning threads steal the core that decoding and Python need."
    )

    @model_validator(mode="after")
    def _graphs_need_torch(self) -> RuntimeSettings:
        if self.torch_cuda_graphs and self.backend != "torch":
            raise ValueError("torch_cuda_graphs needs backend 'torch'; ONNX Runtime would ignore it")
        return self


class DetectorSettings(BaseModel):
    """SCRFD face detection."""

    input_size: tuple[int, int] = Field((640, 640), description="Network input (width, height).")
    score_threshold: float = Field(0.5, ge=0.0, le=1.0, description="Detector confidence a face needs.")
    turned_score_threshold: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="Detector confidence a face of a still needs when only the picture turned by a quarter "
        "or a half turn shows it (a detector that sees faces in hair or folded arms upside down needs more).",
    )
    nms_threshold: float = Field(
        0.4, ge=0.0, le=1.0, description="Overlap (IoU) above which two detections are one face."
    )
    min_face_size: float = Field(16.0, ge=0.0, description="Smallest box side kept, in pixels.")
    max_faces: int = Field(512, ge=1, description="Most faces kept per frame, most confident first.")
    fit_aspect: bool = Field(True, description="Shrink the network input to the image's aspect ratio.")
    batch_wait_ms: float | None = Field(
        None,
        ge=0.0,
        le=100.0,
        description="How long the detector waits to batch frames from other cameras. "
        "Unset: 2 ms on a GPU, 0 (off) on the CPU, where batches of frames run no faster.",
    )
    max_batch: int = Field(16, ge=1, description="Most frames in one detector batch.")

    @field_validator("input_size")
    @classmethod
    def _multiple_of_32(cls, value: tuple[int, int]) -> tuple[int, int]:
        if any(v < 32 or v % 32 for v in value):
            raise ValueError("detector input sides must be multiples of 32, at least 32")
        return value


class QualitySettings(BaseModel):
    """The face quality gate (see openlfr.vision.quality for the formula)."""

    min_quality: float = Field(
        0.35, ge=0.0, le=1.0, description="Quality score a face needs to be embedded (see face quality)."
    )
    min_inter_eye: float = Field(16.0, ge=0.0, description="Pixels between eye centres.")


class RecognitionSettings(BaseModel):
    """Embedding and 1:1 comparison."""

    flip_fusion: bool = Field(
        False, description="Add the embedding of the mirrored face before normalising (slower, +accuracy)."
    )
    batch_size: int | None = Field(
        None,
        ge=1,
        description="Most faces in one recognizer call. Unset: 16 on the CPU, 256 on a GPU, where "
        "calls of 16 ran at a seventh of the rate of one call of 256.",
    )
    batch_wait_ms: float | None = Field(
        None,
        ge=0.0,
        le=100.0,
        description="How long the recognizer waits to batch faces from other cameras and requests. "
        "Unset: 2 ms on a GPU, 0 (off) on the CPU, where a bigger batch saves little.",
    )
    verify_threshold: float = Field(
        0.30,
        ge=-1.0,
        le=1.0,
        description="Cosine similarity at or above which `compare` says 'same person'. LFW's "
        "accuracy-maximising threshold for buffalo_s is about 0.22, but LFW is mostly white men and "
        "East Asian impostor pairs score higher (see the README), so the default is stricter.",
    )


class LiveSettings(BaseModel):
    """The live engine: tracking, best shots, fusion and the open-set alert decision."""

    alert_threshold: float = Field(
        0.45, ge=-1.0, le=1.0, description="Fused cosine score at or above which a track raises an alert."
    )
    false_alert_rate: float | None = Field(
        None,
        gt=0.0,
        lt=1.0,
        description="Target share of passers-by raising a false alert (e.g. 0.0002 = 1 in 5,000). When set, "
        "the threshold comes from the pack's calibration and the watchlist size, instead of alert_threshold.",
    )
    mitigation: Literal["none", "cluster_thresholds"] = Field(
        "cluster_thresholds",
        description="'cluster_thresholds' raises the threshold for faces in clusters the model confuses "
        "more often than the population (infants, East Asian faces with buffalo_s), so no group draws "
        "more false alerts than the population; it never lowers a threshold. 'none' uses alert_threshold "
        "for everyone. See the README's equity section for what it costs in hit rate.",
    )
    min_faces: int = Field(2, ge=1, description="Embedded shots a track needs before it may alert.")
    max_embeddings_per_track: int = Field(8, ge=1, description="Cap on recognizer runs per track.")
    fused_shots: int = Field(
        3,
        ge=1,
        description="The best shots (by quality) a track keeps and fuses; a worse kept shot is replaced "
        "when a new one beats it by `improvement`.",
    )
    embed_interval: float = Field(0.15, ge=0.0, description="Seconds between embeddings of one track.")
    improvement: float = Field(
        0.0,
        ge=0.0,
        description="Once a track holds fused_shots shots, embed a new one only if its quality beats the "
        "worst kept shot by this.",
    )
    top_k: int = Field(5, ge=1, description="Candidates reported with each alert.")
    cooldown: float = Field(
        0.0,
        ge=0.0,
        description="Seconds after a subject's sighting on a camera during which new tracks of them are not "
        "reported. 0 reports every sighting: they are grouped into one alert anyway (sighting_window).",
    )
    sighting_window: float = Field(
        600.0,
        ge=0.0,
        description="Seconds after an alert is decided during which new sightings of its subject on its "
        "camera still attach to it; an undecided alert takes every later sighting.",
    )
    track_identity_threshold: float | None = Field(
        0.2,
        ge=-1.0,
        le=1.0,
        description="A new shot of a track whose cosine to the track's fused template is below this shows "
        "someone else: it starts a new track instead of being fused (None: never check).",
    )
    track_identity_confirm: float = Field(
        0.35,
        ge=-1.0,
        le=1.0,
        description="A shot at or above this cosine to its track's template confirms the track's person. "
        "One between track_identity_threshold and this is held, not fused; a second in a row starts a new "
        "track (a lookalike who took someone's place), a confirming one clears the doubt.",
    )
    verify_interval: float = Field(
        1.0,
        gt=0.0,
        description="Every track's identity is checked (a recognizer run) at least this often, beyond its "
        "embedding budget. While someone watches a camera's preview, each face it shows unblurred is "
        "checked in every frame, so no frame shows a face not just confirmed as the alerted person.",
    )
    scene_cut_correlation: float | None = Field(
        0.2,
        ge=-1.0,
        le=1.0,
        description="A frame whose detail (a small grey thumbnail less its blur) correlates less than this "
        "with the previous frame's is a scene cut, which ends every track (None: never).",
    )
    track_max_age: float = Field(1.0, gt=0.0, description="Seconds a track survives without a detection.")
    track_match_iou: float = Field(
        0.2,
        ge=0.0,
        le=1.0,
        description="Overlap a detection needs with a track's predicted box to continue it.",
    )
    detect_interval: float = Field(
        0.1,
        ge=0.0,
        le=0.2,
        description="Seconds between the frames the detector looks at (0: every frame): every frame of a "
        "10 fps camera, every third of a 25 fps one. Frames between are decoded but neither converted nor "
        "looked at; a person entering is found within this plus a frame. In the walk-past trial at 25 fps "
        "the tracked engine found 56.7% of watchlist walkers with 0.1 against 40.0% detecting every frame. "
        "At most 0.2 s: further apart, a walking face's box no longer overlaps where its track was heading "
        "and tracks break up. A scene cut, and a watched preview, are detected in every frame.",
    )
    max_frame_lag: float = Field(
        0.2,
        ge=0.0,
        le=1.0,
        description="Longest a frame waits for the engine: as a new frame arrives, those that arrived more "
        "than this before it are dropped (and counted), as are the oldest past 64 MiB of waiting frames. "
        "0 keeps only the newest frame. A little room keeps the frames that arrive while a detected frame "
        "with new faces is embedded, which costs several frame times, so an engine that keeps up on "
        "average loses none; it adds at most this to the time to an alert.",
    )
    engine_threads: int | None = Field(
        None,
        ge=1,
        le=256,
        description="ONNX Runtime threads per model call in the live engines. Unset: one where a run has "
        "at least as many cameras as the process may use cores (the cameras keep every core busy, and a "
        "second thread per call only costs hand-overs: about 6% more CPU for three 1080p cameras on two "
        "vCPUs), else runtime.intra_op_threads. Stills, searches and enrolment keep runtime's.",
    )
    track_high_score: float = Field(
        0.6, ge=0.0, le=1.0, description="Detector confidence that may start a new track."
    )
    backoff_initial: float = Field(0.5, gt=0.0, description="Seconds before the first reconnection.")
    backoff_max: float = Field(30.0, gt=0.0, description="Longest wait between reconnections, seconds.")
    rtsp_transport: Literal["tcp", "udp"] = Field("tcp", description="How RTSP streams are carried.")
    open_timeout: float = Field(10.0, gt=0.0, description="Seconds to wait for a camera to open.")
    read_timeout: float = Field(5.0, gt=0.0, description="A stream silent this long counts as stalled.")
    decode_device: Literal["auto", "cpu", "cuda"] = Field(
        "auto",
        description="Where video is decoded: 'cuda' on NVDEC (an error where it is missing), 'cpu', or "
        "'auto', NVDEC when a probe decode succeeds on the machine that reads the camera.",
    )
    frames_on_device: bool = Field(
        False,
        description="Keep frames on the PyTorch device (runtime.backend 'torch'): NVDEC's frames stay "
        "in GPU memory, and the colour conversion, the detector's letterbox and the face alignment "
        "run there. Off until a GPU run of benchmarks.gpu_check has measured it.",
    )

    def source_options(self) -> dict[str, object]:
        """How every camera of a run is opened: the network limits, the decoding device, and
        whether NVDEC's frames stay in GPU memory."""
        return {
            "rtsp_transport": self.rtsp_transport,
            "open_timeout": self.open_timeout,
            "read_timeout": self.read_timeout,
            "decode_device": self.decode_device,
            "keep_on_device": self.frames_on_device,
        }


class StoreSettings(BaseModel):
    """Where records and keys live. Defaults: SQLite files in ``data_dir``."""

    url: str | None = Field(
        None, description="SQLAlchemy URL of the main database (postgresql+psycopg://...)."
    )
    keystore_url: str | None = Field(
        None, description="The key store's database: keep it apart from the main database's backups."
    )
    master_key_file: Path | None = Field(
        None, description="Default data_dir/master.key, created on first run."
    )


DEFAULT_CATEGORIES = [
    "wanted_serious_violent",
    "wanted_on_warrant",
    "court_conditions",
    "missing_person",
    "vulnerable_person",
]


class GovernanceSettings(BaseModel):
    """Watchlist rules and retention periods, enforced in code."""

    research_use_acknowledged: bool = Field(
        False,
        description="Let deployments go live on a model pack whose licence permits research use only "
        "(a trial); each such go-live is audited, and reports and the public page say so.",
    )
    allowed_categories: list[str] = Field(
        default_factory=lambda: list(DEFAULT_CATEGORIES), description="Why anyone may be on a watchlist."
    )
    max_watchlist_size: int = Field(10_000, ge=1, description="Most subjects on one watchlist.")
    max_image_age_days: int = Field(730, ge=1, description="Older reference images are flagged.")
    enrol_min_inter_eye: float = Field(
        30.0, ge=0.0, description="Pixels between the eyes a reference photo's face needs."
    )
    enrol_min_quality: float = Field(
        0.5, ge=0.0, le=1.0, description="Quality score a reference photo's face needs."
    )
    enrol_min_detector_score: float = Field(
        0.65,
        ge=0.0,
        le=1.0,
        description="A reference face must be found at this detector score or more. 99% of LFW's faces "
        "score 0.72 or more; drawn faces and textures the detector half-believes score 0.5 to 0.55.",
    )
    watchlist_retention_hours: float = Field(24.0, ge=0.0, description="After a deployment ends.")
    alert_retention_days: float = Field(
        31.0, ge=0.0, description="Days an alert's personal data is kept after its last sighting."
    )
    purge_interval_minutes: float = Field(
        15.0, gt=0.0, description="How often the service applies the retention rules."
    )
    watchlist_sync_seconds: float = Field(
        0.5,
        gt=0.0,
        description="How often running engines compare their galleries with the watchlist: a subject "
        "removed or expired stops being matched within this (plus a frame).",
    )


class ImageSettings(BaseModel):
    """Limits on images we agree to decode."""

    max_pixels: int = Field(64_000_000, ge=1, description="Refuse larger images before decoding.")
    max_bytes: int = Field(100 * 1024 * 1024, ge=1, description="Largest image file read, in bytes.")
    max_decoded_bytes: int = Field(
        512 * 1024 * 1024,
        ge=1,
        description="Refuse, before decoding, an image that would take more memory decoded (pixels × "
        "channels × bytes per sample, from its header).",
    )


class ApiSettings(BaseModel):
    """The service: listening address, sign-in rules, upload limits and the alert webhook."""

    host: str = Field("127.0.0.1", description="Address the service listens on.")
    port: int = Field(8600, ge=1, le=65535, description="Port the service listens on.")
    public_url: str | None = Field(None, description="Origin browsers use (for WebSocket origin checks).")
    secure_cookies: bool = Field(True, description="Send the session cookie over HTTPS (and localhost) only.")
    session_hours: float = Field(
        12.0, gt=0.0, le=24.0, description="A sign-in ends this long after it began (a day at most)."
    )
    session_idle_minutes: float = Field(
        30.0, gt=0.0, le=480.0, description="…or after this long without a request (8 hours at most)."
    )
    login_attempts: int = Field(5, ge=1, description="Failed sign-ins allowed per user and address…")
    login_window_minutes: float = Field(15.0, gt=0.0, description="…within this many minutes.")
    login_attempts_per_address: int = Field(
        30,
        ge=1,
        description="Failed sign-ins allowed per address in the window, whatever user names it tries.",
    )
    login_concurrency: int = Field(
        1, ge=1, description="Password checks (argon2id, 64 MiB each) running at once in the whole service."
    )
    login_queue_seconds: float = Field(
        1.0, gt=0.0, description="How long a sign-in waits for a check to be free before a 503."
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Addresses of reverse proxies whose X-Forwarded-For is believed; with none, the "
        "connection's own address is the client's (sign-in limits count it).",
    )
    max_upload_bytes: int = Field(10 * 1024 * 1024, ge=1024, description="Larger requests get 413.")
    max_upload_pixels: int = Field(40_000_000, ge=1, description="Larger uploaded images are refused.")
    max_upload_decoded_bytes: int = Field(
        64 * 1024 * 1024,
        ge=1,
        description="An upload that would take more memory decoded is refused (413) from its header: a "
        "12-megapixel colour photo takes 36 MiB; a 77 KB PNG can claim gigabytes.",
    )
    max_upload_video_pixels: int = Field(
        3840 * 2160, ge=1, description="An uploaded video's pictures may be at most this big (4K)…"
    )
    max_upload_video_frames: int = Field(15_000, ge=1, description="…and number at most this many.")
    image_concurrency: int = Field(
        2, ge=1, description="Uploaded images and videos decoded and analysed at once; the rest queue…"
    )
    image_queue_seconds: float = Field(10.0, gt=0.0, description="…this long, then get 503.")
    feed_poll_seconds: float = Field(0.05, gt=0.0, description="How often the alert feed is read.")
    socket_recheck_seconds: float = Field(
        2.0,
        gt=0.0,
        description="How often an open alert socket's sign-in is checked again: a user disabled, a "
        "token revoked or a session ended loses the socket within this.",
    )
    preview_fps: float = Field(
        5.0, gt=0.0, le=30.0, description="Frames per second of the console's pixelated previews."
    )
    supervise_seconds: float = Field(2.0, gt=0.0, description="How often live deployments are checked.")
    metrics_token: SecretStr | None = Field(
        None,
        description="A bearer token Prometheus may scrape /metrics with, checked without the database "
        "(so the metrics stay readable while it is down); without it, an administrator's API token.",
    )
    webhook_url: str | None = Field(None, description="POST every alert event here (HMAC-signed).")
    webhook_secret: SecretStr | None = Field(None, description="HMAC key that signs every webhook delivery.")
    webhook_max_backoff: float = Field(
        60.0, gt=0.0, description="Longest wait between webhook retries, seconds."
    )
    data_contact: str = Field(
        "the force's data protection officer", description="Who the public page tells people to ask."
    )


class ClusterSettings(BaseModel):
    """Running a deployment's cameras as Ray actors across machines (``openlfr cluster``)."""

    address: str = Field("auto", description="Ray cluster to join: 'auto' (a node here) or host:port.")
    node_ip: str | None = Field(
        None, description="This machine's address in the cluster (127.0.0.1 for a one-machine cluster)."
    )
    camera_cpus: float = Field(1.0, gt=0.0, description="CPUs reserved by each camera actor.")
    camera_gpus: float = Field(0.0, ge=0.0, description="GPU share reserved by each camera actor.")
    inference: Literal["camera", "node"] = Field(
        "camera",
        description="'node': one recognizer per node (on its GPU if any) shared and batched by its cameras.",
    )
    status_seconds: float = Field(2.0, gt=0.0, description="How often camera actors are polled.")
    call_timeout: float = Field(10.0, gt=0.0, description="A camera silent this long counts as restarting.")


class SearchSettings(BaseModel):
    """Retrospective search over galleries (``openlfr search``, the API and the console)."""

    index: Literal["auto", "exact", "pq", "ivf", "ivfpq", "hnsw", "torch"] = Field(
        "auto",
        description="'auto': exact up to exact_limit templates, the compressed full-scan 'pq' index "
        "above; 'torch': exact, with every template in a PyTorch device's memory (a GPU).",
    )
    exact_limit: int = Field(1_000_000, ge=0, description="Largest gallery 'auto' searches exactly.")
    torch_device: str = Field(
        "cuda", description="Device for index 'torch'; a missing one is an error, never the CPU."
    )
    torch_fp16: bool = Field(
        True, description="Templates in float16 for index 'torch': half the memory, scores within 1e-3."
    )


class Settings(BaseSettings):
    """All openlfr settings."""

    model_config = SettingsConfigDict(
        env_prefix="OPENLFR_", env_nested_delimiter="__", extra="forbid", validate_default=True
    )

    model_pack: str = Field(
        "buffalo_s", description="'buffalo_s' (built in) or the path of a pack folder with manifest.toml."
    )
    data_dir: Path = Field(Path.home() / ".openlfr", description="Where openlfr keeps its state.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="Least severe log lines shown."
    )
    runtime: RuntimeSettings = RuntimeSettings()
    detector: DetectorSettings = DetectorSettings()
    quality: QualitySettings = QualitySettings()
    recognition: RecognitionSettings = RecognitionSettings()
    live: LiveSettings = LiveSettings()
    images: ImageSettings = ImageSettings()
    store: StoreSettings = StoreSettings()
    governance: GovernanceSettings = GovernanceSettings()
    api: ApiSettings = ApiSettings()
    cluster: ClusterSettings = ClusterSettings()
    search: SearchSettings = SearchSettings()
    master_key: SecretStr | None = Field(None, description="Base64 master key; else store.master_key_file.")

    @model_validator(mode="after")
    def _frames_on_device_need_torch(self) -> Settings:
        if self.live.frames_on_device and self.runtime.backend != "torch":
            raise ValueError("live.frames_on_device needs runtime.backend 'torch': frames go to its device")
        if self.live.frames_on_device and self.cluster.inference == "node":
            raise ValueError(
                "live.frames_on_device needs the models beside the camera, not cluster.inference 'node'"
            )
        return self

    def database_url(self) -> str:
        return self.store.url or f"sqlite:///{self.data_dir / 'openlfr.sqlite'}"

    def keystore_url(self) -> str:
        return self.store.keystore_url or f"sqlite:///{self.data_dir / 'keys.sqlite'}"

    def master_key_path(self) -> Path:
        return self.store.master_key_file or self.data_dir / "master.key"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml_path = config_file_path()
        if toml_path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_path))
        return tuple(sources)


def config_file_path() -> Path | None:
    """The TOML settings file in force, if any."""
    explicit = os.environ.get("OPENLFR_CONFIG")
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(f"OPENLFR_CONFIG points to {path}, which is not a file")
        return path
    local = Path("openlfr.toml")
    return local if local.is_file() else None


def load_settings(**overrides: object) -> Settings:
    """Build settings, turning validation problems into one readable ConfigError."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors())
        raise ConfigError(f"invalid settings: {problems}") from None
    except ValueError as exc:  # malformed TOML and similar
        raise ConfigError(f"invalid settings file: {exc}") from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Process-wide settings, read once."""
    return load_settings()
