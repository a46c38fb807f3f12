"""Open-vocabulary multimodal emotion recognition (OV-MER) metrics.

Lian et al., "OV-MER: Towards Open-Vocabulary Multimodal Emotion Recognition" (ICML 2025, Sec. 4) and
"AffectGPT: A New Dataset, Model, and Benchmark for Emotion Understanding with Multimodal Large Language Models"
(ICML 2025, Sec. 5): a prediction is a *set* of free-form emotion words. Both sets are normalised through an
emotion wheel and compared per sample,

    precision_i = |G_i ∩ P_i| / |P_i|,   recall_i = |G_i ∩ P_i| / |G_i|,

averaged over samples (a sample whose reference set maps to nothing is skipped; an empty prediction scores 0/0),
then ``F = 2 P R / (P + R)`` per wheel, and [F, P, R] averaged over the wheels (EW-based metric, one figure per
wheel level).

Normalisation of a word ``w`` for wheel ``k`` at level ``l`` (three tables):

1. ``format_mapping``: inflected form -> base words (``"angrily" -> ["angry"]``); a word absent here is dropped.
2. ``raw_mapping``: base word or synonym -> emotion-wheel words (``"furious" -> ["angry"]``).
3. ``wheels[k][l]``: wheel word -> its cluster at ``level1`` (the inner ring) or ``level2`` (middle ring; a level-1
   word maps to its alphabetically first level-2 child). Candidates from step 2 are tried in sorted order and the
   first one on the wheel wins, so the mapping is deterministic.

:meth:`EmotionWheel.from_folder` reads the official MER2025 tables (``format.csv``, ``synonym.xlsx`` with 8 GPT runs
``word_runN``/``synonym_runN``, ``wheel1..5.xlsx`` with ``level1/level2/level3`` columns; folder
``MER2025/MER2025_Track23/emotion_wheel`` of zeroQiaoba/MERTools). :meth:`EmotionWheel.default` is a small mapping
written for the zoo (:data:`DEFAULT_WHEELS`, :data:`DEFAULT_SYNONYMS`): a Parrott-style ``family`` wheel (7 level-1
families, 58 words) and a valence-first ``valence`` wheel (6 families, 72 words), 99 base words with synonyms and
323 surface forms from regular inflections (:func:`word_forms`). It is not the official wheel; numbers
computed with it are not comparable to published OV-MER figures.

:func:`synonym_group_scores` is the MER2024 OV track metric (per-sample synonym groups, e.g.
``MER2024/ov_store/openset-synonym``), and :func:`hit_rate` the hit rate of a discrete label in a predicted set.
"""
from __future__ import annotations

import ast
import csv
import re
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree

import torch
from torchmetrics import Metric

from zoo.errors import DataError

LEVELS = ("level1", "level2")


def parse_label_list(text: str | Sequence[str] | None, source: str | Path | None = None) -> list[str]:
    """A label list from ``"['a', 'b']"``, ``"a, b"`` or a list; lower-cased and stripped; empty -> []."""
    if text is None:
        return []
    if isinstance(text, str):
        s = text.strip()
        if not s:
            return []
        if s.startswith("["):
            try:
                value = ast.literal_eval(s)
            except (ValueError, SyntaxError):
                raise DataError(source, f"malformed label list {s[:80]!r} (expected a Python list of strings)") from None
            if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
                raise DataError(source, f"label list {s[:80]!r} is not a list of strings")
            items = list(value)
        else:
            items = s.split(",")
    else:
        items = list(text)
    return [w.strip().lower() for w in items if w and w.strip()]


# -- xlsx (stdlib reader: the official tables are plain one-sheet workbooks) ------------------------------------
_NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"


