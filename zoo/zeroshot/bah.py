"""Zero-shot A/H prediction with the BAH paper's prompts (González-González et al., arXiv 2505.19328, zero-shot
experiments; prompts as released in sbelharbi/zero-shot-m-llm-bah-prediction).

Prompt variants (``flag``): ``s`` the base instruction; ``d1`` / ``d2`` a definition of ambivalence followed by the
instruction; ``td1`` / ``td2`` the video transcript, then the definition, then the instruction. A model's reply is
mapped to a label as the release does: the text after the last ``:`` is stripped, ``"Non-Ambivalent"`` is 0 and
anything else is 1 (:func:`map_response`).

Two runners:

- :class:`OpenCLIPZeroShot`: per-frame image-text similarity with an open_clip model (Radford et al., CLIP, 2021,
  Sec. 3.1.4 zero-shot transfer). The two candidate texts are the prompt completed with each answer word
  (``prompt + "Non-Ambivalent"`` / ``prompt + "Ambivalent"``); each frame gets a softmax over the two, the video
  the mean of its frames. CLIP's text encoder reads 77 tokens, so long transcripts are truncated by its tokenizer.
- :class:`HFVisionLanguageZeroShot`: any local Hugging Face vision-language model (``AutoProcessor`` +
  ``AutoModelForImageTextToText``; Video-LLaVA in the paper) generates a reply from ``num_frames`` uniformly
  sampled frames and the prompt, which :func:`map_response` turns into a label.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from zoo.errors import ConfigError

BASE_INSTRUCTION = ("Classify the emotion in the video as either 'Non-Ambivalent' or 'Ambivalent'.\n"
                    "Respond with only one word: ")
DEFINITION_1 = ("Definition: Ambivalence is the state of having contradictory or conflicting feelings or attitudes "
                "towards something or someone simultaneously.")
DEFINITION_2 = ("Definition: Ambivalence and Hesitancy is understood as the simultaneous experience of desires for "
                "change and against change.")
TRANSCRIPT_PREFIX = "Video transcript: {transcript}."
ANSWERS = ("Non-Ambivalent", "Ambivalent")
"""Answer words in label order (0: no A/H, 1: A/H)."""
PROMPT_FLAGS = ("s", "d1", "d2", "td1", "td2")
VIDEO_LLAVA_FORMAT = "USER: <video>\n{prompt}ASSISTANT:"
"""The conversation wrapper the release uses with Video-LLaVA."""


def build_prompt(flag: str = "td1", transcript: str = "") -> str:
    """The published prompt for ``flag`` (see the module docstring), without any model-specific chat wrapper."""
    if flag not in PROMPT_FLAGS:
        raise ConfigError(f"unknown prompt flag {flag!r}; known: {list(PROMPT_FLAGS)}")
    definition = {"1": DEFINITION_1, "2": DEFINITION_2}.get(flag[-1], "")
    prefix = TRANSCRIPT_PREFIX.format(transcript=transcript) + " " if flag.startswith("t") else ""
    return f"{prefix}{definition}{BASE_INSTRUCTION}"


def map_response(response: str) -> int:
    """The release's mapping: the text after the last ``:``, stripped; ``Non-Ambivalent`` -> 0, anything else -> 1."""
    return 0 if response.split(":")[-1].strip() == ANSWERS[0] else 1


def sample_frames(path: str | Path, num_frames: int, size: int | None = 224) -> list:
    """``num_frames`` frames picked uniformly over the video (PIL images, resized to ``size`` when given)."""
    from PIL import Image

    from zoo.data.media import decode_video

    frames = decode_video(path, audio_sample_rate=None).frames.numpy()
    idx = np.linspace(0, len(frames) - 1, num_frames).round().astype(int)
    images = [Image.fromarray(frames[i]) for i in idx]
    return [im.resize((size, size), Image.BILINEAR) for im in images] if size else images


@dataclass
class ZeroShotResult:
    label: int  # 0 / 1
    response: str
    prob_ah: float | None = None  # open_clip only
    frame_prob_ah: list[float] | None = None


