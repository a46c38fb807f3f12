"""``zoo annotate``: sentiment, subjectivity and Ekman-7 emotion columns for any CSV / JSONL file.

The labelling pipeline of Thakur et al., "A Labelled Dataset for Sentiment Analysis of Videos on YouTube, TikTok,
and Other Sources about the 2024 Outbreak of Measles" (HCII 2024, arXiv:2406.07693, Sec. 3): for each chosen text
column ``c`` the output gains

    c_compound            VADER compound score in [-1, 1]
    c_sentiment           positive (compound >= 0.05) / negative (compound <= -0.05) / neutral; thresholds configurable
    c_subjectivity        TextBlob subjectivity in [0, 1]
    c_subjectivity_class  "least opinionated" (s < 1/3), "neutral opinionated" (1/3 <= s < 2/3) or
                          "highly opinionated" (s >= 2/3). The paper names the three classes but not its bin edges;
                          equal thirds are our documented default (``--subjectivity-edges``).
    c_emotion             Ekman-7 (anger, disgust, fear, joy, neutral, sadness, surprise) from a zoo text model with
                          an Ekman-7 task or any local Hugging Face sequence classifier whose labels map to Ekman-7
                          (the paper used DistilRoBERTa-base, j-hartmann/emotion-english-distilroberta-base)
    c_emotion_score       the probability of that emotion

Empty texts get empty annotation fields. Rows that cannot be read (undecodable bytes, malformed JSON, a CSV record
with the wrong number of fields, an unterminated quote) are skipped and reported (line number and problem) in
``<output>.report.json`` and on stderr.

Streaming and resumption: the input is read record by record with its byte offset; every ``chunk_rows`` records the
annotated rows are appended to ``<output>.partial`` (flushed and fsynced) and then ``<output>.progress.json`` records
the input offset and the partial file's length, atomically. After a crash or kill, a rerun truncates the partial
file to the recorded length and continues from the recorded offset, so no row is lost or written twice. The output
appears under its final name in one rename when the whole input is done.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from zoo.errors import ConfigError, DataError
from zoo.io import write_text_atomic
from zoo.nn.lexicon import sentiment_label, textblob_scores, vader_compound
from zoo.taxonomies import EKMAN7

SUBJECTIVITY_CLASSES = ("least opinionated", "neutral opinionated", "highly opinionated")
DEFAULT_SUBJECTIVITY_EDGES = (1 / 3, 2 / 3)
DEFAULT_EMOTION_MODEL = "text_affect-minilm-goemotions-emobank-isear"
FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
STATE_VERSION = 1


def subjectivity_class(score: float, edges: Sequence[float] = DEFAULT_SUBJECTIVITY_EDGES) -> str:
    """Bin a TextBlob subjectivity score: below ``edges[0]`` least, below ``edges[1]`` neutral, else highly."""
    low, high = edges
    return SUBJECTIVITY_CLASSES[0] if score < low else SUBJECTIVITY_CLASSES[1] if score < high else \
        SUBJECTIVITY_CLASSES[2]


# -- emotion models --------------------------------------------------------------------------------------------------
EmotionFn = Callable[[Sequence[str]], list[tuple[str, float]]]


def zoo_emotion(model) -> EmotionFn:
    """Ekman-7 (label, probability) per text from a zoo text model's Ekman-7 task."""
    task = model.ekman_task()

    def predict(texts: Sequence[str]) -> list[tuple[str, float]]:
        scores = model.scores(texts, task.name)
        values, idx = scores.max(-1)
        return [(task.labels[i], float(v)) for v, i in zip(values.tolist(), idx.tolist(), strict=True)]

    return predict


def hf_emotion(folder: str | Path, batch_size: int = 32) -> EmotionFn:
    """Ekman-7 (label, probability) per text from a local Hugging Face sequence classifier.

    Its ``id2label`` must name Ekman-7 emotions (aliases such as ``happy`` are accepted); a multi-label classifier
    (``problem_type == "multi_label_classification"``) is read with a sigmoid, otherwise a softmax.
    """
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    folder = Path(folder)
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        model = AutoModelForSequenceClassification.from_pretrained(str(folder), local_files_only=True).eval()
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{folder}: not a loadable Hugging Face sequence classifier ({exc})") from None
    id2label = model.config.id2label
    labels = [EKMAN7.canonical(id2label[i], folder / "config.json") for i in range(len(id2label))]
    multi = model.config.problem_type == "multi_label_classification"

    @torch.inference_mode()
    def predict(texts: Sequence[str]) -> list[tuple[str, float]]:
        out = []
        for start in range(0, len(texts), batch_size):
            enc = tokenizer(list(texts[start : start + batch_size]), padding=True, truncation=True,
                            max_length=512, return_tensors="pt")
            logits = model(**enc).logits.float()
            probs = logits.sigmoid() if multi else logits.softmax(-1)
            values, idx = probs.max(-1)
            out.extend((labels[i], float(v)) for v, i in zip(values.tolist(), idx.tolist(), strict=True))
        return out

    return predict