def read_xlsx_rows(path: str | Path) -> list[dict[str, str]]:
    """Rows of the first sheet as dicts keyed by the header row (cells as strings; empty cells absent)."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
            shared = []
            if "xl/sharedStrings.xml" in names:
                for si in ElementTree.fromstring(z.read("xl/sharedStrings.xml")).findall(f"{_NS}si"):
                    shared.append("".join(t.text or "" for t in si.iter(f"{_NS}t")))
            sheet = ElementTree.fromstring(z.read("xl/worksheets/sheet1.xml"))
    except (zipfile.BadZipFile, KeyError, ElementTree.ParseError, OSError) as exc:
        raise DataError(path, f"not a readable .xlsx workbook ({exc})") from None
    grid: list[dict[str, str]] = []
    for row in sheet.iter(f"{_NS}row"):
        cells: dict[str, str] = {}
        for c in row.findall(f"{_NS}c"):
            col = re.match(r"[A-Z]+", c.get("r", "")).group()
            kind, v = c.get("t"), c.find(f"{_NS}v")
            if kind == "s" and v is not None:
                value = shared[int(v.text)]
            elif kind == "inlineStr":
                value = "".join(t.text or "" for t in c.iter(f"{_NS}t"))
            else:
                value = None if v is None else v.text
            if value is not None and value.strip():
                cells[col] = value
        grid.append(cells)
    if not grid:
        raise DataError(path, "workbook has no rows")
    header = grid[0]
    return [{header[col]: val for col, val in row.items() if col in header} for row in grid[1:]]


def read_wheel_xlsx(path: str | Path) -> dict[str, dict[str, list[str]]]:
    """An emotion wheel ``{level1: {level2: [level3, ...]}}`` from ``level1/level2/level3`` columns (blank = above)."""
    wheel: dict[str, dict[str, list[str]]] = {}
    current = {"level1": "", "level2": "", "level3": ""}
    for i, row in enumerate(read_xlsx_rows(path), 2):
        missing = [k for k in current if not current[k] and k not in row]
        if missing:
            raise DataError(path, f"row {i}: no {missing[0]} value (expected columns level1, level2, level3)")
        for key in current:
            if key in row:
                current[key] = row[key].strip().lower()
        wheel.setdefault(current["level1"], {}).setdefault(current["level2"], []).append(current["level3"])
    return wheel


def wheel_clusters(wheel: Mapping[str, Mapping[str, Sequence[str]]], level: str) -> dict[str, str]:
    """Every word of a wheel -> its cluster at ``level1`` or ``level2`` (level-1 words -> first level-2 child)."""
    out: dict[str, str] = {}
    for l1, children in wheel.items():
        out[l1] = l1 if level == "level1" else sorted(children)[0]
        for l2, leaves in children.items():
            out[l2] = l1 if level == "level1" else l2
            for l3 in leaves:
                out[l3] = l1 if level == "level1" else l2
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}, not {level!r}")
    return out


# -- the default mapping written for the zoo --------------------------------------------------------------------
DEFAULT_WHEELS: dict[str, dict[str, dict[str, list[str]]]] = {
    # A Parrott-style wheel: family -> sub-family -> words.
    "family": {
        "happy": {"joyful": ["delighted", "cheerful", "excited"], "content": ["satisfied", "relaxed", "relieved"],
                  "grateful": ["thankful"], "proud": ["confident"]},
        "sad": {"lonely": ["isolated"], "disappointed": ["helpless", "hopeless"], "depressed": ["gloomy", "hurt"]},
        "angry": {"frustrated": ["annoyed", "irritated"], "furious": ["enraged"], "resentful": ["bitter"]},
        "fearful": {"worried": ["anxious", "nervous", "uneasy"], "scared": ["frightened", "terrified"],
                    "insecure": ["embarrassed", "shy"]},
        "surprised": {"amazed": ["astonished", "shocked"], "confused": ["puzzled", "doubtful"]},
        "disgusted": {"disapproving": ["contemptuous", "disdainful"], "repelled": ["revolted"]},
        "neutral": {"calm": ["peaceful", "composed"]},
    },
    # A valence-first wheel: polarity-like families.
    "valence": {
        "pleasant": {"joy": ["happy", "joyful", "delighted", "cheerful", "excited"],
                     "serenity": ["content", "satisfied", "relaxed", "relieved", "calm", "peaceful"],
                     "gratitude": ["grateful", "thankful", "proud", "confident"]},
        "hostile": {"anger": ["angry", "furious", "frustrated", "annoyed", "irritated", "resentful", "enraged",
                              "bitter"],
                    "aversion": ["disgusted", "disapproving", "contemptuous", "disdainful", "repelled", "revolted"]},
        "distressed": {"sadness": ["sad", "lonely", "disappointed", "helpless", "hopeless", "depressed", "gloomy",
                                   "hurt", "isolated"]},
        "anxious": {"fear": ["fearful", "worried", "anxious", "nervous", "uneasy", "scared", "frightened",
                             "terrified", "insecure", "embarrassed", "shy"]},
        "startled": {"surprise": ["surprised", "amazed", "astonished", "shocked"],
                     "uncertainty": ["confused", "puzzled", "doubtful"]},
        "neutral": {"neutrality": ["neutral", "composed"]},
    },
}
DEFAULT_SYNONYMS: dict[str, list[str]] = {
    "happy": ["glad", "pleased", "happiness", "joy"], "sad": ["sorrowful", "unhappy", "sadness", "sorrow"],
    "angry": ["mad", "anger", "rage"], "furious": ["livid"], "fearful": ["afraid", "fear"],
    "worried": ["concerned", "worry", "apprehensive"], "surprised": ["surprise", "startled"],
    "disgusted": ["disgust", "grossed out"], "neutral": ["indifferent", "unemotional"], "confused": ["perplexed"],
    "excited": ["thrilled", "enthusiastic"], "annoyed": ["impatient"], "doubtful": ["skeptical", "suspicious"],
    "embarrassed": ["ashamed", "awkward"], "relaxed": ["at ease"], "calm": ["tranquil"],
}


def word_forms(word: str) -> set[str]:
    """Regular English forms of an emotion word (``-ly``, ``-ness``, ``-ed``/``-ing`` for verbs), for the default."""
    forms = {word}
    if " " in word:
        return forms
    stem = word[:-1] + "i" if word.endswith("y") and len(word) > 3 else word
    forms |= {f"{stem}ly", f"{stem}ness"}
    if word.endswith("ed"):
        forms.add(word[:-2] + ("e" if word[-3] in "sv" else ""))
    return forms


@dataclass
class EmotionWheel:
    """The three normalisation tables of the OV-MER metric (see the module docstring)."""

    format_mapping: dict[str, list[str]]
    raw_mapping: dict[str, list[str]]
    wheels: dict[str, dict[str, dict[str, list[str]]]]
    name: str = "custom"
    _clusters: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict, repr=False)

    @classmethod
    def default(cls) -> EmotionWheel:
        raw: dict[str, list[str]] = {}
        vocabulary: set[str] = set()
        for wheel in DEFAULT_WHEELS.values():
            for word in wheel_clusters(wheel, "level1"):
                raw.setdefault(word, []).append(word)
                vocabulary.add(word)
        for base, synonyms in DEFAULT_SYNONYMS.items():
            for s in synonyms:
                raw.setdefault(s, []).append(base)
                vocabulary.add(s)
        formats: dict[str, list[str]] = {}
        for word in vocabulary:
            for form in word_forms(word):
                formats.setdefault(form, [])
                if word not in formats[form]:
                    formats[form].append(word)
        return cls(formats, raw, DEFAULT_WHEELS, name="zoo-default")

    @classmethod
    def from_folder(cls, folder: str | Path, runs: int = 8) -> EmotionWheel:
        """The official MER2025 tables: ``format.csv``, ``synonym.xlsx`` and ``wheel*.xlsx`` in ``folder``."""
        folder = Path(folder)
        wheel_files = sorted(folder.glob("wheel*.xlsx"))
        if not wheel_files:
            raise DataError(folder, "no wheel*.xlsx emotion-wheel tables in this folder")
        wheels = {p.stem: read_wheel_xlsx(p) for p in wheel_files}
        wheel_words = {w for wheel in wheels.values() for w in wheel_clusters(wheel, "level1")}
        syn_path = folder / "synonym.xlsx"
        raw: dict[str, list[str]] = {}
        for i, row in enumerate(read_xlsx_rows(syn_path), 2):
            for run in range(1, runs + 1):
                word, synonyms = row.get(f"word_run{run}"), row.get(f"synonym_run{run}")
                if word is None:
                    raise DataError(syn_path, f"row {i}: no word_run{run} column/value")
                word = word.strip().lower()
                if word not in wheel_words:
                    raise DataError(syn_path, f"row {i}: word_run{run} {word!r} is on none of the wheels")
                for target in (word, *parse_label_list(synonyms or "", syn_path)):
                    bucket = raw.setdefault(target, [])
                    if word not in bucket:
                        bucket.append(word)
        fmt_path = folder / "format.csv"
        formats: dict[str, list[str]] = {}
        try:
            with fmt_path.open(encoding="utf-8", newline="") as f:
                reader = csv.DictReader(f)
                if reader.fieldnames is None or not {"name", "format"} <= set(reader.fieldnames):
                    raise DataError(fmt_path, "expected columns name, format")
                for row in reader:
                    base = row["name"].strip().lower()
                    for form in [*parse_label_list(row["format"], fmt_path), base]:
                        bucket = formats.setdefault(form, [])
                        if base not in bucket:
                            bucket.append(base)
        except FileNotFoundError:
            raise DataError(fmt_path, "format table not found") from None
        return cls(formats, raw, wheels, name=str(folder))

    def clusters(self, wheel: str, level: str) -> dict[str, str]:
        key = (wheel, level)
        if key not in self._clusters:
            self._clusters[key] = wheel_clusters(self.wheels[wheel], level)
        return self._clusters[key]

    def normalise(self, word: str, wheel: str, level: str) -> str | None:
        """The wheel cluster of ``word`` (None when it cannot be mapped; such words are dropped)."""
        word = word.strip().lower()
        if word not in self.format_mapping:
            return None
        clusters = self.clusters(wheel, level)
        candidates = sorted(r for base in self.format_mapping[word] for r in self.raw_mapping.get(base, ()))
        for c in candidates:
            if c in clusters:
                return clusters[c]
        return None

    def normalise_set(self, words: Iterable[str], wheel: str, level: str) -> set[str]:
        return {c for w in words if (c := self.normalise(w, wheel, level)) is not None}


def set_precision_recall(pairs: Iterable[tuple[set[str], set[str]]]) -> tuple[float, float, int]:
    """Mean per-sample precision and recall of (reference, prediction) sets; empty references are skipped."""
    precision, recall = [], []
    for gt, pred in pairs:
        if not gt:
            continue
        hit = len(gt & pred)
        precision.append(hit / len(pred) if pred else 0.0)
        recall.append(hit / len(gt) if pred else 0.0)
    if not precision:
        return 0.0, 0.0, 0
    return sum(precision) / len(precision), sum(recall) / len(recall), len(precision)


def f_score(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r > 0 else 0.0


def ovmer_scores(references: Mapping[str, Sequence[str]], predictions: Mapping[str, Sequence[str]],
                 wheel: EmotionWheel | None = None, levels: Sequence[str] = LEVELS) -> dict[str, float]:
    """EW-based OV-MER scores of ``name -> word list`` dicts (a name missing from ``predictions`` scores 0).

    Returns, per level, ``f_<level>``, ``precision_<level>``, ``recall_<level>`` averaged over wheels (F computed
    per wheel from its mean P and R, then averaged), per-wheel ``<wheel>_<level>_{f,precision,recall}`` and
    ``samples``.
    """
    wheel = wheel or EmotionWheel.default()
    out: dict[str, float] = {}
    for level in levels:
        rows = []
        for name in wheel.wheels:
            pairs = ((wheel.normalise_set(gt, name, level), wheel.normalise_set(predictions.get(k, []), name, level))
                     for k, gt in references.items())
            p, r, n = set_precision_recall(pairs)
            f = f_score(p, r)
            out |= {f"{name}_{level}_f": f, f"{name}_{level}_precision": p, f"{name}_{level}_recall": r}
            out[f"{name}_{level}_samples"] = n
            rows.append((f, p, r))
        for i, key in enumerate(("f", "precision", "recall")):
            out[f"{key}_{level}"] = sum(row[i] for row in rows) / len(rows)
    out["samples"] = len(references)
    return out


def synonym_group_scores(references: Mapping[str, Sequence[str]], predictions: Mapping[str, Sequence[str]],
                         groups: Mapping[str, Sequence[Sequence[str]]]) -> dict[str, float]:
    """MER2024 OV metric: each sample's words are merged into the first word of their per-sample synonym group.

    ``groups[name]`` lists synonym groups (e.g. ``[['joyful', 'happy'], ['worried']]``); samples without groups are
    skipped, as in the reference evaluation. Returns precision ("set level accuracy"), recall and their mean.
    """
    pairs = []
    for name, sample_groups in groups.items():
        canon = {w.lower(): g[0].lower() for g in sample_groups for w in g}
        gt = {canon.get(w.lower(), w.lower()) for w in references.get(name, [])}
        pred = {canon.get(w.lower(), w.lower()) for w in predictions.get(name, [])}
        pairs.append((gt, pred))
    p, r, n = set_precision_recall(pairs)
    return {"precision": p, "recall": r, "avg": (p + r) / 2, "samples": n}


def read_synonym_groups(folder_or_zip: str | Path) -> dict[str, list[list[str]]]:
    """Per-sample synonym groups stored as ``<name>.npy`` 0-d unicode arrays holding a Python list of lists.

    Read without unpickling (``allow_pickle=False``); a folder or a ``.zip`` of one.
    """
    import io

    import numpy as np

    path = Path(folder_or_zip)
    items: list[tuple[str, bytes]] = []
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as z:
            items = [(Path(n).stem, z.read(n)) for n in z.namelist() if n.endswith(".npy")]
    elif path.is_dir():
        items = [(p.stem, p.read_bytes()) for p in sorted(path.glob("*.npy"))]
    else:
        raise DataError(path, "expected a folder or .zip of <name>.npy synonym groups")
    out = {}
    for name, data in items:
        try:
            value = ast.literal_eval(str(np.load(io.BytesIO(data), allow_pickle=False)))
        except (ValueError, SyntaxError) as exc:
            raise DataError(f"{path}:{name}.npy", f"not a list of synonym groups ({exc})") from None
        out[name] = [[str(w) for w in g] for g in value]
    return out


def hit_rate(references: Sequence[str], predictions: Sequence[Sequence[str]],
             normalise=None) -> float:
    """Fraction of samples whose discrete reference label is among the predicted words (after ``normalise``)."""
    if len(references) != len(predictions):
        raise ValueError(f"{len(references)} references but {len(predictions)} predictions")
    if not references:
        return 0.0
    norm = normalise or (lambda w: w.strip().lower())
    hits = sum(norm(g) in {norm(p) for p in pred} for g, pred in zip(references, predictions, strict=True))
    return hits / len(references)


class OVMERScore(Metric):
    """Streaming EW-based OV-MER F / precision / recall at one level over every wheel of an :class:`EmotionWheel`."""

    full_state_update = False

    def __init__(self, wheel: EmotionWheel | None = None, level: str = "level1", **kwargs):
        super().__init__(**kwargs)
        self.wheel = wheel or EmotionWheel.default()
        self.level = level
        n = len(self.wheel.wheels)
        self.add_state("precision_sum", torch.zeros(n, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("recall_sum", torch.zeros(n, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", torch.zeros(n, dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, references: Sequence[Sequence[str]], predictions: Sequence[Sequence[str]]) -> None:
        for i, name in enumerate(self.wheel.wheels):
            for gt, pred in zip(references, predictions, strict=True):
                g = self.wheel.normalise_set(gt, name, self.level)
                if not g:
                    continue
                p = self.wheel.normalise_set(pred, name, self.level)
                hit = len(g & p)
                self.precision_sum[i] += hit / len(p) if p else 0.0
                self.recall_sum[i] += hit / len(g) if p else 0.0
                self.count[i] += 1

    def compute(self) -> torch.Tensor:
        p = self.precision_sum / self.count.clamp(min=1)
        r = self.recall_sum / self.count.clamp(min=1)
        f = torch.where(p + r > 0, 2 * p * r / (p + r).clamp(min=1e-12), torch.zeros_like(p))
        return f.mean().float()
