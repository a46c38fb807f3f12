"""Face detection and cropping behind one interface (the BAH reader caches the crops on disk).

The BAH release ships faces cropped and aligned per frame (its preprocessing uses RetinaFace); here the
detector is MTCNN (Zhang et al., "Joint Face Detection and Alignment using Multi-task Cascaded Convolutional
Networks", IEEE SPL 2016), whose P/R/O-net weights the PyPI package ``facenet-pytorch`` ships
(``pip install --no-deps facenet-pytorch``). Every detector implements :class:`FaceDetector`:
``detect(frames [N, H, W, 3] uint8) -> list[FaceBox | None]`` (the most confident face per frame, None when no face
is found). :class:`FullFrameDetector` is the explicit no-detector choice (the whole frame is the "face").

:func:`crop_faces` turns boxes into square crops; frames without a face reuse the nearest detected box of the same
video (faces move little between frames) or, when the video has no face at all, the centre square.
"""
from __future__ import annotations

import abc
from dataclasses import dataclass

import numpy as np
import torch

from zoo.errors import ConfigError


@dataclass(frozen=True)
class FaceBox:
    x0: float
    y0: float
    x1: float
    y1: float
    score: float


class FaceDetector(abc.ABC):
    """Finds the most confident face in each RGB frame."""

    name: str = "detector"

    @abc.abstractmethod
    def detect(self, frames: np.ndarray) -> list[FaceBox | None]:
        """``frames``: uint8 ``[N, H, W, 3]``; one box (or None) per frame."""

    def fingerprint(self) -> str:
        """Identifies the detector and its settings (part of the crop cache key)."""
        return self.name


class FullFrameDetector(FaceDetector):
    """No detection: every frame's whole image is its face box (for already-cropped faces, e.g. the release's)."""

    name = "full_frame"

    def detect(self, frames: np.ndarray) -> list[FaceBox | None]:
        h, w = frames.shape[1:3]
        return [FaceBox(0.0, 0.0, float(w), float(h), 1.0) for _ in range(len(frames))]


class MTCNNDetector(FaceDetector):
    """MTCNN with the weights shipped by ``facenet-pytorch`` (loaded by that package with ``torch.load``, which is
    ``weights_only`` by default since torch 2.6).

    Args:
        min_face_size: smallest face side in pixels searched for.
        thresholds: P-, R-, O-net acceptance thresholds (MTCNN's defaults).
        min_score: boxes below this O-net probability count as no face.
        batch_size: frames per detector call (frames of one video share a size, so they batch).
    """

    name = "mtcnn"

    def __init__(self, min_face_size: int = 20, thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7),
                 min_score: float = 0.9, batch_size: int = 32, device: str = "cpu"):
        try:
            from facenet_pytorch import MTCNN
        except ModuleNotFoundError:
            raise ConfigError("the MTCNN face detector needs its weights package: "
                              "pip install --no-deps facenet-pytorch==2.6.0") from None
        self.min_face_size = min_face_size
        self.thresholds = tuple(thresholds)
        self.min_score = min_score
        self.batch_size = batch_size
        self.model = MTCNN(min_face_size=min_face_size, thresholds=list(thresholds), keep_all=False,
                           select_largest=False, post_process=False, device=device)

    def fingerprint(self) -> str:
        return f"mtcnn:{self.min_face_size}:{self.thresholds}:{self.min_score}"

    @torch.inference_mode()
    def detect(self, frames: np.ndarray) -> list[FaceBox | None]:
        frames = np.ascontiguousarray(frames)
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise ValueError(f"frames must be uint8 [N, H, W, 3], got {frames.dtype} {frames.shape}")
        out: list[FaceBox | None] = []
        for start in range(0, len(frames), self.batch_size):
            chunk = frames[start : start + self.batch_size]
            boxes, probs = self.model.detect(chunk)
            for b, p in zip(boxes, probs, strict=True):
                if b is None or p is None or len(b) == 0 or p[0] is None or float(p[0]) < self.min_score:
                    out.append(None)
                else:
                    x0, y0, x1, y1 = (float(v) for v in b[0])
                    out.append(FaceBox(x0, y0, x1, y1, float(p[0])))
        return out


def build_detector(name: str) -> FaceDetector:
    """``mtcnn`` or ``full_frame``."""
    if name == "mtcnn":
        return MTCNNDetector()
    if name == "full_frame":
        return FullFrameDetector()
    raise ConfigError(f"unknown face detector {name!r}; known: mtcnn, full_frame")


def _square(box: FaceBox, margin: float, width: int, height: int) -> tuple[int, int, int, int]:
    cx, cy = (box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2
    side = max(box.x1 - box.x0, box.y1 - box.y0) * (1 + margin)
    side = max(2.0, min(side, float(min(width, height))))
    x0 = int(round(min(max(cx - side / 2, 0), width - side)))
    y0 = int(round(min(max(cy - side / 2, 0), height - side)))
    s = int(round(side))
    return x0, y0, x0 + s, y0 + s


def crop_faces(frames: np.ndarray, boxes: list[FaceBox | None], size: int, margin: float = 0.2) -> np.ndarray:
    """Square crops ``[N, size, size, 3]`` uint8 around each frame's face (see the module docstring for frames
    without one)."""
    from PIL import Image

    n, h, w = frames.shape[:3]
    found = [i for i, b in enumerate(boxes) if b is not None]
    centre = FaceBox((w - min(h, w)) / 2, (h - min(h, w)) / 2, (w + min(h, w)) / 2, (h + min(h, w)) / 2, 0.0)
    crops = np.empty((n, size, size, 3), dtype=np.uint8)
    for i in range(n):
        box = boxes[i]
        if box is None:
            box = boxes[min(found, key=lambda j: abs(j - i))] if found else centre
        x0, y0, x1, y1 = _square(box, margin if box is not centre else 0.0, w, h)
        crop = Image.fromarray(frames[i, y0:y1, x0:x1]).resize((size, size), Image.BILINEAR)
        crops[i] = np.asarray(crop)
    return crops
