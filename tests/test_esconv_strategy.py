"""ESConv reader, Kang et al.'s proficiency / preference / preference bias, and the next-strategy classifier."""
from __future__ import annotations

import json

import lightning as L
import numpy as np
import pytest
import torch
from scipy.optimize import minimize
from sklearn.metrics import f1_score

from zoo.data.collate import pad_collate
from zoo.data.datamodule import AffectDataModule
from zoo.data.datasets.esconv import (
    NO_STRATEGY,
    SITUATION,
    ESConvStrategyReader,
    make_esconv_sample,
    read_esconv_json,
    read_esconv_jsonl,
)
from zoo.errors import ConfigError, DataError, LabelError
from zoo.hub import load, save_pretrained
from zoo.metrics.preference_bias import (
    StrategyPreferenceBias,
    bradley_terry_preferences,
    preference_bias,
    strategy_report,
)
from zoo.registry import create
from zoo.taxonomies import ESCONV8


# -- reader ----------------------------------------------------------------------------------------------------------
def _reformat_line(strategies):
    dialog = [{"text": "hello", "speaker": "usr"}]
    for s in strategies:
        dialog += [{"text": f"reply {s}", "speaker": "sys", "strategy": s}, {"text": "ok", "speaker": "usr"}]
    return json.dumps({"emotion_type": "anxiety", "problem_type": "job crisis", "situation": "lost my job",
                       "dialog": dialog})


@pytest.fixture
def reformat_root(tmp_path):
    for name, n in (("train.txt", 3), ("valid.txt", 1), ("test.txt", 1)):
        (tmp_path / name).write_text("\n".join(_reformat_line(["Question", "Others"]) for _ in range(n)) + "\n")
    return tmp_path


def test_reformat_splits_give_one_sample_per_supporter_turn_with_history(reformat_root):
    reader = ESConvStrategyReader(str(reformat_root), max_turns=12)
    assert [len(reader.conversations[s]) for s in ("train", "val", "test")] == [3, 1, 1]
    ds = reader.dataset("train")
    assert len(ds) == 6
    first, second = ds[0], ds[1]
    assert first["turn_text"] == ["lost my job", "hello"]
    assert first["turn_speaker"].tolist() == [SITUATION, 0]
    assert first["strategy"] == ESCONV8.index("Question")
    # the second supporter turn sees the first one's strategy in its history
    assert second["turn_strategy"].tolist() == [NO_STRATEGY, NO_STRATEGY, ESCONV8.index("Question"), NO_STRATEGY]
    assert second["strategy"] == ESCONV8.index("Others")
    batch = pad_collate([first, second])
    assert batch["turn_speaker"].shape == (2, 4) and batch["turn_speaker_mask"].sum().item() == 6


def test_original_schema_with_earlier_spellings(tmp_path):
    path = tmp_path / "ESConv.json"
    path.write_text(json.dumps([{"situation": "s", "emotion_type": "sadness", "problem_type": "p",
                                 "survey_score": {}, "dialog": [
                                     {"speaker": "seeker", "annotation": {"feedback": "4"}, "content": "hi\n"},
                                     {"speaker": "supporter", "annotation": {"strategy": "Questions"},
                                      "content": "how are you?"},
                                     {"speaker": "listener", "annotation": {"strategy": "Other"}, "content": "x"}]}]))
    conv = read_esconv_json(path)[0]
    assert [t.strategy for t in conv.turns] == [None, ESCONV8.index("Question"), ESCONV8.index("Others")]
    assert conv.turns[0].text == "hi"


def test_generated_sample_is_split_910_195_195_style(tmp_path):
    path = make_esconv_sample(tmp_path, n_dialogs=20)
    reader = ESConvStrategyReader(str(path))
    assert [len(reader.conversations[s]) for s in ("train", "val", "test")] == [14, 3, 3]


def test_unknown_strategy_names_the_file_and_turn(tmp_path):
    path = tmp_path / "ESConv.json"
    path.write_text(json.dumps([{"situation": "s", "dialog": [
        {"speaker": "supporter", "annotation": {"strategy": "Direct Guidance"}, "content": "do it"}]}]))
    with pytest.raises(LabelError, match=r"ESConv.json record 0 turn 0: unknown esconv8 label 'Direct Guidance'"):
        read_esconv_json(path)
    assert read_esconv_json(path, unknown_strategy="skip")[0].turns[0].strategy is None


