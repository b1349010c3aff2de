"""Face detection with five keypoints: letterbox, one forward pass per batch, decode, NMS.

``SCRFDDetector`` holds all of it for InsightFace's SCRFD; another family (``vision.yunet``)
only decodes its own outputs (``candidates``).

SCRFD predicts, at strides 8, 16 and 32 with two anchors per cell, a face score, the four
distances from the anchor centre to the box sides, and five keypoint offsets, all in units
of the stride. Decoding is a handful of array operations on every anchor at once.

With ``batch_wait`` the frames of all cameras (threads of one process, or camera actors
sharing a node's inference actor) that arrive within that many seconds go through the
network as one batch; frames with different network input sizes are batched separately.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Self

import cv2
import numpy as np

from openlfr.video.frames import DecodedPixels
from openlfr.vision.batching import MicroBatcher
from openlfr.vision.sessions import ImageSession, ModelSession, feeds_images
from openlfr.vision.tensors import InputScaling
from openlfr.vision.types import Detections

STRIDES = (8, 16, 32)
ANCHORS_PER_CELL = 2


def _resized(image: np.ndarray | DecodedPixels, width: int, height: int) -> np.ndarray:
    """OpenCV's resize: averaging areas when shrinking, bilinear when enlarging; a frame still as
    decoded is scaled and converted by the decoder's scaler in one step."""
    if isinstance(image, DecodedPixels):
        return image.scaled(width, height)
    shrinking = width < image.shape[1] or height < image.shape[0]
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


