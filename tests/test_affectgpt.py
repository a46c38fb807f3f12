"""AffectGPT: temporal fusion, pre-fusion, token splicing, answer-only loss, LoRA learning, generation, caching,
``zoo.load`` round trip and ``zoo predict`` on a video file (tiny preset, random weights)."""
from __future__ import annotations

import json
import shutil

import pytest
import torch

import zoo
from zoo.cli import main as cli_main
from zoo.data.collate import pad_collate
from zoo.data.datasets.mer import SAMPLE_ROOT, MERReader
from zoo.errors import ConfigError
from zoo.models.affectgpt import (
    LABEL_ANSWER,
    PLACEHOLDERS,
    PROMPT,
    QUESTION_LABELS,
    AffectGPT,
    format_labels,
    parse_generated_labels,
)
from zoo.nn.prefusion import PreFusion
from zoo.nn.temporal_fusion import AttentionPool, TemporalFusion


@pytest.fixture(scope="module")
def model() -> AffectGPT:
    return zoo.create("affectgpt", "tiny", lr=1e-2)


@pytest.fixture(scope="module")
def batch(model):
    ds = MERReader(image_size=32).dataset("train")
    b = pad_collate([ds[i] for i in range(3)])
    face, audio = model.encode_media(b["frames"], b["audio"])
    cached = {k: v for k, v in b.items() if k not in ("frames", "audio")}
    return b, {**cached, "face_features": face, "audio_features": audio}


def test_attention_pool_uses_raw_weights_as_published():
    pool = AttentionPool(4)
    h = torch.randn(2, 5, 4)
    w = pool.score(h)  # [2, 5, 1], not normalised
    assert torch.allclose(pool(h), (h.transpose(1, 2) @ w).transpose(1, 2), atol=1e-6)
    soft = AttentionPool(4, softmax=True)
    soft.load_state_dict(pool.state_dict())
    assert torch.allclose(soft(h), (h * w.softmax(1)).sum(1, keepdim=True), atol=1e-6)
    mask = torch.tensor([[True] * 5, [True, True, False, False, False]])
    assert torch.allclose(pool(h, mask)[1], (h[1, :2] * w[1, :2]).sum(0, keepdim=True), atol=1e-6)


def test_fusion_kinds_token_counts_and_masking():
    h = torch.randn(2, 8, 16)
    assert TemporalFusion("mean", 16)(h).shape == (2, 1, 16)
    assert torch.allclose(TemporalFusion("mean", 16)(h), h.mean(1, keepdim=True))
    q = TemporalFusion("qformer", 16, num_queries=3, heads=4)
    assert q.num_tokens == 3 and q(h).shape == (2, 3, 16)
    assert len(q.pool.layers) == 2
    mask = torch.ones(2, 8, dtype=torch.bool)
    mask[:, 4:] = False
    h2 = h.clone()
    h2[:, 4:] = 100.0  # masked steps must not matter
    assert torch.allclose(q(h, mask), q(h2, mask), atol=1e-5)
    with pytest.raises(ValueError):
        TemporalFusion("max", 16)


def test_prefusion_uses_raw_modality_weights_and_repeats_the_token():
    pf = PreFusion(audio_dim=6, visual_dim=10, out_dim=5, num_tokens=3)
    a, v = torch.randn(2, 8, 6), torch.randn(2, 8, 10)
    out = pf(a, v)
    assert out.shape == (2, 3, 5)
    assert torch.equal(out[:, 0], out[:, 1]) and torch.equal(out[:, 0], out[:, 2])
    assert pf.audio_proj.out_features == pf.visual_proj.out_features == 10 and pf.weights.out_features == 2
    pa, pv = pf.audio_proj(a.mean(1, keepdim=True)), pf.visual_proj(v.mean(1, keepdim=True))
    w = pf.weights(pf.hidden(torch.cat([pv, pa], -1)))  # reference order [video; audio], raw fc_att output
    assert torch.allclose(out[:, :1], pf.out(w[..., :1] * pv + w[..., 1:] * pa), atol=1e-6)
    softmaxed = w.softmax(-1)
    assert not torch.allclose(out[:, :1], pf.out(softmaxed[..., :1] * pv + softmaxed[..., 1:] * pa), atol=1e-3)


