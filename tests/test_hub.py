"""zoo.save_pretrained / zoo.load: round trips, verification, and refusal of bad files."""
import json
import pickle

import lightning as L
import pytest
import torch
from safetensors.torch import save_file

import zoo
from zoo.data import AffectDataModule, pad_collate
from zoo.data.datasets.emoset import EmoSetReader
from zoo.errors import CheckpointError
from zoo.hub import add_to_index


@pytest.fixture
def trained(emoset_root, tmp_path):
    """A tiny model after a few Lightning steps (so BatchNorm statistics and vocab hparams are non-default)."""
    torch.manual_seed(0)
    model = zoo.create("emoset_attribute", preset="tiny", image_size=40)
    dm = AffectDataModule(EmoSetReader(str(emoset_root), image_size=40), batch_size=8)
    trainer = L.Trainer(max_steps=3, accelerator="cpu", default_root_dir=tmp_path, enable_progress_bar=False,
                        enable_model_summary=False, logger=False, limit_val_batches=1)
    trainer.fit(model, dm)
    batch = pad_collate([EmoSetReader(str(emoset_root), image_size=40).dataset("test")[i] for i in range(4)])
    return model.eval(), trainer, batch


def _outputs(model, batch):
    with torch.inference_mode():
        return model(batch)


def test_save_and_load_round_trip_gives_identical_outputs(trained, tmp_path):
    model, _, batch = trained
    card = zoo.save_pretrained(model, tmp_path / "ckpt", metrics=[{"dataset": "fixture", "split": "test",
                                                                    "values": {"acc": 0.5}}])
    loaded = zoo.load(tmp_path / "ckpt")
    assert not loaded.training
    for key, value in _outputs(model, batch).items():
        assert torch.equal(value, _outputs(loaded, batch)[key]), key
    assert loaded.hparams.attribute_vocab == model.hparams.attribute_vocab
    assert card["labels"] == list(model.labels) and card["weights"]["bytes"] > 0
    assert loaded.card["metrics"][0]["values"]["acc"] == 0.5


def test_lightning_checkpoint_loads_with_weights_only(trained, tmp_path):
    model, trainer, batch = trained
    path = tmp_path / "model.ckpt"
    trainer.save_checkpoint(path)
    loaded = zoo.load(path)
    assert torch.equal(_outputs(model, batch)["emotion"], _outputs(loaded, batch)["emotion"])


def test_indexed_name_resolves_and_verifies(trained, tmp_path, monkeypatch):
    model, _, batch = trained
    zoo.save_pretrained(model, tmp_path / "ckpts" / "emo-tiny")
    add_to_index(tmp_path / "ckpts" / "emo-tiny", "emo-tiny-test", tmp_path / "ckpts")
    monkeypatch.setenv("ZOO_CHECKPOINTS", str(tmp_path / "ckpts"))
    assert "emo-tiny-test" in zoo.list_models(pretrained=True)
    assert torch.equal(_outputs(zoo.load("emo-tiny-test"), batch)["emotion"], _outputs(model, batch)["emotion"])


def test_tampered_weights_are_refused_naming_the_file(trained, tmp_path):
    model, _, _ = trained
    zoo.save_pretrained(model, tmp_path / "ckpt")
    weights = tmp_path / "ckpt" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-10] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"model\.safetensors: sha256 mismatch"):
        zoo.load(tmp_path / "ckpt")


def test_truncated_weights_without_card_are_refused(trained, tmp_path):
    model, _, _ = trained
    zoo.save_pretrained(model, tmp_path / "ckpt")
    weights = tmp_path / "ckpt" / "model.safetensors"
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(weights.read_bytes()[:5000])
    with pytest.raises(CheckpointError, match=r"cut\.safetensors: not a readable safetensors file"):
        zoo.load(cut)


def test_foreign_safetensors_is_not_a_zoo_checkpoint(tmp_path):
    path = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(2)}, str(path))
    with pytest.raises(CheckpointError, match=r"foreign\.safetensors: .*not a zoo checkpoint"):
        zoo.load(path)


class _Exploit:
    def __reduce__(self):
        return (print, ("pwned",))


def test_pickled_code_in_a_ckpt_is_never_executed(tmp_path, capsys):
    path = tmp_path / "evil.ckpt"
    with open(path, "wb") as f:
        pickle.dump({"state_dict": {}, "zoo_model": "emoset_attribute", "payload": _Exploit()}, f)
    with pytest.raises(CheckpointError, match=r"evil\.ckpt: not a loadable Lightning checkpoint"):
        zoo.load(path)
    assert "pwned" not in capsys.readouterr().out


def test_card_for_another_model_shape_is_refused(trained, tmp_path):
    model, _, _ = trained
    zoo.save_pretrained(model, tmp_path / "ckpt")
    card_path = tmp_path / "ckpt" / "card.json"
    card = json.loads(card_path.read_text())
    card["weights"]["sha256"] = "0" * 64
    card_path.write_text(json.dumps(card))
    with pytest.raises(CheckpointError, match="sha256 mismatch"):
        zoo.load(tmp_path / "ckpt")


def test_unknown_name_lists_the_indexed_checkpoints(tmp_path):
    with pytest.raises(CheckpointError, match="no such checkpoint name, folder or file"):
        zoo.load(tmp_path / "nothing-here")


def test_failed_save_keeps_the_previous_checkpoint(trained, tmp_path, monkeypatch):
    model, _, _ = trained
    zoo.save_pretrained(model, tmp_path / "ckpt")
    before = (tmp_path / "ckpt" / "model.safetensors").read_bytes()

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("zoo.hub.save_file", boom)
    with pytest.raises(OSError, match="disk full"):
        zoo.save_pretrained(model, tmp_path / "ckpt")
    assert (tmp_path / "ckpt" / "model.safetensors").read_bytes() == before
    assert [p.name for p in (tmp_path / "ckpt").iterdir() if p.name.startswith(".")] == []


def test_shipped_sample_checkpoint_loads_by_name_and_predicts():
    from zoo.data.datasets.emoset import EmoSetReader

    assert "emoset_attribute-tiny-sample" in zoo.list_models(pretrained=True)
    model = zoo.load("emoset_attribute-tiny-sample")
    records = EmoSetReader(image_size=64).records("test")
    results = model.predict_files([str(r[2]) for r in records])
    accuracy = sum(model.labels[r[0]] == p["label"] for r, p in zip(records, results, strict=True)) / len(records)
    assert accuracy == pytest.approx(model.card["metrics"][0]["values"]["emotion_acc"], abs=1e-3)