class SCRFDDetector:
    """Detect faces in BGR images of any size; the image is letterboxed into ``input_size``.

    With ``fit_aspect`` the network input shrinks to the image's aspect ratio (rounded up to
    multiples of 32): a 16:9 frame runs at 640×384 instead of 640×640, 40% less work for the
    same scale, since the padding would hold no faces anyway.
    """

    OUTPUTS = 9  # scores, box distances and keypoints at three strides

    def __init__(
        self,
        session: ModelSession,
        *,
        input_size: tuple[int, int] = (640, 640),
        input_mean: float = 127.5,
        input_std: float = 128.0,
        bgr_to_rgb: bool = True,
        score_threshold: float = 0.5,
        turned_score_threshold: float | None = None,
        nms_threshold: float = 0.4,
        min_face_size: float = 0.0,
        max_faces: int = 512,
        fit_aspect: bool = True,
        batch_wait: float = 0.0,
        max_batch: int = 16,
    ) -> None:
        self.session = session
        self.input_name = session.get_inputs()[0].name
        self.input_size = input_size
        self.scaling = InputScaling(input_mean, input_std, bgr_to_rgb)
        self.feeds_images = feeds_images(session)
        self.score_threshold = score_threshold
        # a face only a quarter-turned still shows (``vision.stills``) must be this sure
        self.turned_score_threshold = (
            score_threshold if turned_score_threshold is None else turned_score_threshold
        )
        self.nms_threshold = nms_threshold
        self.min_face_size = min_face_size
        self.max_faces = max_faces
        self.fit_aspect = fit_aspect
        self.batch_wait = batch_wait
        self.max_batch = max_batch
        self.batchers: dict[tuple[int, ...], MicroBatcher] = {}
        self._centres: dict[tuple[int, int, int], np.ndarray] = {}

    def on_session(self, session: ModelSession) -> Self:
        """This detector, as configured, over another session of the same model."""
        twin = copy.copy(self)
        twin.session, twin.batchers = session, {}
        return twin

    def detect(self, image: np.ndarray | DecodedPixels, score_threshold: float | None = None) -> Detections:
        """Faces in one BGR image (at ``score_threshold`` instead of the configured one, if given)."""
        return self.detect_batch([image], score_threshold)[0]

    def detect_batch(
        self, images: Sequence[np.ndarray | DecodedPixels], score_threshold: float | None = None
    ) -> list[Detections]:
        """Faces in several images with one forward pass (images may differ in size)."""
        if not images:
            return []
        canvas, scales = self.letterbox(images)
        outputs = self.forward(self.network_input(canvas))
        input_hw = (canvas.shape[1], canvas.shape[2])
        return [
            self.postprocess(
                outputs, i, scales[i], (image.shape[0], image.shape[1]), input_hw, score_threshold
            )
            for i, image in enumerate(images)
        ]

    def network_size(self, images: Sequence[np.ndarray | DecodedPixels]) -> tuple[int, int]:
        """(width, height) of the network input for this batch."""
        width, height = self.input_size
        if not self.fit_aspect:
            return width, height
        fitted_w, fitted_h = 32, 32
        for image in images:
            h, w = image.shape[:2]
            scale = min(width / w, height / h)
            fitted_w = max(fitted_w, -(-round(w * scale) // 32) * 32)
            fitted_h = max(fitted_h, -(-round(h * scale) // 32) * 32)
        return min(fitted_w, width), min(fitted_h, height)

    def preprocess(self, images: Sequence[np.ndarray]) -> tuple[np.ndarray, list[float]]:
        """The network's input for these images (see ``network_input``) and each image's scale."""
        canvas, scales = self.letterbox(images)
        return self.network_input(canvas), scales

    def network_input(self, canvas: np.ndarray) -> np.ndarray:
        """What the session is fed: the uint8 letterboxed frames where it scales them on its
        own device, else the normalised NCHW float32 blob."""
        return canvas if self.feeds_images else self.scaling.blob(canvas)

    def letterbox(self, images: Sequence[np.ndarray | DecodedPixels]) -> tuple[np.ndarray, list[float]]:
        """Each image resized into one (B, H, W, 3) uint8 network canvas (top-left, zero padding);
        on their device for frames that are PyTorch tensors there (``live.frames_on_device``)."""
        width, height = self.network_size(images)
        if isinstance(images[0], np.ndarray | DecodedPixels):
            canvas, resize = np.zeros((len(images), height, width, 3), np.uint8), _resized
        else:
            from openlfr.vision import device

            canvas, resize = device.canvas(len(images), height, width, images[0].device), device.resized
        scales = []
        for i, image in enumerate(images):
            h, w = image.shape[:2]
            scale = min(self.input_size[0] / w, self.input_size[1] / h)
            new_w, new_h = min(width, max(1, round(w * scale))), min(height, max(1, round(h * scale)))
            canvas[i, :new_h, :new_w] = resize(image, new_w, new_h)
            scales.append(scale)
        return canvas, scales

    def forward(self, batch: np.ndarray) -> list[np.ndarray]:
        """The output arrays for a ``network_input`` batch, shared with concurrent callers if batching."""
        if self.batch_wait <= 0:
            return self.network(batch)
        batcher = self.batchers.get(batch.shape[1:])
        if batcher is None:  # setdefault is atomic: concurrent first callers end up sharing one
            batcher = self.batchers.setdefault(
                batch.shape[1:], MicroBatcher(self.network, self.max_batch, self.batch_wait)
            )
        return batcher(batch)

    def network(self, batch: np.ndarray) -> list[np.ndarray]:
        """The bare network: a batch from ``network_input`` in, its output arrays out."""
        if isinstance(self.session, ImageSession):
            return self.session.run_images(batch, self.scaling)
        return self.session.run(None, {self.input_name: batch})

    def anchor_centres(
        self, rows: int, cols: int, stride: int, per_cell: int = ANCHORS_PER_CELL
    ) -> np.ndarray:
        """Network-pixel centres of a stride's anchors, row by row, ``per_cell`` at each cell."""
        key = (rows, cols, stride)
        if key not in self._centres:
            ys, xs = np.mgrid[:rows, :cols]
            centres = np.stack([xs, ys], axis=-1).reshape(-1, 2).astype(np.float32) * stride
            self._centres[key] = np.repeat(centres, per_cell, axis=0)
        return self._centres[key]

    def candidates(
        self, outputs: list[np.ndarray], index: int, height: int, width: int, threshold: float
    ) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
        """Boxes, scores and keypoints of image ``index`` at or above ``threshold``, per stride,
        in network pixels: SCRFD's scores, distances to the box sides and keypoint offsets."""
        boxes, scores, points = [], [], []
        for level, stride in enumerate(STRIDES):
            score = outputs[level][index, :, 0]
            keep = np.flatnonzero(score >= threshold)
            if keep.size == 0:
                continue
            centres = self.anchor_centres(height // stride, width // stride, stride)[keep]
            distances = outputs[level + 3][index, keep] * stride
            offsets = outputs[level + 6][index, keep].reshape(-1, 5, 2) * stride
            boxes.append(np.concatenate([centres - distances[:, :2], centres + distances[:, 2:]], axis=1))
            points.append(centres[:, None, :] + offsets)
            scores.append(score[keep])
        return boxes, scores, points

    def postprocess(
        self,
        outputs: list[np.ndarray],
        index: int,
        scale: float,
        image_hw: tuple[int, int],
        input_hw: tuple[int, int] | None = None,
        score_threshold: float | None = None,
    ) -> Detections:
        """Decode image ``index`` of a batch back to original image coordinates."""
        height, width = input_hw or (self.input_size[1], self.input_size[0])
        threshold = self.score_threshold if score_threshold is None else score_threshold
        boxes, scores, points = self.candidates(outputs, index, height, width, threshold)
        if not scores:
            return Detections.empty()
        all_boxes = np.concatenate(boxes) / scale
        all_points = np.concatenate(points) / scale
        all_scores = np.concatenate(scores)
        h, w = image_hw
        all_boxes[:, [0, 2]] = all_boxes[:, [0, 2]].clip(0, w)
        all_boxes[:, [1, 3]] = all_boxes[:, [1, 3]].clip(0, h)
        sides = np.minimum(all_boxes[:, 2] - all_boxes[:, 0], all_boxes[:, 3] - all_boxes[:, 1])
        big_enough = sides >= max(self.min_face_size, 1.0)
        all_boxes, all_points, all_scores = (
            all_boxes[big_enough],
            all_points[big_enough],
            all_scores[big_enough],
        )
        keep = self.suppress(all_boxes, all_scores)
        return Detections(
            all_boxes[keep].astype(np.float32),
            all_scores[keep].astype(np.float32),
            all_points[keep].astype(np.float32),
        )

    def suppress(self, boxes: np.ndarray, scores: np.ndarray) -> np.ndarray:
        """Indices kept by greedy non-maximum suppression, best first, capped at max_faces."""
        if len(scores) == 0:
            return np.zeros((0,), np.int64)
        xywh = np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1)
        keep = cv2.dnn.NMSBoxes(xywh.tolist(), scores.tolist(), 0.0, self.nms_threshold)
        return np.asarray(keep, dtype=np.int64).reshape(-1)[: self.max_faces]