def test_malformed_files_name_the_file_and_line(tmp_path):
    bad = tmp_path / "train.txt"
    bad.write_text(_reformat_line(["Question"]) + "\n{not json\n")
    with pytest.raises(DataError, match=r"train.txt line 2: malformed JSON"):
        read_esconv_jsonl(bad)
    speaker = tmp_path / "ESConv.json"
    speaker.write_text(json.dumps([{"dialog": [{"speaker": "robot", "content": "x"}]}]))
    with pytest.raises(DataError, match=r"ESConv.json record 0 turn 0: unknown speaker 'robot'"):
        read_esconv_json(speaker)
    with pytest.raises(DataError, match="no ESConv data"):
        ESConvStrategyReader(str(tmp_path / "missing")).dataset("train")


# -- preference bias -------------------------------------------------------------------------------------------------
def _confusion_from_wins(wins):
    """A [gold, predicted] matrix whose off-diagonal entries give w_ij = C[j, i]."""
    return np.asarray(wins, dtype=float).T


def test_two_strategies_preference_is_win_share_by_hand():
    # i beats j a = 3 times, j beats i b = 1 time: ML odds p_i / p_j = a / b; sum p = K = 2
    # -> p = (2a/(a+b), 2b/(a+b)) = (1.5, 0.5) and B = std = |a - b| / (a + b) = 0.5
    prefs = bradley_terry_preferences(_confusion_from_wins([[5, 3], [1, 7]]))
    np.testing.assert_allclose(prefs, [1.5, 0.5], rtol=1e-9)
    assert preference_bias(prefs) == pytest.approx(0.5)


def test_consistent_three_way_comparisons_recover_the_true_strengths():
    # strengths (4, 2, 1): win counts equal their BT expectations (1 vs 2: 2 of 3, 2 vs 3: 2 of 3, 1 vs 3: 4 of 5)
    wins = [[0, 2, 4], [1, 0, 2], [1, 1, 0]]
    prefs = bradley_terry_preferences(_confusion_from_wins(wins), iterations=20)
    np.testing.assert_allclose(prefs, np.array([4, 2, 1]) * 3 / 7, rtol=1e-6)


def test_symmetric_confusions_give_equal_preferences_and_no_bias():
    rng = np.random.default_rng(0)
    a = rng.integers(1, 20, size=(8, 8))
    prefs = bradley_terry_preferences(a + a.T, iterations=50)
    np.testing.assert_allclose(prefs, np.ones(8), atol=1e-9)
    assert preference_bias(prefs) == pytest.approx(0.0, abs=1e-9)


def test_fit_converges_to_the_maximum_likelihood_estimate():
    rng = np.random.default_rng(1)
    confusion = rng.integers(1, 30, size=(8, 8)).astype(float)
    wins = confusion.T.copy()
    np.fill_diagonal(wins, 0)

    def nll(theta):  # BT log-likelihood in log-strengths (reference: direct numerical optimisation)
        diff = theta[:, None] - theta[None, :]
        return float((wins * np.logaddexp(0, -diff)).sum())

    theta = minimize(nll, np.zeros(8), method="BFGS", options={"gtol": 1e-10}).x
    ml = np.exp(theta) * 8 / np.exp(theta).sum()
    np.testing.assert_allclose(bradley_terry_preferences(confusion, iterations=500, tol=1e-13), ml, rtol=1e-5)


def test_a_strategy_that_never_loses_has_no_finite_preference():
    with pytest.raises(ConfigError, match="diverges"):
        bradley_terry_preferences(_confusion_from_wins([[0, 2], [0, 0]]))


def test_report_proficiency_is_sklearn_macro_f1_and_metric_matches_report():
    rng = np.random.default_rng(2)
    target = rng.integers(0, 8, 400)
    preds = np.where(rng.random(400) < 0.5, target, rng.integers(0, 8, 400))
    report = strategy_report(preds, target, ESCONV8.labels)
    assert report.proficiency == pytest.approx(f1_score(target, preds, average="macro"))
    assert report.weighted_f1 == pytest.approx(f1_score(target, preds, average="weighted"))
    assert sum(report.preferences.values()) == pytest.approx(8.0)
    metric = StrategyPreferenceBias(8)
    metric.update(torch.nn.functional.one_hot(torch.tensor(preds), 8).float(), torch.tensor(target))
    assert float(metric.compute()) == pytest.approx(report.bias)


