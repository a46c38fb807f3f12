"""Emotion-aware Transformer-XL dialogue model: data reader, masks, memory, learning, checkpoints, predict."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import zoo
from zoo.cli import main as zoo_main
from zoo.data.collate import pad_collate
from zoo.data.datasets.empathetic_dialogues import EmpatheticDialoguesReader, read_conversations
from zoo.data.datasets.empathetic_dialogues_sample import make_empathetic_dialogues_sample
from zoo.errors import DataError, LabelError
from zoo.hub import save_pretrained
from zoo.metrics.generation import tokenize
from zoo.models.empathetic_dialogue import read_dialogue
from zoo.nn.transformer_xl import TransformerXLEncoder, causal_allowed
from zoo.registry import create
from zoo.taxonomies import ED32
from zoo.text.tokenizer import train_wordpiece


@pytest.fixture(scope="module")
def ed_root(tmp_path_factory) -> Path:
    return make_empathetic_dialogues_sample(tmp_path_factory.mktemp("ed"), seed=3)


@pytest.fixture(scope="module")
def tokenizer_json(ed_root) -> str:
    return train_wordpiece(EmpatheticDialoguesReader(str(ed_root)).texts("train"), vocab_size=300)


def tiny(tokenizer_json: str, **overrides):
    torch.manual_seed(0)
    return create("empathetic_dialogue", "tiny", tokenizer_json=tokenizer_json, **overrides)


def _batch(model, examples):
    return model.on_before_batch_transfer(pad_collate(examples), 0)


# -- reader ---------------------------------------------------------------------------------------------------
def test_reader_unescapes_commas_counts_extra_fields_and_fragments(ed_root):
    reader = EmpatheticDialoguesReader(str(ed_root))
    conversations = reader.conversations("valid")
    stats = reader.stats["valid"]
    assert stats.skipped == 1 and stats.extra_fields == 5  # one spilled fragment line; rows with extra fields
    assert stats.rows == 4 * len(ED32) and stats.conversations == len(ED32)
    assert all("_comma_" not in t for c in conversations for t in c.turns.values())
    opening = conversations[0].turns[1]
    assert opening.startswith("i feel afraid about my") and ", it happened" in opening


def test_reader_builds_listener_examples_per_conversation_with_emotion_groups(ed_root):
    reader = EmpatheticDialoguesReader(str(ed_root))
    assert reader.train_source == "train"
    train = reader.examples("train")
    assert len(train) == 2 * len(ED32) * 2  # 2 conversations per emotion, listener turns 2 and 4
    first, second = train[0], train[1]
    assert len(first["context"]) == 1 and len(second["context"]) == 3
    assert second["context"][:1] == first["context"]
    assert ED32.labels[first["emotion"]] == "afraid" and ED32.coarse_labels[first["emotion8"]] == "afraid"
    grateful = next(e for e in train if ED32.labels[e["emotion"]] == "trusting")
    assert ED32.coarse_labels[grateful["emotion8"]] == "grateful"
    every = EmpatheticDialoguesReader(str(ed_root), responses="all").examples("train")
    assert len(every) == 3 * 2 * len(ED32)


def test_reader_carves_train_and_val_from_valid_when_train_is_missing(ed_root, tmp_path):
    for name in ("valid.csv", "test.csv"):
        (tmp_path / name).write_bytes((ed_root / name).read_bytes())
    reader = EmpatheticDialoguesReader(str(tmp_path), val_fraction=0.25)
    assert reader.train_source == "valid"
    train = {e["id"].split("#")[0] for e in reader.examples("train")}
    val = {e["id"].split("#")[0] for e in reader.examples("val")}
    assert train and val and not train & val
    assert len(train | val) == len(ED32)


def test_reader_errors_name_the_file(tmp_path):
    bad_header = tmp_path / "bad.csv"
    bad_header.write_text("conv,idx,emotion\n")
    with pytest.raises(DataError, match="bad.csv.*header"):
        read_conversations(bad_header)
    unknown = tmp_path / "unknown.csv"
    unknown.write_text("conv_id,utterance_idx,context,prompt,speaker_idx,utterance,selfeval,tags\n"
                       "hit:1_conv:2,1,elated,p,1,hello,,\n")
    with pytest.raises(LabelError, match=r"unknown.csv, line 2.*'elated'"):
        read_conversations(unknown)
    with pytest.raises(DataError, match="missing.csv"):
        read_conversations(tmp_path / "missing.csv")


# -- layers ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("attention", ["relative", "absolute"])
def test_causal_decoder_never_sees_later_tokens(tokenizer_json, ed_root, attention):
    model = tiny(tokenizer_json, attention=attention).eval()
    batch = _batch(model, EmpatheticDialoguesReader(str(ed_root)).examples("test")[:2])
    logits = model(batch)["lm_logits"]
    changed = batch["decoder_input_ids"].clone()
    changed[:, 4:] = torch.randint(5, model.tokenizer.vocab_size, changed[:, 4:].shape)
    logits2 = model({**batch, "decoder_input_ids": changed})["lm_logits"]
    assert torch.allclose(logits[:, :4], logits2[:, :4], atol=1e-5)
    assert not torch.allclose(logits[:, 4:], logits2[:, 4:], atol=1e-3)


@pytest.mark.parametrize("attention", ["relative", "absolute"])
def test_padding_in_the_context_changes_nothing(tokenizer_json, ed_root, attention):
    model = tiny(tokenizer_json, attention=attention).eval()
    example = EmpatheticDialoguesReader(str(ed_root)).examples("test")[:1]
    batch = _batch(model, example)
    padded = {**batch, "input_ids": torch.nn.functional.pad(batch["input_ids"], (0, 7), value=0),
              "attention_mask": torch.nn.functional.pad(batch["attention_mask"], (0, 7), value=False)}
    assert torch.allclose(model(batch)["lm_logits"], model(padded)["lm_logits"], atol=1e-5)


def test_memory_reuse_equals_attention_over_concatenated_segments():
    torch.manual_seed(0)
    enc = TransformerXLEncoder(3, 32, 4, 64, dropout=0.0, segment_len=6, mem_len=18).eval()
    x, mask = torch.randn(2, 18, 32), torch.ones(2, 18, dtype=torch.bool)
    mask[1, 15:] = False
    recurrent = enc(x, mask)
    # one pass over the concatenation, segment s attending to segments <= s (what the memory holds)
    seg = torch.arange(18) // 6
    allowed = (seg[None, :] <= seg[:, None])[None] & mask[:, None, :]
    h = x
    for layer in enc.layers:
        h = layer(h, None, allowed)
    assert torch.allclose(recurrent, enc.norm(h), atol=1e-5)


def test_memory_is_stop_gradient_and_limited_to_mem_len():
    torch.manual_seed(0)
    enc = TransformerXLEncoder(2, 16, 2, 32, dropout=0.0, segment_len=4, mem_len=4)
    x = torch.randn(1, 12, 16, requires_grad=True)
    out = enc(x, torch.ones(1, 12, dtype=torch.bool))
    out[:, 8:].sum().backward()  # the last segment sees the earlier ones only through the memory
    assert x.grad[:, :8].abs().max() == 0 and x.grad[:, 8:].abs().max() > 0
    _, inputs = enc.forward_segment(x[:, :4], torch.ones(1, 4, dtype=torch.bool), None, None)
    assert len(inputs) == 2 and inputs[0].shape == (1, 4, 16)


def test_causal_allowed_respects_padding():
    mask = torch.tensor([[True, True, False]])
    allowed = causal_allowed(3, mask, torch.device("cpu"))
    assert allowed.tolist() == [[[True, False, False], [True, True, False], [True, True, False]]]


# -- learning, decoding, checkpoints --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fitted(ed_root, tokenizer_json):
    """The tiny model fitted on 8 dialogue examples of 8 emotions."""
    model = tiny(tokenizer_json, lr=1e-2, warmup_steps=10, label_smoothing=0.0)
    examples = EmpatheticDialoguesReader(str(ed_root)).examples("train")[::16]
    batch = _batch(model, examples)
    optimizer = model.configure_optimizers()["optimizer"]
    model.train()
    history = []
    for _ in range(110):
        loss = model.losses(model(batch), batch)
        optimizer.zero_grad()
        loss["loss"].backward()
        optimizer.step()
        history.append({k: float(v.detach()) for k, v in loss.items()})
    return model.eval(), examples, history


def test_tiny_model_fits_a_small_set(fitted):
    model, examples, history = fitted
    assert history[-1]["lm"] < 0.1 * history[0]["lm"]
    assert history[-1]["emotion8"] < 0.2 * history[0]["emotion8"]
    scores, hypotheses = model.evaluate_generation([e["context"] for e in examples],
                                                   [e["response"] for e in examples])
    exact = sum(tokenize(h) == tokenize(e["response"]) for h, e in zip(hypotheses, examples, strict=True))
    assert exact >= 0.75 * len(examples), hypotheses[:4]
    assert scores["bleu4"] > 70


def test_beam_search_finds_the_learned_reply(fitted):
    model, examples, _ = fitted
    _, greedy = model.evaluate_generation([e["context"] for e in examples[:4]], ["x"] * 4, beam_size=1)
    _, beam = model.evaluate_generation([e["context"] for e in examples[:4]], ["x"] * 4, beam_size=3)
    def hits(hypotheses):
        return sum(tokenize(h) == tokenize(e["response"]) for h, e in zip(hypotheses, examples, strict=False))

    assert hits(beam) >= hits(greedy) - 1
    assert all(isinstance(b, str) and b for b in beam)


def test_load_round_trip_gives_identical_outputs_and_tokenizer(fitted, tmp_path):
    model, examples, _ = fitted
    save_pretrained(model, tmp_path / "ckpt", metrics=[{"dataset": "synthetic", "split": "train", "values": {}}])
    loaded = zoo.load(tmp_path / "ckpt")
    batch = _batch(model, examples[:3])
    assert torch.equal(model(batch)["lm_logits"], loaded(batch)["lm_logits"])
    assert loaded.tokenizer.encode_batch(["i feel sad"]) == model.tokenizer.encode_batch(["i feel sad"])
    assert model.predict_step(batch) == loaded.predict_step(batch)


def test_zoo_predict_reads_json_text_and_inline_dialogues(fitted, tmp_path, capsys):
    model, examples, _ = fitted
    save_pretrained(model, tmp_path / "ckpt")
    turns = examples[0]["context"]
    (tmp_path / "d.json").write_text(json.dumps({"turns": turns}))
    (tmp_path / "d.txt").write_text("\n".join(turns) + "\n")
    assert read_dialogue(tmp_path / "d.json") == read_dialogue(tmp_path / "d.txt") == turns
    assert read_dialogue(json.dumps(turns)) == turns
    assert zoo_main(["predict", str(tmp_path / "ckpt"), str(tmp_path / "d.json"), json.dumps(turns), "--json"]) == 0
    results = json.loads(capsys.readouterr().out)
    assert results[0]["response"] == results[1]["response"]
    assert tokenize(results[0]["response"]) == tokenize(examples[0]["response"])
    assert results[0]["label"] in ED32.labels and results[0]["emotion_group"] in ED32.coarse_labels


def test_bad_dialogue_inputs_name_the_file(tmp_path):
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(DataError, match="bad.json.*malformed JSON"):
        read_dialogue(tmp_path / "bad.json")
    (tmp_path / "numbers.json").write_text("[1, 2]")
    with pytest.raises(DataError, match="numbers.json.*list of turn strings"):
        read_dialogue(tmp_path / "numbers.json")
    with pytest.raises(DataError, match="nowhere.txt.*not found"):
        read_dialogue(tmp_path / "nowhere.txt")
    (tmp_path / "empty.txt").write_text("\n\n")
    with pytest.raises(DataError, match="empty.txt.*no turns"):
        read_dialogue(tmp_path / "empty.txt")


def test_real_data_reader_recovers_every_conversation(zoo_data):
    reader = EmpatheticDialoguesReader(str(zoo_data / "empatheticdialogues"))
    conversations = reader.conversations("test")
    assert reader.stats["test"].rows >= 10943 and len(conversations) >= 2542
    assert {c.emotion for c in conversations} == set(ED32.labels)


def test_recipe_fits_on_the_embedded_sample_and_trains_its_tokenizer(tmp_path):
    root = Path(__file__).resolve().parents[1]
    code = zoo_main(["fit", "--config", str(root / "recipes/empathetic_dialogue.yaml"),
                     "--data.reader.init_args.root", str(root / "zoo/assets/empathetic_dialogues_sample"),
                     "--trainer.max_steps", "2", "--trainer.limit_val_batches", "1",
                     "--trainer.default_root_dir", str(tmp_path)])
    assert code == 0
    ckpt = next(tmp_path.rglob("*.ckpt"))
    model = zoo.load(ckpt)
    assert model.tokenizer.vocab_size > 50 and model.tokenizer.encode_batch(["i feel sad"])[0]


def test_shipped_checkpoint_detects_emotion_and_replies():
    if "empathetic_dialogue_txl_ed" not in zoo.list_models(pretrained=True):
        pytest.skip("checkpoint empathetic_dialogue_txl_ed is not indexed")
    model = zoo.load("empathetic_dialogue_txl_ed")
    assert model.card["metrics"][0]["split"] == "test" and "bleu4" in model.card["metrics"][0]["values"]
    [result] = model.predict_files([json.dumps(["I got promoted at work today!"])])
    assert result["label"] in ED32.labels and result["response"].strip()
