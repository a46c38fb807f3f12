"""BAH reader: split files, participant ids, frame labels (yaml and segments), decoding, broken-video reports."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from zoo.data.collate import pad_collate
from zoo.data.datasets.bah import (
    SAMPLE_ROOT,
    SPLIT_SUBDIR,
    BAHReader,
    load_annotations,
    parse_split_file,
    participant_id,
    segments_to_frame_labels,
)
from zoo.data.datasets.bah_sample import render
from zoo.data.media import write_video
from zoo.errors import DataError, LabelError


@pytest.fixture(scope="module")
def bah_reader(tmp_path_factory):
    """The embedded BAH sample, read small and fast (whole frames as faces, 32 px, at most 6 frames at 5 fps)."""
    return BAHReader(None, face_detector="full_frame", face_size=32, fps=5.0, max_frames=6,
                     cache_dir=str(tmp_path_factory.mktemp("bah_cache")))


def test_split_rows_split_on_first_two_commas_only(tmp_path):
    path = tmp_path / "test.txt"
    path.write_text(
        "Videos/82593/Visite_1/82593_Question_1_2024-10-02 16-19-36_Video-DESKTOP.mp4,0,After waking up, I make "
        "coffee, I take the dog for a walk, and then I drink my coffee.\n"
        "\n"
        "Videos/82711/Visite_1/82711_Question_2_Video.mp4,1,Um, well, I, I don't know\n"
        "Videos/82711/Visite_1/82711_Question_3_Video.mp4,With A-H,Eat.\n", encoding="utf-8")
    rows = parse_split_file(path)
    assert [r.label for r in rows] == [0, 1, 1]
    assert rows[0].transcript == ("After waking up, I make coffee, I take the dog for a walk, and then I drink my "
                                  "coffee.")
    assert rows[1].transcript == "Um, well, I, I don't know"
    assert rows[0].path.endswith("16-19-36_Video-DESKTOP.mp4")
    assert [r.participant for r in rows] == ["82593", "82711", "82711"]


def test_split_file_errors_name_the_file_and_row(tmp_path):
    bad_label = tmp_path / "train.txt"
    bad_label.write_text("Videos/1/Visite_1/a.mp4,0,ok\nVideos/1/Visite_1/b.mp4,maybe,hm\n", encoding="utf-8")
    with pytest.raises(LabelError, match=r"train\.txt.*row 2.*'maybe'"):
        parse_split_file(bad_label)
    no_participant = tmp_path / "val.txt"
    no_participant.write_text("clips/a.mp4,1,text\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"val\.txt row 1.*no participant folder"):
        parse_split_file(no_participant)
    with pytest.raises(DataError, match="split file not found"):
        parse_split_file(tmp_path / "missing.txt")
    assert participant_id("Videos/82711/Visite_1/x.mp4") == "82711"


def test_frame_labels_from_yaml_at_the_decoding_fps(tmp_path):
    ann = tmp_path / "video_annotation.yaml"
    labels = [0] * 10 + [1] * 10 + [0] * 10  # 30 native frames at 10 fps: A/H from 1.0 s to 1.9 s
    rows = "\n".join(f"  - [{i}, {v}]" for i, v in enumerate(labels))
    ann.write_text(f"1/Visite_1/clip:\n  frame_annotation:\n{rows}\n", encoding="utf-8")
    a = load_annotations(ann)["1/Visite_1/clip"]
    at_5fps = a.labels_at(np.arange(15) / 5.0, native_fps=10.0)
    assert at_5fps.tolist() == [0] * 5 + [1] * 5 + [0] * 5
    assert a.labels_at(np.array([3.5]), 10.0).tolist() == [-1]  # past the annotated frames


def test_frame_labels_from_onset_offset_segments(tmp_path):
    assert segments_to_frame_labels([(0.5, 1.0), (2.2, 2.4)], 12, fps=4).tolist() == \
        [0, 0, 1, 1, 1, 0, 0, 0, 0, 1, 0, 0]
    ann = tmp_path / "video_annotation.yaml"
    ann.write_text("a:\n  segments: [[0.5, 1.0]]\nb:\n  segments:\n  - {onset: 0.0, offset: 0.25}\n",
                   encoding="utf-8")
    loaded = load_annotations(ann)
    assert loaded["a"].labels_at(np.arange(6) / 4, 4).tolist() == [0, 0, 1, 1, 1, 0]
    assert loaded["b"].labels_at(np.arange(3) / 4, 4).tolist() == [1, 1, 0]


@pytest.mark.parametrize("text, problem", [
    ("a: [unclosed\n", "malformed YAML"),
    ("a:\n  segments: [[2.0, 1.0]]\n", "offset 1.0 precedes onset 2.0"),
    ("a:\n  frame_annotation: [[0, 3]]\n", "label 3"),
    ("a:\n  nothing: 1\n", "expected 'frame_annotation' or 'segments'"),
])
def test_malformed_annotations_name_the_file(tmp_path, text, problem):
    ann = tmp_path / "video_annotation.yaml"
    ann.write_text(text, encoding="utf-8")
    with pytest.raises(DataError, match=problem) as info:
        load_annotations(ann)
    assert str(ann) in str(info.value)


def test_sample_reader_yields_aligned_modalities_and_labels(bah_reader):
    ds = bah_reader.dataset("train")
    assert len(ds) == 12 and bah_reader.reports["train"].broken == []
    sample = ds[1]
    t = sample["video"].shape[0]
    assert sample["video"].shape == (t, 3, 32, 32)
    assert sample["audio"].shape == (t, 96, 64) and sample["audio_present"]
    assert sample["frame_labels"].shape == (t,)
    assert sample["label"] == 1 and sample["frame_labels"].max() == 1  # the A/H answer has A/H frames
    assert ds[0]["label"] == 0 and ds[0]["frame_labels"].max() == 0
    batch = pad_collate([ds[i] for i in range(3)])
    assert batch["video_mask"].all() and batch["input_ids"].shape[0] == 3
    assert set(bah_reader.participants("train")) == {"90001", "90002", "90003", "90004"}


def test_embedded_sample_is_small_and_in_the_release_layout():
    size = sum(p.stat().st_size for p in SAMPLE_ROOT.rglob("*") if p.is_file())
    assert size < 2 * 1024 * 1024
    for split in ("train", "val", "test"):
        rows = parse_split_file(SAMPLE_ROOT / SPLIT_SUBDIR / f"{split}.txt")
        assert {r.label for r in rows} == {0, 1}
        assert all((SAMPLE_ROOT / r.path).is_file() for r in rows)
    train = {r.participant for r in parse_split_file(SAMPLE_ROOT / SPLIT_SUBDIR / "train.txt")}
    test = {r.participant for r in parse_split_file(SAMPLE_ROOT / SPLIT_SUBDIR / "test.txt")}
    assert not train & test  # participant-disjoint, as the release


def test_broken_silent_and_faceless_videos_are_reported_not_fatal(tmp_path):
    rng = np.random.default_rng(0)
    root = tmp_path / "bah"
    face = np.asarray(__import__("zoo.data.datasets.bah_sample", fromlist=["_face"])._face(40))
    good_frames, wave, _ = render(6, 5, 80, None, rng, face)
    write_video(root / "Videos/1/Visite_1/good.mp4", good_frames, 5, wave)
    write_video(root / "Videos/1/Visite_1/silent.mp4", good_frames, 5, None)
    noise = rng.integers(0, 255, size=(6, 80, 80, 3), dtype=np.uint8) // 8  # dark noise: no face
    write_video(root / "Videos/2/Visite_1/faceless.mp4", noise, 5, wave)
    (root / "Videos/2/Visite_1/broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(rng.integers(0, 255, 500)))
    split = root / SPLIT_SUBDIR
    split.mkdir(parents=True)
    (split / "test.txt").write_text("\n".join(f"Videos/{p},{i % 2},words, more words" for i, p in enumerate(
        ["1/Visite_1/good.mp4", "1/Visite_1/silent.mp4", "2/Visite_1/faceless.mp4", "2/Visite_1/broken.mp4"])))
    reader = BAHReader(str(root), face_detector="mtcnn", face_size=32, tokenizer=None,
                       cache_dir=str(tmp_path / "cache"))
    ds = reader.dataset("test")
    report = reader.reports["test"]
    assert [p for p, _ in report.broken] == ["Videos/2/Visite_1/broken.mp4"]
    assert "could not be decoded" in report.broken[0][1] or "no video stream" in report.broken[0][1]
    assert report.no_audio == ["Videos/1/Visite_1/silent.mp4"]
    assert report.no_face == ["Videos/2/Visite_1/faceless.mp4"]
    assert len(ds) == 3
    silent = ds[1]
    assert not silent["audio_present"] and torch.count_nonzero(silent["audio"]) == 0
    assert ds[0]["face_found"].all() and not ds[2]["face_found"].any()
    # the cache holds the preprocessing: a second reader reads it back identically
    again = BAHReader(str(root), face_detector="mtcnn", face_size=32, tokenizer=None,
                      cache_dir=str(tmp_path / "cache")).dataset("test")
    assert torch.equal(again[0]["video"], ds[0]["video"])
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 3