# -- classifier ------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sample_reader(tmp_path_factory):
    path = make_esconv_sample(tmp_path_factory.mktemp("esconv"), n_dialogs=24, turns_per_dialog=5)
    return ESConvStrategyReader(str(path), max_turns=4)


def test_classifier_fits_a_tiny_set_of_dialogues(sample_reader):
    torch.manual_seed(0)
    model = create("esconv_strategy", "tiny", lr=3e-3)
    ds = sample_reader.dataset("train")
    batch = pad_collate([ds[i] for i in range(16)])
    opt = model.configure_optimizers()
    losses = []
    for _ in range(20):
        loss = model.losses(model(batch), batch)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss))
    assert losses[-1] < 0.5 * losses[0]


def test_lightning_loop_logs_proficiency_and_preference_bias(sample_reader):
    L.seed_everything(0)
    model = create("esconv_strategy", "tiny")
    trainer = L.Trainer(max_epochs=1, limit_train_batches=2, limit_val_batches=2, accelerator="cpu", logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(model, AffectDataModule(sample_reader, batch_size=8))
    assert {"val/f1_macro", "val/preference_bias", "val/acc", "train/loss"} <= set(trainer.callback_metrics)


def test_zoo_load_round_trip_gives_identical_outputs(sample_reader, tmp_path):
    model = create("esconv_strategy", "tiny").eval()
    ds = sample_reader.dataset("test")
    batch = pad_collate([ds[i] for i in range(4)])
    save_pretrained(model, tmp_path / "ckpt")
    loaded = load(tmp_path / "ckpt")
    torch.testing.assert_close(model(batch)["strategy"], loaded(batch)["strategy"], rtol=0, atol=0)
    preds = loaded.predict_step(batch)
    assert preds[0]["label"] in ESCONV8.labels and len(preds[0]["top"]) == 3


def test_predict_from_a_conversation_file(tmp_path):
    model = create("esconv_strategy", "tiny").eval()
    conv = tmp_path / "chat.json"
    conv.write_text(json.dumps({"situation": "exams", "dialog": [
        {"speaker": "seeker", "content": "I am stressed about exams"}]}))
    out = model.predict_files([conv])
    assert out[0]["label"] in ESCONV8.labels
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    with pytest.raises(DataError, match="broken.json"):
        model.predict_files([broken])


def test_frozen_pretrained_encoder_is_not_in_the_checkpoint_and_reloads_from_its_package(sample_reader, tmp_path):
    model = create("esconv_strategy", "paper").eval()
    assert not any(k.startswith("encoder.") for k in model.state_dict())
    assert model.hparams.encoder_sha256 and len(model.hparams.encoder_sha256) == 64
    card = save_pretrained(model, tmp_path / "heads")
    assert card["weights"]["bytes"] < 5_000_000
    ds = sample_reader.dataset("test")
    batch = pad_collate([ds[i] for i in range(2)])
    torch.testing.assert_close(model(batch)["strategy"], load(tmp_path / "heads")(batch)["strategy"], rtol=0, atol=0)


def test_real_esconv_split_sizes(zoo_data):
    reader = ESConvStrategyReader(str(zoo_data / "esconv"))
    assert [len(reader.conversations[s]) for s in ("train", "val", "test")] == [910, 195, 195]
    counts = np.bincount([s.strategy for s in reader.dataset("train").samples], minlength=8)
    assert counts[ESCONV8.index("Question")] == 2622  # SOURCE.txt's verified count


def test_shipped_checkpoint_loads_with_its_test_metrics():
    model = load("esconv_strategy_minilm")
    shipped = [m for m in model.card["metrics"] if m["shipped"] and m["split"] == "test"]
    assert len(shipped) == 1 and shipped[0]["samples"] == 2895
    assert 0 < shipped[0]["proficiency_macro_f1"] < 1 and shipped[0]["preference_bias"] >= 0
    assert not any(k.startswith("encoder.") for k in model.state_dict())
