"""MER / EMER readers: the embedded sample, generated fixtures in the real layout, bad input, the real CSVs."""
from __future__ import annotations

import csv
import shutil

import numpy as np
import pytest
import soundfile as sf
import torch

from zoo.data import AffectDataModule
from zoo.data.datasets.affectgpt_sample import make_affectgpt_sample
from zoo.data.datasets.mer import (
    SAMPLE_ROOT,
    MERReader,
    audio_clips,
    read_emer_v1,
    read_emer_v2,
    read_openset,
    read_subtitles,
    uniform_indices,
)
from zoo.errors import ConfigError, DataError, LabelError


@pytest.fixture(scope="module")
def mer_root(tmp_path_factory):
    return make_affectgpt_sample(tmp_path_factory.mktemp("mer"), clips=6, size=32, seconds=2.0, seed=1)


def test_embedded_sample_is_small_and_readable():
    size = sum(p.stat().st_size for p in SAMPLE_ROOT.rglob("*") if p.is_file())
    assert size < 2_000_000
    reader = MERReader(image_size=32)
    assert len(reader.names("train")) == 8 and len(reader.names("val")) == 2 and len(reader.names("test")) == 2
    sample = reader.dataset("test")[0]
    assert sample["frames"].shape == (8, 3, 32, 32) and sample["audio"].shape == (8, 32000)


def test_every_media_source_decodes(mer_root):
    reader = MERReader(str(mer_root), image_size=24)
    by_name = {s["name"]: s for split in ("train", "val", "test") for s in reader.dataset(split)}
    # clip 0: face .npy; clip 1: WAV audio; clip 2: face folder; clip 3: video frames + AAC track
    for name in ("sample_00000000", "sample_00000001", "sample_00000002", "sample_00000003"):
        s = by_name[name]
        assert s["frames"].shape == (8, 3, 24, 24) and 0 <= s["frames"].min() and s["frames"].max() <= 1
        assert s["audio"].shape == (8, 32000) and s["audio"].abs().max() > 0.1
    assert by_name["sample_00000000"]["labels"] == ["happy", "excited"]
    assert by_name["sample_00000001"]["subtitle"] == "I guess it does not matter anymore."
    assert by_name["sample_00000005"]["labels"] == ["neutral"]  # an empty openset list means neutral


def test_datamodule_batches_text_and_media(mer_root):
    dm = AffectDataModule(MERReader(str(mer_root), image_size=24), batch_size=3)
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    assert batch["frames"].shape == (3, 8, 3, 24, 24) and batch["audio"].shape == (3, 8, 32000)
    assert isinstance(batch["labels"][0], list) and isinstance(batch["reason"][0], str)


def test_sampling_helpers():
    assert uniform_indices(16, 8) == [0, 2, 4, 6, 8, 10, 12, 14]
    assert uniform_indices(3, 5) == [0, 1, 2, 2, 2]
    clips = audio_clips(torch.arange(10.0), 3, 4)
    assert clips.tolist() == [[0, 1, 2, 3], [3, 4, 5, 6], [6, 7, 8, 9]]
    assert audio_clips(torch.ones(2), 2, 4).tolist() == [[1, 1, 0, 0], [1, 1, 0, 0]]


def test_corrupt_video_names_the_file(mer_root, tmp_path):
    root = tmp_path / "bad"
    shutil.copytree(mer_root, root)
    (root / "video" / "sample_00000003.mp4").write_bytes(b"\x00not a video" * 10)
    ds = MERReader(str(root), image_size=24).dataset("train")
    with pytest.raises(DataError, match="sample_00000003.mp4"):
        ds[3]


def test_wrong_sample_rate_is_refused_when_strict(mer_root, tmp_path):
    root = tmp_path / "sr"
    shutil.copytree(mer_root, root)
    sf.write(root / "audio" / "sample_00000001.wav", np.zeros(8000, np.float32), 8000)
    with pytest.raises(DataError, match="sample_00000001.wav.*8000 Hz"):
        MERReader(str(root), image_size=24, strict_sample_rate=True).dataset("train")[1]
    assert MERReader(str(root), image_size=24).dataset("train")[1]["audio"].shape == (8, 32000)  # resampled