def load_emotion_model(spec: str) -> EmotionFn:
    """A zoo checkpoint (index name, folder with ``card.json``, ``.safetensors``) or a local HF classifier folder."""
    from zoo.hub import load
    from zoo.registry import checkpoint_index

    path = Path(spec)
    if spec in checkpoint_index() or (path / "card.json").is_file() or path.suffix in (".safetensors", ".ckpt"):
        model = load(spec)
        if not hasattr(model, "ekman_task"):
            raise ConfigError(f"{spec}: zoo model {type(model).__name__} is not a text model with an Ekman-7 task")
        return zoo_emotion(model)
    if (path / "config.json").is_file():
        return hf_emotion(path)
    raise ConfigError(f"emotion model {spec!r} is neither an indexed zoo checkpoint, a zoo checkpoint folder nor a "
                      "local Hugging Face folder")


# -- reading records with byte offsets ----------------------------------------------------------------------------
@dataclass
class Record:
    line: int
    end: int
    row: dict[str, Any] | None
    problem: str | None = None


def _csv_header(path: Path) -> tuple[list[str], int, int]:
    with path.open("rb") as handle:
        text, line, end = _next_csv_text(handle, 0)
    if text is None:
        raise DataError(path, "empty CSV file (no header row)")
    try:
        header = next(csv.reader(io.StringIO(text.decode("utf-8-sig"))))
    except (UnicodeDecodeError, StopIteration, csv.Error) as exc:
        raise DataError(path, f"unreadable CSV header ({exc})") from None
    return header, line, end


def _next_csv_text(handle, lines_read: int) -> tuple[bytes | None, int, int]:
    """The bytes of one CSV record (possibly spanning lines; quotes balance), lines consumed, end offset."""
    chunks: list[bytes] = []
    quotes = 0
    while True:
        raw = handle.readline()
        if not raw:
            return (b"".join(chunks) if chunks else None), lines_read, handle.tell()
        lines_read += 1
        chunks.append(raw)
        quotes += raw.count(b'"')
        if quotes % 2 == 0:
            return b"".join(chunks), lines_read, handle.tell()


def iter_records(path: Path, fmt: str, offset: int, line: int, header: list[str] | None) -> Iterator[Record]:
    """Records from byte ``offset`` on (``line`` lines already consumed); unreadable ones carry a ``problem``."""
    with path.open("rb") as handle:
        handle.seek(offset)
        while True:
            start_line = line + 1
            if fmt == "csv":
                raw, line, end = _next_csv_text(handle, line)
                if raw is None:
                    return
                if not raw.strip():
                    continue
                if raw.count(b'"') % 2:
                    yield Record(start_line, end, None, "unterminated quoted field at end of file")
                    continue
                try:
                    fields = next(csv.reader(io.StringIO(raw.decode("utf-8"))))
                except UnicodeDecodeError as exc:
                    yield Record(start_line, end, None, f"not UTF-8 (byte {exc.start} of the record)")
                    continue
                except csv.Error as exc:
                    yield Record(start_line, end, None, f"malformed CSV record ({exc})")
                    continue
                if len(fields) != len(header):
                    yield Record(start_line, end, None, f"{len(fields)} fields, the header has {len(header)}")
                    continue
                yield Record(start_line, end, dict(zip(header, fields, strict=True)))
            else:
                raw = handle.readline()
                if not raw:
                    return
                line += 1
                end = handle.tell()
                if not raw.strip():
                    continue
                try:
                    row = json.loads(raw.decode("utf-8"))
                except UnicodeDecodeError as exc:
                    yield Record(line, end, None, f"not UTF-8 (byte {exc.start} of the line)")
                    continue
                except json.JSONDecodeError as exc:
                    yield Record(line, end, None, f"malformed JSON ({exc.msg} at column {exc.colno})")
                    continue
                if not isinstance(row, dict):
                    yield Record(line, end, None, f"a JSON {type(row).__name__}, expected an object")
                    continue
                yield Record(line, end, row)


