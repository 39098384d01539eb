"""Simulated raters for a class demo: personas with a simple, visible taste stand in for a room of human raters.

A persona scores an answer (higher is better) with a rule anyone can check by eye — shorter, politer, in Chinese,
with a number. From the score come the two kinds of feedback RLHF collects:

- a thumbs rating: ``likes(prompt, answer)`` is ``score >= threshold`` (an absolute rule);
- a preference: ``prefer(prompt, a, b)`` is 1 (a better), -1 (b better) or 0 (a tie: scores within ``margin``).

After training on a persona's feedback, ``win_rate`` asks the same persona to judge tuned against base answers to
held-out prompts (ties count half): a rate above 0.5 means the tuned model moved toward the persona's taste. The
answers themselves are sampled elsewhere (with the model); this module is pure Python.

The class's prompts are in ``assets/prompts.txt``, their Chinese counterparts (same count and order) in
``assets/prompts_zh.txt``: ``load_prompts()`` reads a set (``"en"``, ``"zh"``; :data:`PROMPT_SETS`) or any file, and
``split_prompts()`` keeps a fixed held-out set for judging.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from lab import LabError

__all__ = [
    "PERSONAS",
    "PROMPTS_FILE",
    "PROMPTS_ZH_FILE",
    "PROMPT_SETS",
    "Persona",
    "get",
    "load_prompts",
    "pair_up",
    "rate_answers",
    "split_prompts",
    "verdicts",
    "win_rate",
]

PROMPTS_FILE = Path(__file__).resolve().parents[2] / "assets" / "prompts.txt"
PROMPTS_ZH_FILE = PROMPTS_FILE.with_name("prompts_zh.txt")
PROMPT_SETS: dict[str, Path] = {"en": PROMPTS_FILE, "zh": PROMPTS_ZH_FILE}
"""The bundled prompt sets by name: English (the default) and their Chinese counterparts, line for line."""


@dataclass(frozen=True)
class Persona:
    """A simulated rater: ``score(prompt, answer)`` (higher is better), a like ``threshold`` and a tie ``margin``."""

    name: str
    description: str
    score: Callable[[str, str], float]
    threshold: float
    margin: float = 0.0
    judges_length: bool = False
    """True when the taste is the answer's length: then an answer cut off at a token limit (``complete=False``)
    counts as at least as long as its visible part, never as short as what fits before the cut."""

    def likes(self, prompt: str, answer: str, complete: bool = True) -> bool:
        """Thumbs up when the answer's score reaches the threshold (a length persona never likes a cut-off answer)."""
        if self.judges_length and not complete:
            return False
        return self.score(prompt, answer) >= self.threshold

    def prefer(self, prompt: str, a: str, b: str, a_complete: bool = True, b_complete: bool = True) -> int:
        """1 if ``a`` is better, -1 if ``b`` is, 0 if their scores are within ``margin`` (a tie) or it is unknown.

        For a length persona a cut-off answer loses to a finished one only when the finished one is already visibly
        better, and never wins against it; two cut-off answers tie (which would have been shorter is unknown). So a
        model that fills its token budget with short words or repetitions is not judged concise.

        >>> p = PERSONAS["concise"]
        >>> p.prefer("Q?", "Paris.", "Well, let me tell you", b_complete=False)  # the cut one is visibly longer
        1
        >>> p.prefer("Q?", "Well, it is the city of", "Paris.", a_complete=False)  # a cut answer never wins
        -1
        >>> p.prefer("Q?", "ah ah", "Well, the answer", a_complete=False, b_complete=False)  # both cut: unknown
        0
        """
        diff = self.score(prompt, a) - self.score(prompt, b)
        verdict = 0 if abs(diff) <= self.margin else 1 if diff > 0 else -1
        if self.judges_length and not (a_complete and b_complete):
            return verdict if a_complete != b_complete and (verdict > 0) == a_complete else 0
        return verdict


# ------------------------------------------------------------------------------------------------------ scores

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_WORD = re.compile(rf"[{_CJK}]|[^\s{_CJK}]*?[^\W_][^\s{_CJK}]*")  # a CJK character, or a run with a letter/digit
_CJK_CHAR = re.compile(rf"[{_CJK}]")
_COURTESY = re.compile(
    r"\b(?:please|thanks?|thank you|glad|happy to help|certainly|of course|sorry|apologi[sz]e|you're welcome|"
    r"my pleasure|kindly|great question|hope this helps)\b"
    # Chinese: the same markers (请 but not 申请/邀请 "apply"/"invite"; 希望…有帮助 is "hope this helps")
    r"|(?<![申邀])请|谢谢|感谢|您|很高兴|乐意|当然|荣幸|好问题|抱歉|对不起|不好意思|不客气"
    r"|希望(?:这|以上)?(?:能|可以)?(?:对(?:你|您))?有(?:所)?帮助|希望(?:能|可以)?帮到",
    re.IGNORECASE,
)
_ZH_DIGITS = "零〇一二两三四五六七八九十百千万亿"
_NUMBER = re.compile(
    r"\d+(?:[.,]\d+)*|\b(?:two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|"
    r"sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|hundred|thousand|"
    r"million|billion|dozen|half|first|second|third)\b"
    # Chinese: one numeral run is one number (一百二十), as "one hundred twenty" is; 一 alone is no number (一下,
    # 一个: like "one"), but ordinals (第一, like "first") and 一半 ("half") are
    rf"|第[{_ZH_DIGITS}]+|一半|[{_ZH_DIGITS}]*[{_ZH_DIGITS[3:]}][{_ZH_DIGITS}]*",
    re.IGNORECASE,
)