def test_prefusion_matches_hand_computed_values():
    """1-d audio and visual features, identity-like projections, weights chosen by hand (no softmax anywhere)."""
    pf = PreFusion(audio_dim=1, visual_dim=1, out_dim=1, num_tokens=2)
    with torch.no_grad():
        for lin, w, b in ((pf.audio_proj, [[2.0]], [0.0]), (pf.visual_proj, [[1.0]], [1.0]),
                          (pf.hidden, [[1.0, -1.0]], [0.5]), (pf.weights, [[1.0], [-2.0]], [0.0, 1.0]),
                          (pf.out, [[3.0]], [-1.0])):
            lin.weight.copy_(torch.tensor(w))
            lin.bias.copy_(torch.tensor(b))
    audio = torch.tensor([[[1.0], [3.0]]])          # mean 2 -> a = 2 * 2 + 0 = 4
    visual = torch.tensor([[[0.0], [2.0], [4.0]]])  # mean 2 -> v = 2 + 1 = 3
    # h = 1 * v - 1 * a + 0.5 = -0.5; w_v = 1 * h = -0.5; w_a = -2 * h + 1 = 2
    # fused = -0.5 * 3 + 2 * 4 = 6.5; out = 3 * 6.5 - 1 = 18.5, twice
    assert pf(audio, visual).tolist() == [[[18.5], [18.5]]]
    w, v, a = pf.modality_weights(audio, visual)
    assert w.tolist() == [[[-0.5, 2.0]]] and v.item() == 3.0 and a.item() == 4.0


def test_prompt_is_verbatim_and_placeholders_expand_to_query_counts(model):
    text = model.prompt_text("Hi there.", QUESTION_LABELS)
    assert text == PROMPT.format(subtitle="Hi there.", question=QUESTION_LABELS)  # 1 token each with attention
    assert PROMPT.startswith("###Human: The audio and video merged info is: <Multi><MultiHere></Multi>.")
    assert format_labels(["happy", "relaxed"]) == LABEL_ANSWER.format(labels="happy, relaxed")
    ids = model.build_inputs(["Hi"], [QUESTION_LABELS])["input_ids"]
    for token in ("<FaceHere>", "<AudioHere>", "<MultiHere>"):
        assert int((ids == model.placeholder_ids[token]).sum()) == model.token_counts[token] == 1


def test_splice_replaces_exactly_the_placeholder_embeddings(model, batch):
    _, cached = batch
    tokens = model.modality_tokens(cached["face_features"], cached["audio_features"])
    inputs = model.build_inputs(cached["subtitle"], [QUESTION_LABELS] * 3)
    embeds = model.splice(inputs["input_ids"], tokens)
    plain = model.llm.get_input_embeddings()(inputs["input_ids"])
    for name in ("<FaceHere>", "<AudioHere>", "<MultiHere>"):
        where = inputs["input_ids"] == model.placeholder_ids[name]
        assert torch.equal(embeds[where], tokens[name].reshape(-1, embeds.shape[-1]))
    others = ~torch.isin(inputs["input_ids"], torch.tensor(list(model.placeholder_ids.values())))
    assert torch.equal(embeds[others], plain[others])


def test_placeholder_count_mismatch_is_a_clear_error(model, batch):
    _, cached = batch
    tokens = model.modality_tokens(cached["face_features"], cached["audio_features"])
    ids = model.build_inputs(["x"], [QUESTION_LABELS])["input_ids"]
    doubled = torch.cat([ids, torch.tensor([[model.placeholder_ids["<AudioHere>"]]])], dim=1)
    with pytest.raises(ConfigError, match="<AudioHere>.*2.*1 query tokens"):
        model.splice(doubled, {k: v[:1] for k, v in tokens.items()})


