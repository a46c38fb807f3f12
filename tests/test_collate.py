import pytest
import torch

from zoo.data.collate import pad_collate


def test_variable_length_modalities_are_padded_with_masks():
    samples = [
        {"audio": torch.ones(5), "input_ids": torch.tensor([3, 4]), "emotion": 1, "id": "a"},
        {"audio": torch.ones(3), "input_ids": torch.tensor([5, 6, 7]), "emotion": 0, "id": "b"},
    ]
    batch = pad_collate(samples)
    assert batch["audio"].shape == (2, 5)
    assert batch["audio_mask"].tolist() == [[True] * 5, [True] * 3 + [False] * 2]
    assert batch["audio"][1, 3:].eq(0).all()
    assert batch["attention_mask"].tolist() == [[True, True, False], [True, True, True]]
    assert batch["emotion"].tolist() == [1, 0] and batch["id"] == ["a", "b"]


def test_video_frames_pad_along_time_and_label_sequences_pad_with_ignore_index():
    samples = [{"video": torch.rand(2, 3, 4, 4), "frame_labels": torch.tensor([1, 0])},
               {"video": torch.rand(4, 3, 4, 4), "frame_labels": torch.tensor([0, 0, 1, 1])}]
    batch = pad_collate(samples)
    assert batch["video"].shape == (2, 4, 3, 4, 4)
    assert batch["video_mask"].sum(1).tolist() == [2, 4]
    assert batch["frame_labels"][0].tolist() == [1, 0, -1, -1]


def test_existing_masks_are_kept_and_equal_shapes_stack_without_mask():
    samples = [{"image": torch.zeros(3, 2, 2)}, {"image": torch.ones(3, 2, 2)}]
    assert set(pad_collate(samples)) == {"image"}


def test_shapes_that_differ_beyond_time_are_an_error():
    with pytest.raises(ValueError, match="'features' tensors differ"):
        pad_collate([{"features": torch.zeros(2, 4)}, {"features": torch.zeros(2, 5)}])