def words(text: str) -> int:
    """Words in ``text``: runs with a letter or digit (punctuation alone is no word); each Chinese character is one.

    >>> words("Water boils at 100 °C — fast."), words("水在一百度沸腾。")
    (6, 7)
    """
    return len(_WORD.findall(text))


NO_ANSWER = -1000.0
"""The concise persona's score of an answer without a word: no answer is not a short answer (it loses to any)."""


def concise_score(prompt: str, answer: str) -> float:
    """Minus the number of words: shorter is better; liked at 25 words or fewer; an empty answer is worst of all.

    >>> concise_score("Hi?", "Hello there!"), PERSONAS["concise"].likes("Hi?", "Hello there!")
    (-2, True)
    >>> concise_score("Hi?", " ... "), PERSONAS["concise"].likes("Hi?", "")
    (-1000.0, False)
    """
    n = words(answer)
    return -n if n else NO_ANSWER


def polite_score(prompt: str, answer: str) -> float:
    """The number of courtesy markers (please, thank you, glad, certainly, of course, sorry, 请, 谢谢, …).

    >>> polite_score("Hi?", "Certainly! Glad to help. Thank you for asking."), polite_score("Hi?", "Hi.")
    (3, 0)
    >>> polite_score("Hi?", "当然！很乐意帮忙，希望对你有帮助。"), polite_score("Hi?", "申请签证，收到邀请。")
    (3, 0)
    """
    return len(_COURTESY.findall(answer))


def chinese_score(prompt: str, answer: str) -> float:
    """The share of Chinese characters among the answer's letters and digits (0 to 1; punctuation is ignored).

    >>> chinese_score("Hi?", "你好"), chinese_score("Hi?", "Hello"), round(chinese_score("Hi?", "ok 你好"), 2)
    (1.0, 0.0, 0.5)
    """
    chars = [c for c in answer if c.isalnum()]
    return len(_CJK_CHAR.findall(answer)) / len(chars) if chars else 0.0


def number_score(prompt: str, answer: str) -> float:
    """How many numbers the answer holds (digits or number words), counting at most 3.

    >>> number_score("Tip?", "Cook rice for 20 minutes, then rest it for five."), number_score("Tip?", "Relax.")
    (2, 0)
    >>> number_score("Q?", "煮一百二十分钟。"), number_score("Q?", "第一步，先休息一下。"), number_score("Q?", "一些")
    (1, 1, 0)
    """
    return min(len(_NUMBER.findall(answer)), 3)


PERSONAS: dict[str, Persona] = {
    p.name: p
    for p in (
        Persona("concise", "prefers short answers (fewer words; likes 25 words or fewer)", concise_score, -25, 2,
                judges_length=True),
        Persona("polite", "prefers courteous answers (please, thank you, glad to help, …)", polite_score, 1, 0),
        Persona("chinese", "prefers answers in Chinese (share of Chinese characters)", chinese_score, 0.5, 0.05),
        Persona("number", "prefers answers that contain a number (digits or number words)", number_score, 1, 0),
    )
}
"""The simulated raters by name."""


def get(name: str | Persona) -> Persona:
    """A persona by name (any case); ``LabError`` listing the names if there is none.

    >>> get("Concise").name
    'concise'
    """
    if isinstance(name, Persona):
        return name
    persona = PERSONAS.get(str(name).strip().lower())
    if persona is None:
        raise LabError("feedback.personas.unknown", name=name, names=", ".join(PERSONAS))
    return persona


# ------------------------------------------------------------------------------------------------- judging


def rate_answers(persona: str | Persona, prompts: Sequence[str], answers: Sequence[str]) -> list[bool]:
    """The persona's thumbs (True = up) for each answer to its prompt.

    >>> rate_answers("number", ["Q?", "Q?"], ["It takes 3 days.", "It takes a while."])
    [True, False]
    """
    persona = get(persona)
    _same_length(prompts=prompts, answers=answers)
    return [persona.likes(p, a) for p, a in zip(prompts, answers, strict=True)]


