"""The Empathic-Insight-Voice system: presets, learning, zoo.load round trip, feature cache, weight loading, CLI."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import zoo
from zoo.cli import main as zoo_main
from zoo.data.collate import pad_collate
from zoo.data.datasets.emonet_voice import SAMPLE_ROOT, EmoNetVoiceReader
from zoo.errors import CheckpointError, ConfigError
from zoo.models.empathic_voice import TINY_ENCODER, EmpathicVoiceModel
from zoo.nn.experts import FullEmbeddingMLP, expert_file_name
from zoo.taxonomies import EMONET40

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def train_batch() -> dict:
    reader = EmoNetVoiceReader(max_seconds=4.0)
    dataset = reader.dataset("train")
    return pad_collate([dataset[i] for i in range(len(dataset))])


def _tiny(**overrides) -> EmpathicVoiceModel:
    torch.manual_seed(0)
    return zoo.create("empathic_voice", "tiny", **overrides)


def test_presets_have_the_published_sizes():
    hp = zoo.registry.get_entry("empathic_voice").presets
    assert hp["paper"]["encoder"]["d_model"] == 768 and hp["paper"]["encoder"]["max_source_positions"] == 1500
    assert hp["paper"]["chunk_seconds"] == 30.0
    assert (hp["paper"]["projection_dim"], hp["paper"]["hidden_dims"]) == (64, [64, 32, 16])
    assert (hp["paper_large"]["projection_dim"], hp["paper_large"]["hidden_dims"]) == (128, [128, 64, 32])
    model = _tiny()
    assert model.labels == EMONET40.labels and model.experts.num_experts == 40
    assert model.experts.in_features == TINY_ENCODER["max_source_positions"] * TINY_ENCODER["d_model"]
    assert not any(p.requires_grad for p in model.encoder.parameters())
    model.train()
    assert not model.encoder.encoder.training  # frozen encoders stay in eval mode


def test_window_and_encoder_must_agree():
    with pytest.raises(ConfigError, match="needs 400"):
        _tiny(chunk_seconds=3.0)
    with pytest.raises(ConfigError, match="freeze_encoder=True"):
        _tiny(freeze_encoder=False, feature_cache="/tmp/unused")


def test_tiny_model_learns_the_sample(train_batch):
    model = _tiny(lr=1e-2)
    with torch.no_grad():
        features = model.encode(train_batch)
    batch = {**train_batch, "features": features}
    optimiser = model.configure_optimizers()
    model.train()
    losses = []
    for _ in range(40):
        optimiser.zero_grad()
        loss = model.losses(model(batch), batch)["loss"]
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses[::5]


def test_zoo_load_round_trip_gives_identical_outputs(tmp_path, train_batch):
    model = _tiny(extra_dimensions=["Arousal"]).eval()
    card = zoo.save_pretrained(model, tmp_path / "ckpt", metrics=[])
    loaded = zoo.load(tmp_path / "ckpt")
    assert loaded.labels == (*EMONET40.labels, "Arousal")
    assert card["preprocessing"]["chunk_seconds"] == 4.0 and card["preprocessing"]["n_mels"] == 80
    with torch.no_grad():
        torch.testing.assert_close(loaded(train_batch)["intensity"], model(train_batch)["intensity"], rtol=0, atol=0)
    predictions = loaded.predict_files([SAMPLE_ROOT / "audio" / "anger_m3_l2.flac"])
    assert predictions[0]["label"] in loaded.labels and len(predictions[0]["intensities"]) == 41


def test_feature_cache_reuses_encoder_states(tmp_path, train_batch):
    model = _tiny(feature_cache=str(tmp_path / "cache")).eval()
    with torch.no_grad():
        first = model(train_batch)["intensity"]
        assert model.cache.misses == 20 and len(model.cache) == 20
        calls = []
        model.encoder.register_forward_hook(lambda *args: calls.append(1))
        second = model(train_batch)["intensity"]
    assert not calls and model.cache.hits == 20
    torch.testing.assert_close(first, second, rtol=0, atol=0)
    other = _tiny(feature_cache=str(tmp_path / "cache"), encoder={**TINY_ENCODER, "init_std": 0.2})
    assert other.cache.root != model.cache.root  # other encoder weights never read these features


def test_released_experts_import_matches_running_them_one_by_one(tmp_path, train_batch):
    model = _tiny().eval()
    seq, dim = model.encoder.seq_len, model.encoder.embed_dim
    experts = {}
    for i, label in enumerate(EMONET40.labels):
        torch.manual_seed(100 + i)
        expert = FullEmbeddingMLP(seq, dim, 8, [8, 8, 4], [0.0, 0.1, 0.1, 0.1]).eval()
        state = expert.state_dict()
        if i % 2:
            state = {f"_orig_mod.{k}": v for k, v in state.items()}
        name = "Hopelessness" if label == "Helplessness" else label
        torch.save(state, tmp_path / expert_file_name(name))
        experts[label] = expert
    used = model.import_official_experts(tmp_path)
    assert used["Helplessness"].name == "model_Hopelessness_best.pth"
    with torch.no_grad():
        states = model.encode(train_batch)
        fused = model({"features": states})["intensity"]
        one_by_one = torch.stack([experts[label](states) for label in EMONET40.labels], dim=-1)
    torch.testing.assert_close(fused, one_by_one, atol=1e-5, rtol=0)
    (tmp_path / expert_file_name("Awe")).unlink()
    with pytest.raises(CheckpointError, match=r"no expert for 'Awe': expected model_Awe_best\.pth"):
        model.import_official_experts(tmp_path)


def _save_whisper(folder: Path, seed: int = 0) -> dict:
    from transformers import WhisperConfig, WhisperForConditionalGeneration

    torch.manual_seed(seed)
    config = WhisperConfig(**{k: v for k, v in TINY_ENCODER.items() if k != "init_std"}, decoder_layers=1,
                           decoder_attention_heads=2, decoder_ffn_dim=16, vocab_size=64, max_target_positions=16,
                           decoder_start_token_id=1, pad_token_id=0, bos_token_id=1, eos_token_id=2)
    model = WhisperForConditionalGeneration(config)
    model.save_pretrained(folder)
    return {k.removeprefix("model.encoder."): v for k, v in model.state_dict().items()
            if k.startswith("model.encoder.")}


def test_encoder_weights_from_a_local_folder_and_the_hf_cache(tmp_path, monkeypatch):
    expected = _save_whisper(tmp_path / "whisper")
    model = _tiny(encoder_weights=str(tmp_path / "whisper"))
    for key, value in model.encoder.encoder.state_dict().items():
        torch.testing.assert_close(value, expected[key], rtol=0, atol=0)
    cache = tmp_path / "hub"
    snapshot = cache / "models--someone--tiny-whisper" / "snapshots" / "0123abcd"
    snapshot.parent.mkdir(parents=True)
    (tmp_path / "whisper").rename(snapshot)
    (cache / "models--someone--tiny-whisper" / "refs").mkdir()
    (cache / "models--someone--tiny-whisper" / "refs" / "main").write_text("0123abcd")
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(cache))
    cached = _tiny(encoder_weights="hf:someone/tiny-whisper")
    torch.testing.assert_close(cached.encoder.encoder.conv1.weight, expected["conv1.weight"], rtol=0, atol=0)
    with pytest.raises(CheckpointError, match="not in the Hugging Face cache"):
        _tiny(encoder_weights="hf:someone/absent")
    with pytest.raises(ConfigError, match="does not match the model's encoder config"):
        _tiny(encoder_weights=str(snapshot), encoder={**TINY_ENCODER, "encoder_layers": 3})


def test_data_dimensions_must_match_the_model():
    class _Trainer:
        datamodule = type("DM", (), {"reader": EmoNetVoiceReader(emotions=["Anger", "Fear"])})()

    model = _tiny()
    model.trainer = _Trainer()
    with pytest.raises(ConfigError, match="differ from the model's"):
        model.setup("fit")


def test_recipe_fits_and_predicts_from_the_command_line(tmp_path, capsys):
    args = ["fit", "--config", str(REPO / "recipes" / "empathic_voice.yaml"), "--trainer.max_epochs=2",
            f"--trainer.default_root_dir={tmp_path}", f"--model.init_args.feature_cache={tmp_path / 'cache'}"]
    assert zoo_main(args) == 0
    ckpt = next(tmp_path.rglob("*.ckpt"))
    assert zoo_main(["predict", str(ckpt), str(SAMPLE_ROOT / "audio" / "sadness_m3_l2.flac"), "--json"]) == 0
    out = capsys.readouterr().out
    result = json.loads(out[out.index("["):])
    assert result[0]["file"].endswith("sadness_m3_l2.flac") and len(result[0]["intensities"]) == 40
