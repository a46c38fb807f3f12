"""OV-MER metrics: hand-computed cases, an independent loop implementation of the MERTools wheel metric, and the
official tables / published MER2024 numbers on the shared real data."""
from __future__ import annotations

import csv
import random
import zipfile

import numpy as np
import pytest

from zoo.errors import DataError
from zoo.metrics.ovmer import (
    EmotionWheel,
    OVMERScore,
    hit_rate,
    ovmer_scores,
    parse_label_list,
    read_synonym_groups,
    read_wheel_xlsx,
    set_precision_recall,
    synonym_group_scores,
    wheel_clusters,
)

WHEEL = {"happy": {"joyful": ["delighted"], "content": ["relaxed"]}, "sad": {"lonely": ["isolated"]}}


def tiny_wheel() -> EmotionWheel:
    formats = {w: [w] for w in ["happy", "joyful", "delighted", "content", "relaxed", "sad", "lonely", "isolated",
                                "glad"]}
    formats["happily"] = ["happy"]
    raw = {w: [w] for w in formats if w not in ("glad", "happily")}
    raw["glad"] = ["happy"]
    return EmotionWheel(formats, raw, {"w": WHEEL})


def test_parse_label_list_formats():
    assert parse_label_list("['Happy', ' relaxed ']") == ["happy", "relaxed"]
    assert parse_label_list("happy, sad") == ["happy", "sad"]
    assert parse_label_list("[]") == [] and parse_label_list("") == []
    with pytest.raises(DataError, match="labels.csv"):
        parse_label_list("['happy', ", "labels.csv")


def test_wheel_clusters_two_levels():
    l1, l2 = wheel_clusters(WHEEL, "level1"), wheel_clusters(WHEEL, "level2")
    assert l1["delighted"] == "happy" and l1["lonely"] == "sad" and l1["happy"] == "happy"
    assert l2["delighted"] == "joyful" and l2["relaxed"] == "content"
    assert l2["happy"] == "content"  # a level-1 word maps to its alphabetically first level-2 child


def test_set_metric_hand_computed():
    w = tiny_wheel()
    refs = {"a": ["happy", "lonely"], "b": ["sad"], "c": ["unknownword"], "d": ["relaxed"]}
    preds = {"a": ["glad", "delighted", "relaxed"], "b": [], "c": ["happy"], "d": ["happily", "isolated"]}
    s = ovmer_scores(refs, preds, w)
    # level1: a: G={happy,sad} P={happy} -> p=1, r=1/2; b: P empty -> 0,0; c skipped (G empty); d: G={happy},
    # P={happy,sad} -> p=1/2, r=1.   P = (1+0+.5)/3 = .5, R = (.5+0+1)/3 = .5
    assert s["precision_level1"] == pytest.approx(0.5) and s["recall_level1"] == pytest.approx(0.5)
    assert s["f_level1"] == pytest.approx(0.5) and s["w_level1_samples"] == 3
    # level2: a: G={content(happy), lonely}, P={content(glad->happy), joyful, content} = {content, joyful}
    #   -> p=1/2, r=1/2; b: 0,0; d: G={content}, P={content, lonely} -> p=1/2, r=1.
    assert s["precision_level2"] == pytest.approx(1 / 3) and s["recall_level2"] == pytest.approx(0.5)
    assert s["f_level2"] == pytest.approx(2 * (1 / 3) * 0.5 / (1 / 3 + 0.5))


def reference_overlap(name2gt, name2pred, format_mapping, raw_mapping, wheel_map):
    """A loop transcription of the MERTools case3 evaluation (function by function, no shared code)."""
    def backward(label):
        if label not in format_mapping:
            return ""
        whole = []
        for fmt in format_mapping[label]:
            for raw in raw_mapping.get(fmt, []):
                whole.append(raw)
        for level1 in sorted(whole):
            if level1 in wheel_map:
                return wheel_map[level1]
        return ""

    acc, rec = [], []
    for name in name2gt:
        gt = set(x for x in (backward(i.lower().strip()) for i in name2gt[name]) if x != "")
        pred = set(x for x in (backward(i.lower().strip()) for i in name2pred[name]) if x != "")
        if len(gt) == 0:
            continue
        if len(pred) == 0:
            acc.append(0)
            rec.append(0)
        else:
            acc.append(len(gt & pred) / len(pred))
            rec.append(len(gt & pred) / len(gt))
    return np.mean(acc), np.mean(rec)