def test_loss_is_on_answer_tokens_only(model):
    out = model.build_inputs(["a", "longer subtitle"], [QUESTION_LABELS] * 2, ["Happy.", "Sad and tired."])
    tok = model.tokenizer
    for i, answer in enumerate(["Happy.", "Sad and tired."]):
        answer_ids = tok(answer, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
        labelled = out["labels"][i][out["labels"][i] != -100].tolist()
        assert labelled == answer_ids
        n = int(out["attention_mask"][i].sum())
        assert out["input_ids"][i, n - len(answer_ids): n].tolist() == answer_ids  # right after the prompt
        assert (out["labels"][i, : n - len(answer_ids)] == -100).all() and (out["labels"][i, n:] == -100).all()


def test_hybrid_sampling_draws_both_tasks(model):
    model.train()
    tasks = {model.choose_task(i, "a reason", ["happy"], train=True) for i in range(40)}
    assert tasks == {"description", "labels"}
    assert model.choose_task(0, "", ["happy"], train=True) == "labels"
    assert model.choose_task(0, "reason", [], train=True) == "description"


def test_lora_is_on_all_projections_and_encoders_are_frozen(model):
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    for target in ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"):
        assert any(f"{target}.lora_A" in n for n in names), target
    assert not any(n.startswith(("visual_encoder", "audio_encoder")) for n in names)
    assert not any("lora" not in n and n.startswith("llm") for n in names)
    cfg = model.llm.peft_config["default"]
    assert (cfg.r, cfg.lora_alpha, cfg.lora_dropout) == (16, 32, 0.05)


def test_lora_training_step_lowers_the_loss(model, batch):
    cached = {k: v[:2] for k, v in batch[1].items()}
    model.train()
    model.hparams.hybrid_description_prob = 0.0  # the label task only, so every step sees the same answers
    opt = model.configure_optimizers()
    losses = []
    try:
        for _ in range(5):
            out = model(cached)
            opt.zero_grad()
            out["lm_loss"].backward()
            opt.step()
            losses.append(float(out["lm_loss"].detach()))
    finally:
        model.hparams.hybrid_description_prob = 0.5
    assert losses[-1] < 0.5 * losses[0], losses


def test_generation_and_label_parsing(model, batch):
    raw = {k: v[:2] for k, v in batch[0].items()}
    model.eval()
    results = model.generate(raw, max_new_tokens=4)
    assert len(results) == 2 and all(isinstance(r["description"], str) for r in results)
    assert parse_generated_labels("The character's emotional state is happy, relaxed and Excited.") == [
        "happy", "relaxed", "excited"]


def test_cached_features_equal_live_features(tmp_path, model, batch):
    raw, _ = batch
    model.hparams.feature_cache_dir = str(tmp_path / "cache")
    try:
        ds = MERReader(image_size=32).dataset("train")
        assert model.cache_features(ds, batch_size=4) == len(ds)
    finally:
        model.hparams.feature_cache_dir = None
    cached_ds = MERReader(image_size=32, feature_cache=str(tmp_path / "cache")).dataset("train")
    item = cached_ds[0]
    assert "frames" not in item and item["face_features"].shape == (8, 32)
    cb = pad_collate([cached_ds[i] for i in range(3)])
    face, audio = model.features(cb)
    live_face, live_audio = model.encode_media(raw["frames"], raw["audio"])
    assert torch.allclose(face, live_face, atol=1e-5) and torch.allclose(audio, live_audio, atol=1e-5)
    cb["feature_signature"] = ["0000"] * 3
    with pytest.raises(ConfigError, match="rebuild the feature cache"):
        model.features(cb)


def test_qformer_variant_splices_several_query_tokens():
    m = zoo.create("affectgpt", "tiny", fusion="qformer", num_queries=2, lora_r=None, multi_tokens=3)
    assert m.token_counts["<FaceHere>"] == 2 and m.token_counts["<AudioHere>"] == 2
    assert m.token_counts["<MultiHere>"] == 3
    face, audio = torch.randn(2, 8, 32), torch.randn(2, 8, 32)
    out = m({"face_features": face, "audio_features": audio, "subtitle": ["a", "b"], "reason": ["r", ""],
             "labels": [["happy"], ["sad"]]})
    assert torch.isfinite(out["lm_loss"])
    assert int((out["input_ids"][0] == m.placeholder_ids["<FaceHere>"]).sum()) == 2
    assert int((out["input_ids"][0] == m.placeholder_ids["<MultiHere>"]).sum()) == 3
    assert not any(p.requires_grad for p in m.llm.parameters())  # lora_r=None: LLM frozen


def test_zoo_load_round_trip_and_predict_on_a_video(tmp_path, model, batch, capsys):
    _, cached = batch
    model.eval()
    zoo.save_pretrained(model, tmp_path / "ckpt", name="affectgpt-test")
    loaded = zoo.load(tmp_path / "ckpt")
    with torch.no_grad():
        a = model(cached)
        b = loaded(cached)
    assert torch.equal(a["logits"], b["logits"])
    video = SAMPLE_ROOT / "video" / "sample_00000000.mp4"
    (tmp_path / "clip.mp4").write_bytes(video.read_bytes())
    (tmp_path / "clip.txt").write_text("That is wonderful news!", encoding="utf-8")
    loaded.hparams.max_new_tokens = 4
    zoo.save_pretrained(loaded, tmp_path / "ckpt2")
    assert cli_main(["predict", str(tmp_path / "ckpt2"), str(tmp_path / "clip.mp4"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result[0]["file"].endswith("clip.mp4") and set(result[0]) >= {"labels", "description", "label"}


def test_special_tokens_are_registered(model):
    for token in PLACEHOLDERS:
        ids = model.tokenizer(token, add_special_tokens=False)["input_ids"]
        assert ids == [model.placeholder_ids[token]]


def test_local_weight_files_and_folders_load(tmp_path):
    """The offline loading paths: an open_clip checkpoint file, a transformers speech folder, a causal-LM folder."""
    import open_clip
    from transformers import AutoConfig, AutoModel, AutoModelForCausalLM

    from zoo.models.affectgpt import TINY_AUDIO, TINY_LLM, TINY_VISION, byte_tokenizer

    cfg = {"embed_dim": 32, "vision_cfg": TINY_VISION,
           "text_cfg": {"context_length": 8, "vocab_size": 64, "width": 32, "heads": 2, "layers": 1}}
    (tmp_path / "zoo-test-vit.json").write_text(json.dumps(cfg), encoding="utf-8")
    open_clip.add_model_config(tmp_path / "zoo-test-vit.json")
    clip = open_clip.create_model("zoo-test-vit")
    torch.save(clip.state_dict(), tmp_path / "vit.pt")
    audio_cfg = dict(TINY_AUDIO)
    speech = AutoModel.from_config(AutoConfig.for_model(audio_cfg.pop("model_type"), **audio_cfg))
    speech.save_pretrained(tmp_path / "speech")
    llm_cfg = dict(TINY_LLM)
    lm = AutoModelForCausalLM.from_config(AutoConfig.for_model(llm_cfg.pop("model_type"), **llm_cfg))
    lm.save_pretrained(tmp_path / "llm")
    tok = byte_tokenizer()
    tok.save_pretrained(tmp_path / "llm")
    m = AffectGPT(visual="zoo-test-vit", visual_weights=str(tmp_path / "vit.pt"),
                  audio_encoder=str(tmp_path / "speech"), llm=str(tmp_path / "llm"), image_size=32)
    assert torch.equal(m.visual_encoder.tower.conv1.weight, clip.visual.conv1.weight)
    assert torch.equal(m.audio_encoder.model.encoder.layers[0].attention.q_proj.weight,
                       speech.encoder.layers[0].attention.q_proj.weight)
    base = m.llm.get_base_model()
    assert torch.equal(base.model.layers[0].mlp.up_proj.base_layer.weight, lm.model.layers[0].mlp.up_proj.weight)
    out = m({"face_features": torch.randn(1, 8, 32), "audio_features": torch.randn(1, 8, 32), "subtitle": ["hi"],
             "reason": [""], "labels": [["happy"]]})
    assert torch.isfinite(out["lm_loss"])
    assert m.hparams.audio_config["model_type"] == "hubert"
    zoo.save_pretrained(m, tmp_path / "ckpt")
    shutil.rmtree(tmp_path / "speech")  # the checkpoint alone rebuilds the speech encoder
    again = zoo.load(tmp_path / "ckpt")
    assert torch.equal(again.audio_encoder.model.encoder.layers[0].attention.q_proj.weight,
                       speech.encoder.layers[0].attention.q_proj.weight)


def test_recipe_is_the_tiny_preset_on_the_embedded_sample():
    import yaml

    from zoo.registry import get_entry

    recipe = yaml.safe_load((SAMPLE_ROOT.parents[2] / "recipes" / "affectgpt.yaml").read_text(encoding="utf-8"))
    args = recipe["model"]["init_args"]
    preset = get_entry("affectgpt").presets["tiny"]
    for key in ("vision_cfg", "audio_config", "llm_config", "image_size", "visual_dim", "qformer_heads"):
        assert args[key] == preset[key], key
    assert recipe["model"]["class_path"] == "zoo.models.affectgpt.AffectGPT"
    assert recipe["data"]["reader"]["class_path"] == "zoo.data.datasets.mer.MERReader"
    assert recipe["data"]["reader"]["init_args"]["root"] is None


@pytest.mark.slow
def test_smollm2_preset_trains_lora_on_the_real_language_model():
    pytest.importorskip("gguf")
    from zoo import weights

    try:
        weights.prepare("smollm2_135m_instruct")
    except Exception as exc:  # package not installed here
        pytest.skip(f"SmolLM2 asset unavailable: {exc}")
    m = zoo.create("affectgpt", "smollm2")
    assert m.llm.get_base_model().config.num_hidden_layers == 30
    trainable = [n for n, p in m.llm.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    assert len(trainable) == 30 * 7 * 2  # A and B on q,k,v,o,gate,up,down of every layer
    face, audio = torch.randn(1, 8, 32), torch.randn(1, 8, 32)
    out = m({"face_features": face, "audio_features": audio, "subtitle": ["I can't believe it."], "reason": [""],
             "labels": [["surprised"]]})
    assert torch.isfinite(out["lm_loss"])
    out["lm_loss"].backward()
    lora_b = [p for n, p in m.llm.named_parameters() if "lora_B" in n]
    assert lora_b and any(p.grad is not None and p.grad.abs().sum() > 0 for p in lora_b)
    assert m.prefusion.out.weight.grad is not None
