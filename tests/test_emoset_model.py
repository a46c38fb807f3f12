import pytest
import torch

import zoo
from zoo.data import AffectDataModule, pad_collate
from zoo.data.datasets.emoset import EmoSetReader
from zoo.errors import ConfigError
from zoo.nn.backbones import ImageBackbone
from zoo.nn.state import read_state_dict
from zoo.weights import source_files


def _batch(root, n=16, image_size=40):
    ds = EmoSetReader(str(root), image_size=image_size).dataset("train", train=False)
    return pad_collate([ds[i] for i in range(n)])


def test_tiny_model_fits_sixteen_images(emoset_root):
    torch.manual_seed(0)
    model = zoo.create("emoset_attribute", preset="tiny", image_size=40)
    batch = _batch(emoset_root)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    first = None
    for _ in range(60):
        loss = model.losses(model(batch), batch)["loss"]
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        out = model(batch)
        final = model.losses(out, batch)["loss"].item()
    assert final < 0.5 * first, (first, final)
    assert (out["emotion"].argmax(-1) == batch["emotion"]).float().mean() >= 0.9


def test_attribute_heads_ignore_missing_labels():
    model = zoo.create("emoset_attribute", preset="tiny", image_size=32)
    batch = {
        "image": torch.randn(2, 3, 32, 32),
        "emotion": torch.tensor([0, 5]),
        **{f"attributes.{a}": torch.tensor([-1, -1]) for a in
           ("brightness", "colorfulness", "scene", "facial_expression", "human_action")},
        "attributes.object": torch.zeros(2, 409),
        "attributes.object_present": torch.tensor([False, False]),
    }
    losses = model.losses(model(batch), batch)
    assert set(losses) == {"emotion", "loss"}
    assert torch.allclose(losses["loss"], losses["emotion"])


def test_two_class_mode_has_a_polarity_head():
    model = zoo.create("emoset_attribute", preset="tiny", num_emotion_classes=2)
    assert model.labels == ("positive", "negative") and model.emotion_head.out_features == 2


def test_paper_preset_is_resnet50_at_224():
    model = zoo.create("emoset_attribute", preset="paper")
    assert model.backbone.num_features == 2048 and model.hparams.image_size == 224
    assert sum(p.numel() for p in model.backbone.parameters()) == 23_508_032  # timm resnet50 without its fc
    assert model.attributes["scene"].classifier.out_features == 254


def test_packaged_imagenet_mobilenet_weights_are_loaded():
    model = zoo.create("emoset_attribute", preset="mobilenetv2_imagenet")
    reference = read_state_dict(source_files("mobilenet_v2")[0])  # the package's original .pth
    own = model.backbone.model.state_dict()
    assert torch.equal(own["features.0.0.weight"], reference["features.0.0.weight"])
    assert "classifier.1.weight" not in own


def test_backbone_weights_that_do_not_fit_name_the_file(tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "wrong.safetensors"
    save_file({"conv.weight": torch.zeros(1)}, str(path))
    with pytest.raises(zoo.CheckpointError, match=r"wrong\.safetensors: weights do not fit test_resnet"):
        ImageBackbone("test_resnet", str(path))


def test_unknown_model_and_preset_suggest_names():
    with pytest.raises(ConfigError, match="did you mean emoset_attribute"):
        zoo.create("emoset_atribute")
    with pytest.raises(ConfigError, match="unknown preset of emoset_attribute 'huge'"):
        zoo.create("emoset_attribute", preset="huge")
    assert "emoset_attribute" in zoo.list_models("emoset*")


def test_datamodule_and_model_vocabularies_must_agree(emoset_root):
    import lightning as L

    model = zoo.create("emoset_attribute", preset="tiny", image_size=32,
                       attribute_sizes={"brightness": 11, "colorfulness": 11, "scene": 10, "object": 409,
                                        "facial_expression": 6, "human_action": 264})
    dm = AffectDataModule(EmoSetReader(str(emoset_root), image_size=32), batch_size=8)
    trainer = L.Trainer(max_steps=1, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False)
    with pytest.raises(ConfigError, match="do not match the model's attribute_sizes"):
        trainer.fit(model, dm)


def test_local_timm_weights_file_is_accepted(tmp_path):
    from safetensors.torch import save_file

    source = ImageBackbone("test_resnet")
    save_file({k: v.contiguous() for k, v in source.model.state_dict().items()}, str(tmp_path / "w.safetensors"))
    model = zoo.create("emoset_attribute", preset="tiny", backbone_weights=str(tmp_path / "w.safetensors"))
    for key, value in source.model.state_dict().items():
        assert torch.equal(model.backbone.model.state_dict()[key], value), key
