"""BAH pipeline speed: video decoding (frames/s), face detection + cropping (frames/s), and end-to-end clips/s of the
A/H recognizer with and without the preprocessing cache and the frozen-encoder feature cache.

``zoo bench bah [--quick]`` (or ``python benchmarks/bah.py``) runs on the embedded generated sample
(``zoo/assets/bah_sample``: 112x112 H.264 + AAC, 3 s at 10 fps).

Rows:
- ``decode``: PyAV decoding of every frame plus the audio track (:func:`zoo.data.media.decode_video`).
- ``face_detect``: MTCNN on the decoded frames plus square cropping.
- ``face_detect_ckplus48`` (full run with ``ZOO_DATA`` set): MTCNN on the 981 real CK+48 faces, found / total.
- ``clips_end_to_end``: reader preprocessing (decode, detect, log-mel) + model forward, per clip, with an empty
  preprocessing cache (``cold``) and with it filled (``warm``), for the ``paper``-sized model (frozen ResNet-50 and
  MiniLM) with and without the frozen-encoder feature cache (``features``: first pass fills it, second reads it).
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from zoo.bench import write_results


def _videos(limit: int) -> list[Path]:
    from zoo.data.datasets.bah import SAMPLE_ROOT

    return sorted(SAMPLE_ROOT.glob("Videos/*/Visite_1/*.mp4"))[:limit]


def bench_decode(videos: list[Path]) -> dict[str, Any]:
    from zoo.data.media import decode_video

    frames = 0
    start = time.perf_counter()
    for v in videos:
        frames += len(decode_video(v).frames)
    seconds = time.perf_counter() - start
    return {"stage": "decode", "setting": "all frames + audio", "clips": len(videos), "frames": frames,
            "seconds": seconds, "frames_per_s": frames / seconds, "clips_per_s": len(videos) / seconds}


def bench_faces(videos: list[Path]) -> dict[str, Any]:
    from zoo.data.media import decode_video
    from zoo.nn.face import MTCNNDetector, crop_faces

    detector = MTCNNDetector()
    decoded = [decode_video(v, fps=5.0, audio_sample_rate=None).frames.numpy() for v in videos]
    frames = sum(len(d) for d in decoded)
    start = time.perf_counter()
    found = 0
    for d in decoded:
        boxes = detector.detect(d)
        crop_faces(d, boxes, 112)
        found += sum(b is not None for b in boxes)
    seconds = time.perf_counter() - start
    return {"stage": "face_detect", "setting": "mtcnn @5 fps, 112 px crops", "clips": len(videos),
            "frames": frames, "seconds": seconds, "frames_per_s": frames / seconds,
            "clips_per_s": len(videos) / seconds, "faces_found": found}


def bench_faces_ckplus() -> dict[str, Any] | None:
    """Real-data check of the face path: MTCNN on every CK+48 face (48 px grey crops upscaled to 144 px), when
    ``$ZOO_DATA/ckplus48`` exists."""
    import numpy as np
    from PIL import Image

    from zoo.data.datamodule import data_root
    from zoo.nn.face import MTCNNDetector

    root = data_root("ckplus48")
    if root is None:
        return None
    detector = MTCNNDetector(min_face_size=40)
    files = sorted((root / "CK+48").glob("*/*.png"))
    start = time.perf_counter()
    found = 0
    for folder in sorted({f.parent for f in files}):
        group = [f for f in files if f.parent == folder]
        frames = np.stack([np.asarray(Image.open(f).convert("RGB").resize((144, 144), Image.BILINEAR))
                           for f in group])
        found += sum(b is not None for b in detector.detect(frames))
    seconds = time.perf_counter() - start
    return {"stage": "face_detect_ckplus48", "setting": "mtcnn, 981 real faces upscaled to 144 px",
            "frames": len(files), "seconds": seconds, "frames_per_s": len(files) / seconds, "faces_found": found}


def bench_end_to_end(videos: list[Path], preset: str, feature_cache: bool) -> list[dict[str, Any]]:
    import zoo
    from zoo.data.collate import pad_collate
    from zoo.data.datasets.bah import BAHDataset, BAHReader, parse_split_file
    from zoo.models.bah import EncoderFeatureCache

    rows = []
    with tempfile.TemporaryDirectory() as cache_dir:
        reader = BAHReader(None, fps=5.0, max_frames=16, face_size=112 if preset == "paper" else 32,
                           face_detector="mtcnn", cache_dir=cache_dir)
        wanted = {str(v.relative_to(reader.root)) for v in videos}
        split_rows = [r for s in reader.splits for r in parse_split_file(reader.split_dir / f"{s}.txt")
                      if r.path in wanted]
        # the cache serves frozen encoders only: with it on, the face and text encoders are frozen (as in `paper`)
        model = zoo.create("bah_ah", preset, freeze_visual=feature_cache or preset == "paper",
                           freeze_text=feature_cache or preset == "paper").eval()
        if feature_cache:
            model.attach_feature_cache(EncoderFeatureCache(None))
        ds = BAHDataset(reader, split_rows, train=False)
        for phase in ("cold", "warm"):
            start = time.perf_counter()
            with torch.inference_mode():
                for i in range(len(ds)):
                    model(pad_collate([ds[i]]))
            seconds = time.perf_counter() - start
            rows.append({"stage": "clips_end_to_end",
                         "setting": f"{preset} model, preprocessing cache {phase}, "
                                    f"feature cache {'on' if feature_cache else 'off'}",
                         "clips": len(ds), "seconds": seconds, "clips_per_s": len(ds) / seconds})
    return rows


def main(quick: bool = False, out_dir: Path = Path("benchmarks/results")) -> dict[str, Any]:
    torch.manual_seed(0)
    videos = _videos(4 if quick else 12)
    rows = [bench_decode(videos), bench_faces(videos)]
    for preset in ("tiny",) if quick else ("tiny", "paper"):
        for feature_cache in (False, True):
            rows += bench_end_to_end(videos if preset == "tiny" else videos[:4], preset, feature_cache)
    if not quick:
        ckplus = bench_faces_ckplus()
        if ckplus is not None:
            rows.append(ckplus)
    write_results(out_dir, "bah", rows, extra={"videos": len(videos), "quick": quick,
                                                "data": "zoo/assets/bah_sample (generated, 112x112, 3 s @ 10 fps)"})
    return {"rows": rows}