# -- the pipeline ----------------------------------------------------------------------------------------------------
@dataclass
class AnnotateSettings:
    columns: list[str]
    positive: float = 0.05
    negative: float = -0.05
    subjectivity_edges: tuple[float, float] = DEFAULT_SUBJECTIVITY_EDGES
    emotion_model: str | None = DEFAULT_EMOTION_MODEL

    def __post_init__(self) -> None:
        if not self.columns:
            raise ConfigError("annotate: name at least one text column")
        low, high = self.subjectivity_edges
        if not 0.0 <= low <= high <= 1.0:
            raise ConfigError(f"subjectivity edges must satisfy 0 <= low <= high <= 1, got {self.subjectivity_edges}")
        sentiment_label(0.0, self.positive, self.negative)  # validates the thresholds

    def fingerprint(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:16]

    def output_columns(self) -> list[str]:
        suffixes = ["compound", "sentiment", "subjectivity", "subjectivity_class"]
        if self.emotion_model:
            suffixes += ["emotion", "emotion_score"]
        return [f"{c}_{s}" for c in self.columns for s in suffixes]


@dataclass
class AnnotateReport:
    input: str
    output: str
    rows_read: int = 0
    rows_written: int = 0
    unreadable: list[dict[str, Any]] = field(default_factory=list)
    resumed_from_line: int = 0


def _annotate_rows(rows: list[dict[str, Any]], settings: AnnotateSettings, emotion: EmotionFn | None,
                   ) -> list[dict[str, Any]]:
    out = [dict(r) for r in rows]
    for column in settings.columns:
        texts = [r.get(column) for r in rows]
        texts = ["" if t is None else str(t) for t in texts]
        todo = [i for i, t in enumerate(texts) if t.strip()]
        emotions = emotion([texts[i] for i in todo]) if emotion and todo else []
        by_row = dict(zip(todo, emotions, strict=True)) if emotions else {}
        for i, row in enumerate(out):
            if not texts[i].strip():
                row.update({c: "" for c in settings.output_columns() if c.startswith(f"{column}_")})
                continue
            compound = vader_compound(texts[i])
            _, subjectivity = textblob_scores(texts[i])
            row[f"{column}_compound"] = round(compound, 4)
            row[f"{column}_sentiment"] = sentiment_label(compound, settings.positive, settings.negative)
            row[f"{column}_subjectivity"] = round(subjectivity, 4)
            row[f"{column}_subjectivity_class"] = subjectivity_class(subjectivity, settings.subjectivity_edges)
            if emotion:
                label, score = by_row[i]
                row[f"{column}_emotion"] = label
                row[f"{column}_emotion_score"] = round(score, 4)
    return out