def test_default_wheel_matches_reference_loop_on_random_sets():
    w = EmotionWheel.default()
    vocab = sorted(w.format_mapping) + ["nonsense", "blorp"]
    rng = random.Random(3)
    refs = {f"s{i}": rng.sample(vocab, rng.randint(0, 4)) for i in range(60)}
    preds = {f"s{i}": rng.sample(vocab, rng.randint(0, 4)) for i in range(60)}
    scores = ovmer_scores(refs, preds, w)
    fs = []
    for name in w.wheels:
        for level in ("level1", "level2"):
            p, r = reference_overlap(refs, preds, w.format_mapping, w.raw_mapping,
                                     wheel_clusters(w.wheels[name], level))
            assert scores[f"{name}_{level}_precision"] == pytest.approx(p)
            assert scores[f"{name}_{level}_recall"] == pytest.approx(r)
            if level == "level1":
                fs.append(2 * p * r / (p + r))
    assert scores["f_level1"] == pytest.approx(np.mean(fs))


def test_streaming_metric_equals_function():
    w = EmotionWheel.default()
    refs = [["happy", "relieved"], ["furious"], ["worried", "shy"], []]
    preds = [["glad"], ["annoyed", "sad"], [], ["happy"]]
    metric = OVMERScore(w, "level1")
    metric.update(refs[:2], preds[:2])
    metric.update(refs[2:], preds[2:])
    expected = ovmer_scores({str(i): r for i, r in enumerate(refs)}, {str(i): p for i, p in enumerate(preds)}, w,
                            levels=("level1",))
    assert float(metric.compute()) == pytest.approx(expected["f_level1"], abs=1e-6)


def test_synonym_groups_and_hit_rate():
    refs = {"a": ["joyful", "relieved"], "b": ["worry"]}
    preds = {"a": ["happy", "calm"], "b": ["anxious", "worry"]}
    groups = {"a": [["happy", "joyful"], ["relieved"], ["calm"]], "b": [["worry", "anxious"]]}
    s = synonym_group_scores(refs, preds, groups)
    # a: G={happy, relieved}, P={happy, calm} -> 1/2, 1/2; b: G={worry}, P={worry} -> 1, 1
    assert s["precision"] == pytest.approx(0.75) and s["recall"] == pytest.approx(0.75)
    assert hit_rate(["happy", "sad", "angry"], [["Happy", "calm"], ["angry"], []]) == pytest.approx(1 / 3)


def test_official_table_readers_on_generated_files(tmp_path):
    """format.csv / synonym.xlsx / wheel*.xlsx in the official layout, written here with a minimal xlsx writer."""
    def xlsx(path, rows):
        cells = []
        for r, row in enumerate(rows, 1):
            cs = "".join(f'<c r="{chr(65 + c)}{r}" t="inlineStr"><is><t>{v}</t></is></c>'
                         for c, v in enumerate(row) if v is not None)
            cells.append(f'<row r="{r}">{cs}</row>')
        sheet = ('<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
                 + "".join(cells) + "</sheetData></worksheet>")
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("xl/worksheets/sheet1.xml", sheet)

    xlsx(tmp_path / "wheel1.xlsx", [["level1", "level2", "level3"], ["Happy", "Joyful", "Delighted"],
                                    [None, None, "Cheerful"], ["Sad", "Lonely", "Isolated"]])
    header = [x for r in range(1, 9) for x in (f"word_run{r}", f"synonym_run{r}")]
    xlsx(tmp_path / "synonym.xlsx", [header, ["joyful", "glad, elated"] * 8, ["lonely", "solitary"] * 8])
    (tmp_path / "format.csv").write_text('name,format\njoyful,"joyful,joyfully"\nglad,"glad,gladly"\n'
                                         'lonely,"lonely,loneliness"\ncheerful,cheerful\n', encoding="utf-8")
    assert read_wheel_xlsx(tmp_path / "wheel1.xlsx") == {"happy": {"joyful": ["delighted", "cheerful"]},
                                                         "sad": {"lonely": ["isolated"]}}
    w = EmotionWheel.from_folder(tmp_path)
    assert w.normalise("gladly", "wheel1", "level1") == "happy"
    assert w.normalise("loneliness", "wheel1", "level2") == "lonely"
    assert w.normalise("unmapped", "wheel1", "level1") is None
    xlsx(tmp_path / "synonym.xlsx", [header, ["notonwheel", "x"] * 8])
    with pytest.raises(DataError, match="synonym.xlsx"):
        EmotionWheel.from_folder(tmp_path)
    (tmp_path / "wheel1.xlsx").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="wheel1.xlsx"):
        EmotionWheel.from_folder(tmp_path)