def test_malformed_annotations_name_the_file(tmp_path):
    bad_cols = tmp_path / "labels.csv"
    bad_cols.write_text("name,labels\nsample_1,happy\n", encoding="utf-8")
    with pytest.raises(DataError, match="labels.csv.*openset"):
        read_openset(bad_cols)
    bad_list = tmp_path / "open.csv"
    bad_list.write_text('name,openset\nsample_1,"[\'happy\', "\n', encoding="utf-8")
    with pytest.raises(DataError, match="open.csv \\(row 2\\)"):
        read_openset(bad_list)
    short = tmp_path / "gt-eng.csv"
    short.write_text("names,emotions,subtitles,reasons\nsample_1,happy\n", encoding="utf-8")
    with pytest.raises(DataError, match="gt-eng.csv: row 2"):
        read_emer_v1(short)
    short.write_text("names,emotions,subtitles,reasons\nsample_1,elated,hi,reason\n", encoding="utf-8")
    with pytest.raises(LabelError, match="gt-eng.csv: row 2: unknown MER2023 emotion 'elated'"):
        read_emer_v1(short)
    with pytest.raises(DataError, match="missing.csv"):
        read_subtitles(tmp_path / "missing.csv")
    with pytest.raises(ConfigError):
        MERReader(str(tmp_path), format="emer_v3")


def test_missing_media_names_the_clip(mer_root, tmp_path):
    root = tmp_path / "nomedia"
    shutil.copytree(mer_root, root)
    (root / "video" / "sample_00000003.mp4").unlink()
    with pytest.raises(DataError, match="sample_00000003"):
        MERReader(str(root), image_size=24).dataset("train")[3]


def test_emer_formats_from_generated_files(tmp_path):
    with (tmp_path / "gt-eng.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["names", "emotions", "subtitles", "reasons"])
        w.writerow(["sample_00000648", "angry", "Don't talk to me.", "He roared, so he is angry."])
    r = MERReader(str(tmp_path), format="emer_v1", labels="gt-eng.csv", load_media=False)
    assert r.dataset("test")[0] == {"name": "sample_00000648", "subtitle": "Don't talk to me.", "labels": ["angry"],
                                    "reason": "He roared, so he is angry."}
    with (tmp_path / "final-EMER-reason.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["name", "chinese", "english"])
        w.writerow(["sample_00000000", "他很开心", "He smiles, so he is happy."])
    r = MERReader(str(tmp_path), format="emer_v2", reasons="final-EMER-reason.csv", labels=None, load_media=False)
    assert r.dataset("train")[0]["reason"] == "He smiles, so he is happy."


# -- real data (annotation-only: MER2023 media are EULA-gated and not in the shared folder) ----------------------
def test_real_emer_and_mertools_annotations(zoo_data):
    emer = zoo_data / "affectgpt_emer" / "EMER"
    mertools = zoo_data / "mertools"
    if not emer.is_dir() or not mertools.is_dir():
        pytest.skip("affectgpt_emer / mertools not in ZOO_DATA")
    v1 = read_emer_v1(emer / "dataset-v1" / "gt-eng.csv")
    assert len(v1) == 100 and v1["sample_00000648"]["emotion"] == "angry"
    v2 = read_emer_v2(emer / "dataset-v2" / "final-EMER-reason.csv")
    assert len(v2) == 332
    ov = read_openset(mertools / "MER2024" / "ov_store" / "check-openset.csv")
    assert len(ov) == 332 and set(ov) == set(v2) and ov["sample_00000007"] == ["excited", "joyful", "happy"]
    subs = read_subtitles(mertools / "MERBench" / "dataset" / "mer2023-dataset-process" /
                          "transcription-engchi-polish.csv")
    assert len(subs) == 5030 and set(ov) <= set(subs)
    reader = MERReader(str(emer / "dataset-v2"), format="emer_v2", reasons="final-EMER-reason.csv",
                       labels=str(mertools / "MER2024" / "ov_store" / "check-openset.csv"),
                       subtitles=str(mertools / "MERBench" / "dataset" / "mer2023-dataset-process" /
                                     "transcription-engchi-polish.csv"), load_media=False)
    ds = reader.dataset("test")
    assert len(ds) == 332 and all(ds[i]["labels"] and ds[i]["subtitle"] is not None for i in range(len(ds)))