def _input_identity(path: Path) -> dict[str, Any]:
    st = path.stat()
    with path.open("rb") as handle:
        head = hashlib.sha256(handle.read(1 << 16)).hexdigest()
    return {"path": str(path.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns, "head_sha256": head}


def annotate_file(
    input_path: str | Path,
    output_path: str | Path,
    settings: AnnotateSettings,
    *,
    emotion: EmotionFn | None = None,
    chunk_rows: int = 256,
    restart: bool = False,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
) -> AnnotateReport:
    """Annotate ``input_path`` (CSV or JSONL) into ``output_path`` (same format), resuming an interrupted run.

    ``emotion`` overrides ``settings.emotion_model`` (a callable from :func:`zoo_emotion` / :func:`hf_emotion`).
    """
    src, dst = Path(input_path), Path(output_path)
    log = log or (lambda msg: print(msg, file=sys.stderr))
    if not src.is_file():
        raise DataError(src, "input file not found")
    fmt = FORMATS.get(src.suffix.lower())
    if fmt is None:
        raise ConfigError(f"{src}: unknown input format {src.suffix!r}; expected one of {sorted(FORMATS)}")
    if FORMATS.get(dst.suffix.lower()) != fmt:
        raise ConfigError(f"{dst}: the output must have the input's format ({fmt}, suffix {src.suffix})")
    if src.resolve() == dst.resolve():
        raise ConfigError(f"{dst}: the output must not overwrite the input")
    if settings.emotion_model and emotion is None:
        emotion = load_emotion_model(settings.emotion_model)
    if emotion is not None and not settings.emotion_model:
        settings = replace(settings, emotion_model="(callable passed to annotate_file)")

    partial = dst.with_name(dst.name + ".partial")
    state_path = dst.with_name(dst.name + ".progress.json")
    identity = _input_identity(src)
    header: list[str] | None = None
    if fmt == "csv":
        header, header_lines, header_end = _csv_header(src)
        missing = [c for c in settings.columns if c not in header]
        if missing:
            raise ConfigError(f"{src}: no column(s) {missing} in the header {header}")
        clash = [c for c in settings.output_columns() if c in header]
        if clash:
            raise ConfigError(f"{src}: output column(s) {clash} already exist in the input")

    state = None
    if state_path.is_file() and not restart:
        try:
            state = json.loads(state_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            raise DataError(state_path, "progress file is corrupt; rerun with --restart") from None
        if state.get("version") != STATE_VERSION or state.get("input") != identity:
            raise ConfigError(f"{state_path}: the input file changed since the interrupted run; rerun with --restart")
        if state.get("settings") != settings.fingerprint():
            raise ConfigError(f"{state_path}: the interrupted run used other settings; rerun with the same options "
                              "or with --restart")
        if not partial.is_file() or partial.stat().st_size < state["partial_bytes"]:
            raise DataError(partial, "partial output is missing or shorter than recorded; rerun with --restart")
    report = AnnotateReport(str(src), str(dst))
    if state is None:
        offset, line = (header_end, header_lines) if fmt == "csv" else (0, 0)
        with partial.open("wb") as handle:
            if fmt == "csv":
                out = io.StringIO()
                csv.writer(out, lineterminator="\n").writerow(header + settings.output_columns())
                handle.write(out.getvalue().encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())
        state = {"version": STATE_VERSION, "input": identity, "settings": settings.fingerprint(), "offset": offset,
                 "line": line, "partial_bytes": partial.stat().st_size, "rows_read": 0, "rows_written": 0,
                 "unreadable": []}
        write_text_atomic(state_path, json.dumps(state))
    else:
        report.resumed_from_line = state["line"]
        log(f"zoo annotate: resuming {src} after line {state['line']} ({state['rows_written']} rows written)")
        with partial.open("r+b") as handle:
            handle.truncate(state["partial_bytes"])
    report.rows_read, report.rows_written = state["rows_read"], state["rows_written"]
    report.unreadable = list(state["unreadable"])

    from tqdm import tqdm

    bar = tqdm(total=identity["size"], initial=state["offset"], unit="B", unit_scale=True, disable=not progress,
               desc=f"annotate {src.name}", file=sys.stderr)

    def flush(records: list[Record]) -> None:
        rows = [r.row for r in records if r.row is not None]
        annotated = _annotate_rows(rows, settings, emotion)
        buf = io.StringIO()
        if fmt == "csv":
            writer = csv.DictWriter(buf, fieldnames=header + settings.output_columns(), lineterminator="\n")
            writer.writerows(annotated)
        else:
            buf.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in annotated)
        with partial.open("ab") as handle:
            handle.write(buf.getvalue().encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())
        bad = [{"line": r.line, "problem": r.problem} for r in records if r.row is None]
        state.update(offset=records[-1].end, line=records[-1].line, partial_bytes=partial.stat().st_size,
                     rows_read=state["rows_read"] + len(records), rows_written=state["rows_written"] + len(rows),
                     unreadable=state["unreadable"] + bad)
        write_text_atomic(state_path, json.dumps(state))
        bar.update(records[-1].end - bar.n)
        bar.set_postfix(rows=state["rows_written"], unreadable=len(state["unreadable"]))

    pending: list[Record] = []
    for record in iter_records(src, fmt, state["offset"], state["line"], header):
        pending.append(record)
        if len(pending) >= chunk_rows:
            flush(pending)
            pending = []
    if pending:
        flush(pending)
    bar.close()
    os.replace(partial, dst)
    report.rows_read, report.rows_written = state["rows_read"], state["rows_written"]
    report.unreadable = state["unreadable"]
    write_text_atomic(dst.with_name(dst.name + ".report.json"), json.dumps(asdict(report), indent=2) + "\n")
    state_path.unlink()
    if report.unreadable:
        log(f"zoo annotate: {len(report.unreadable)} unreadable row(s) in {src} skipped:")
        for bad in report.unreadable[:20]:
            log(f"  line {bad['line']}: {bad['problem']}")
        if len(report.unreadable) > 20:
            log(f"  ... (all listed in {dst.name}.report.json)")
    log(f"zoo annotate: wrote {report.rows_written} rows to {dst}")
    return report