def test_empty_predictions_score_zero():
    assert set_precision_recall([({"a"}, set())]) == (0.0, 0.0, 1)


# -- real data -----------------------------------------------------------------------------------------------------
def _openset(path):
    with open(path, encoding="utf-8") as f:
        return {r["name"]: r["openset"] for r in csv.DictReader(f)}


def _mertools_parse(text: str) -> list[str]:
    """The MERTools string-to-list behaviour: splits on quotes, so "don't believe" becomes 'don', 't believe'."""
    body = text.strip()[1:-1].replace('"', "'")
    return [x.strip().lower() for x in body.split("'") if x.strip() not in ("", ",")]


@pytest.fixture
def ov_store(zoo_data):
    root = zoo_data / "mertools" / "MER2024" / "ov_store"
    if not root.is_dir():
        pytest.skip("mertools/MER2024/ov_store not in ZOO_DATA")
    return root


def test_mer2024_published_synonym_metric_reproduced(ov_store):
    gt, pred = _openset(ov_store / "check-openset.csv"), _openset(ov_store / "predict-openset.csv")
    groups = read_synonym_groups(ov_store / "openset-synonym.zip")
    assert len(groups) == 332
    # MER2024/README.md: "set level accuracy: 0.581777108433735; recall: 0.4977911646586345"
    ref = synonym_group_scores({k: _mertools_parse(v) for k, v in gt.items()},
                               {k: _mertools_parse(v) for k, v in pred.items()}, groups)
    assert ref["precision"] == pytest.approx(0.581777108433735, abs=1e-12)
    assert ref["recall"] == pytest.approx(0.4977911646586345, abs=1e-12)
    # Our list parser keeps "don't believe" whole; one sample (sample_00001774) then scores 0.5 instead of 1.
    ours = synonym_group_scores({k: parse_label_list(v) for k, v in gt.items()},
                                {k: parse_label_list(v) for k, v in pred.items()}, groups)
    assert ours["precision"] == pytest.approx(0.581777108433735 - 0.5 / 332, abs=1e-12)


def test_official_wheels_on_ov_mer_baseline(zoo_data, ov_store):
    folder = zoo_data / "mertools" / "MER2025" / "MER2025_Track23" / "emotion_wheel"
    w = EmotionWheel.from_folder(folder)
    assert len(w.wheels) == 5 and len(w.raw_mapping) == 1255 and len(w.format_mapping) == 7386
    gt = {k: parse_label_list(v) for k, v in _openset(ov_store / "check-openset.csv").items()}
    pred = {k: parse_label_list(v) for k, v in _openset(ov_store / "predict-openset.csv").items()}
    s = ovmer_scores(gt, pred, w)
    perfect = ovmer_scores(gt, gt, w)
    assert perfect["f_level1"] == pytest.approx(1.0) and perfect["f_level2"] == pytest.approx(1.0)
    assert 0.3 < s["f_level2"] < s["f_level1"] < 0.8
