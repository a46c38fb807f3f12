import json
import shutil

import pytest
import torch

from zoo.data import AffectDataModule
from zoo.data.datasets.emoset import ATTRIBUTE_SIZES, EmoSetReader
from zoo.errors import DataError, LabelError


@pytest.fixture
def emoset_copy(emoset_root, tmp_path):
    return shutil.copytree(emoset_root, tmp_path / "emoset")


def test_reader_yields_emotion_and_every_attribute(emoset_root):
    reader = EmoSetReader(str(emoset_root), image_size=32)
    ds = reader.dataset("train", train=True)
    assert len(ds) == 24
    sample = ds[0]
    assert sample["image"].shape == (3, 32, 32)
    assert sample["emotion"] == 0 and sample["id"] == "amusement_00000"
    assert sample["attributes.object"].shape == (ATTRIBUTE_SIZES["object"],)
    assert reader.attribute_sizes == ATTRIBUTE_SIZES


def test_missing_attributes_are_ignored_labels(emoset_copy):
    ann = emoset_copy / "annotation" / "awe" / "awe_00000.json"
    ann.write_text(json.dumps({"emotion": "awe", "brightness": 0.3}))
    targets = EmoSetReader(str(emoset_copy)).attribute_targets(ann)
    assert targets["attributes.brightness"] == 3
    for name in ("colorfulness", "scene", "facial_expression", "human_action"):
        assert targets[f"attributes.{name}"] == -1
    assert targets["attributes.object_present"] is False and targets["attributes.object"].sum() == 0


def test_numeric_attribute_values_match_info_keys_however_written(emoset_copy):
    ann = emoset_copy / "annotation" / "awe" / "awe_00000.json"
    ann.write_text(json.dumps({"emotion": "awe", "brightness": 1, "colorfulness": "0.0"}))
    targets = EmoSetReader(str(emoset_copy)).attribute_targets(ann)
    assert (targets["attributes.brightness"], targets["attributes.colorfulness"]) == (10, 0)


def test_two_class_mode_maps_first_four_emotions_to_positive(emoset_root):
    reader = EmoSetReader(str(emoset_root), num_emotion_classes=2)
    labels = {row[1].split("_")[0]: row[0] for row in reader.records("train")}
    assert [labels[e] for e in ("amusement", "awe", "contentment", "excitement")] == [0, 0, 0, 0]
    assert [labels[e] for e in ("anger", "disgust", "fear", "sadness")] == [1, 1, 1, 1]
    assert reader.taxonomy.labels == ("positive", "negative")


def test_unknown_emotion_label_names_the_split_file_and_row(emoset_copy):
    rows = json.loads((emoset_copy / "val.json").read_text())
    rows[2][0] = "joy"
    (emoset_copy / "val.json").write_text(json.dumps(rows))
    with pytest.raises(LabelError, match=r"val\.json: row 2: unknown emotion 'joy'"):
        EmoSetReader(str(emoset_copy)).dataset("val")


def test_truncated_annotation_json_names_the_file(emoset_copy):
    ann = emoset_copy / "annotation" / "amusement" / "amusement_00000.json"
    ann.write_text(ann.read_text()[:15])
    ds = EmoSetReader(str(emoset_copy)).dataset("train")
    with pytest.raises(DataError, match=r"amusement_00000\.json: malformed or truncated JSON"):
        ds[0]


def test_unknown_attribute_value_names_the_annotation(emoset_copy):
    ann = emoset_copy / "annotation" / "amusement" / "amusement_00000.json"
    ann.write_text(json.dumps({"emotion": "amusement", "scene": "moon_base"}))
    with pytest.raises(LabelError, match=r"amusement_00000\.json: unknown scene value 'moon_base'"):
        EmoSetReader(str(emoset_copy)).dataset("train")[0]


def test_non_image_jpg_in_dataset_names_the_file(emoset_copy):
    img = emoset_copy / "image" / "amusement" / "amusement_00000.jpg"
    img.write_bytes(b"<html>not found</html>")
    with pytest.raises(DataError, match=r"amusement_00000\.jpg: not an image"):
        EmoSetReader(str(emoset_copy)).dataset("train")[0]


def test_datamodule_batches_with_the_shared_collate(emoset_root):
    dm = AffectDataModule(EmoSetReader(str(emoset_root), image_size=32), batch_size=5)
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    assert batch["image"].shape == (5, 3, 32, 32)
    assert batch["attributes.object"].shape == (5, 409) and batch["attributes.object_present"].dtype == torch.bool
    assert len(batch["id"]) == 5