class OpenCLIPZeroShot:
    """Per-frame image-text similarity zero-shot (see the module docstring).

    Args:
        model_name: an open_clip architecture (``ViT-B-32``, ... or a config added with
            ``open_clip.add_model_config``).
        pretrained: a local checkpoint file (or an open_clip tag resolvable offline from the HF cache); None keeps
            random weights (tests only).
        flag: prompt variant.
        num_frames: frames sampled per video (None: all frames decoded at ``fps``).
    """

    def __init__(self, model_name: str, pretrained: str | None = None, flag: str = "d1",
                 num_frames: int | None = 8, device: str = "cpu"):
        import open_clip

        build_prompt(flag)
        self.model, _, self.preprocess = open_clip.create_model_and_transforms(model_name, pretrained=pretrained,
                                                                               device=device)
        self.model.eval()
        self.tokenizer = open_clip.get_tokenizer(model_name)
        self.flag, self.num_frames, self.device = flag, num_frames, device

    @torch.inference_mode()
    def frame_probabilities(self, images: Sequence, transcript: str = "") -> torch.Tensor:
        """``[N]`` A/H probability of each PIL frame."""
        prompt = build_prompt(self.flag, transcript)
        text = self.tokenizer([prompt + a for a in ANSWERS]).to(self.device)
        pixels = torch.stack([self.preprocess(im) for im in images]).to(self.device)
        img = torch.nn.functional.normalize(self.model.encode_image(pixels), dim=-1)
        txt = torch.nn.functional.normalize(self.model.encode_text(text), dim=-1)
        logits = self.model.logit_scale.exp() * img @ txt.T
        return logits.softmax(-1)[:, 1].float().cpu()

    def predict(self, path: str | Path, transcript: str = "") -> ZeroShotResult:
        frames = sample_frames(path, self.num_frames or 8, size=None)
        probs = self.frame_probabilities(frames, transcript)
        p = float(probs.mean())
        response = ANSWERS[int(p > 0.5)]
        return ZeroShotResult(map_response(response), response, p, [float(x) for x in probs])


class HFVisionLanguageZeroShot:
    """Generation-based zero-shot with a local Hugging Face vision-language model (see the module docstring).

    Args:
        model_dir: a local model folder (config, weights, processor files); nothing is downloaded.
        flag: prompt variant.
        num_frames: frames sampled uniformly per video (8 in the release).
        prompt_format: ``None`` uses the processor's chat template (frames as images); a format string with
            ``{prompt}`` (e.g. :data:`VIDEO_LLAVA_FORMAT`) is used verbatim, with the frames passed as one video when
            it holds ``<video>`` and as images otherwise (a single ``<image>`` is repeated once per frame).
        max_new_tokens: reply length (10 in the release).
    """

    def __init__(self, model_dir: str | Path, flag: str = "td1", num_frames: int = 8,
                 prompt_format: str | None = None, max_new_tokens: int = 10, frame_size: int = 224,
                 device: str = "cpu", dtype: torch.dtype = torch.float32):
        from transformers import AutoModelForImageTextToText, AutoProcessor

        build_prompt(flag)
        self.processor = AutoProcessor.from_pretrained(str(model_dir), local_files_only=True)
        self.model = AutoModelForImageTextToText.from_pretrained(str(model_dir), local_files_only=True,
                                                                 dtype=dtype).to(device).eval()
        self.flag, self.num_frames, self.prompt_format = flag, num_frames, prompt_format
        self.max_new_tokens, self.frame_size, self.device = max_new_tokens, frame_size, device

    def inputs(self, frames: list, transcript: str) -> dict[str, Any]:
        prompt = build_prompt(self.flag, transcript)
        if self.prompt_format is not None:
            text = self.prompt_format.format(prompt=prompt)
            if "<video>" in text:
                media = {"videos": [frames]}
            else:  # one image placeholder per frame
                text = text.replace("<image>", "<image>" * len(frames), 1) if text.count("<image>") == 1 else text
                media = {"images": frames}
        else:
            content = [{"type": "image"} for _ in frames] + [{"type": "text", "text": prompt}]
            text = self.processor.apply_chat_template([{"role": "user", "content": content}],
                                                      add_generation_prompt=True)
            media = {"images": frames}
        return self.processor(text=text, return_tensors="pt", **media).to(self.device)

    @torch.inference_mode()
    def predict(self, path: str | Path, transcript: str = "") -> ZeroShotResult:
        frames = sample_frames(path, self.num_frames, self.frame_size)
        inputs = self.inputs(frames, transcript)
        out = self.model.generate(**inputs, max_new_tokens=self.max_new_tokens, do_sample=False)
        reply = self.processor.batch_decode(out[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)[0]
        return ZeroShotResult(map_response(reply), reply.strip())


def evaluate_split(runner, root: str | Path, videos) -> dict[str, Any]:
    """Run ``runner`` on BAH split rows (:class:`zoo.data.datasets.bah.BAHVideo`) and score with the BAH metrics;
    videos that fail to decode are reported and skipped."""
    from zoo.errors import DataError
    from zoo.metrics.bah import bah_perfs

    preds, target, probs, skipped = [], [], [], []
    for v in videos:
        try:
            result = runner.predict(Path(root) / v.path, v.transcript)
        except DataError as exc:
            skipped.append((v.path, exc.problem))
            continue
        preds.append(result.label)
        target.append(v.label)
        probs.append(result.prob_ah)
    has_probs = bool(probs) and all(p is not None for p in probs)
    perfs = bah_perfs(np.array(target), np.array(preds), probs=np.array(probs) if has_probs else None)
    return {"perfs": perfs, "predictions": preds, "skipped": skipped}