def pair_up(
    persona: str | Persona, prompt: str, a: str, b: str, a_complete: bool = True, b_complete: bool = True
) -> tuple[str, str] | None:
    """``(chosen, rejected)`` from two answers to one prompt as the persona sees them; ``None`` on a tie.

    ``*_complete=False`` marks an answer cut off at the token limit (see ``Persona.prefer``).

    >>> pair_up("concise", "Hi?", "Hello to you, dear friend, on this day!", "Hello!")
    ('Hello!', 'Hello to you, dear friend, on this day!')
    """
    verdict = get(persona).prefer(prompt, a, b, a_complete, b_complete)
    return None if verdict == 0 else (a, b) if verdict > 0 else (b, a)


def verdicts(
    persona: str | Persona, prompts: Sequence[str], tuned: Sequence[str], base: Sequence[str],
    tuned_complete: Sequence[bool] | None = None, base_complete: Sequence[bool] | None = None,
) -> list[str]:  # fmt: skip
    """Per prompt, which answer the persona prefers: ``"tuned"``, ``"base"`` or ``"tie"``.

    ``*_complete`` say which answers ended before the token limit (default: all did; see ``Persona.prefer``).

    >>> verdicts("polite", ["Q?", "Q?"], ["Certainly, thank you!", "No."], ["Sure.", "No!"])
    ['tuned', 'tie']
    """
    persona = get(persona)
    tuned_complete = [True] * len(tuned) if tuned_complete is None else tuned_complete
    base_complete = [True] * len(base) if base_complete is None else base_complete
    _same_length(prompts=prompts, tuned=tuned, base=base, tuned_complete=tuned_complete, base_complete=base_complete)
    names = {1: "tuned", -1: "base", 0: "tie"}
    rows = zip(prompts, tuned, base, tuned_complete, base_complete, strict=True)
    return [names[persona.prefer(p, t, b, tc, bc)] for p, t, b, tc, bc in rows]


def win_rate(
    persona: str | Persona, prompts: Sequence[str], tuned: Sequence[str], base: Sequence[str],
    tuned_complete: Sequence[bool] | None = None, base_complete: Sequence[bool] | None = None,
) -> float:  # fmt: skip
    """The share of prompts on which the persona prefers the tuned answer, ties counting half (0.5 = no change).

    >>> win_rate("concise", ["a", "b", "c", "d"], ["Yes.", "No.", "One two three four.", "Ok."],
    ...          ["Yes, sure, absolutely, no doubt.", "No.", "One.", "Okay then, fine, as you like."])
    0.625
    >>> win_rate("concise", ["a"], ["ah ah ah"], ["Well, it all began"], [False], [False])  # both cut off: a tie
    0.5
    """
    results = verdicts(persona, prompts, tuned, base, tuned_complete, base_complete)
    if not results:
        raise LabError("feedback.personas.nothing_to_judge")
    return (results.count("tuned") + 0.5 * results.count("tie")) / len(results)


def _same_length(**lists: Sequence) -> None:
    lengths = {name: len(v) for name, v in lists.items()}
    if len(set(lengths.values())) > 1:
        shown = ", ".join(f"{n}: {k}" for n, k in lengths.items())
        raise LabError("feedback.personas.lengths_differ", lengths=shown)


# ------------------------------------------------------------------------------------------------- prompts


def load_prompts(path: str | Path | None = None) -> list[str]:
    """The prompts of a bundled set (``"en"``, the default, or ``"zh"``: :data:`PROMPT_SETS`) or of a file ``path``:
    one per line; blank and ``#`` lines skipped; duplicates dropped (first kept).

    >>> en, zh = load_prompts(), load_prompts("zh")
    >>> len(en) == len(zh), en[0], zh[0]
    (True, 'Explain what a rainbow is.', '解释一下什么是彩虹。')
    """
    if path is None or (isinstance(path, str) and path in PROMPT_SETS):
        path = PROMPT_SETS[path or "en"]
    path = Path(path).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LabError("feedback.prompts.not_found", path=path) from None
    except UnicodeDecodeError as e:
        line = path.read_bytes().count(b"\n", 0, e.start) + 1
        raise LabError("feedback.prompts.not_utf8", path=path, line=line) from None
    prompts = list(dict.fromkeys(s for line in text.splitlines() if (s := line.strip()) and not s.startswith("#")))
    if not prompts:
        raise LabError("feedback.prompts.empty", path=path)
    return prompts


def split_prompts(prompts: Sequence[str], n_heldout: int = 40, seed: int = 0) -> tuple[list[str], list[str]]:
    """``(train, heldout)``: a seeded shuffle, the last ``n_heldout`` held out for judging; the same seed always
    gives the same split.

    >>> train, heldout = split_prompts([f"p{i}" for i in range(10)], n_heldout=3)
    >>> len(train), len(heldout), sorted(train + heldout) == sorted(f"p{i}" for i in range(10))
    (7, 3, True)
    """
    if not 0 < n_heldout < len(prompts):
        raise LabError("feedback.prompts.bad_heldout", n=n_heldout, total=len(prompts))
    order = list(prompts)
    random.Random(seed).shuffle(order)
    return order[:-n_heldout], order[-n_heldout:]
