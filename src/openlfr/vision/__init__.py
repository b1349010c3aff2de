"""The recognition core: images in, faces with quality and templates out. No I/O beyond decoding."""

from openlfr.vision.analyzer import FaceAnalyzer
from openlfr.vision.images import load_image
from openlfr.vision.types import Detections, Face, FaceQuality

__all__ = ["Detections", "Face", "FaceAnalyzer", "FaceQuality", "load_image"]
