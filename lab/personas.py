"""Simulated raters for a class demo: personas with a simple, visible taste stand in for a room of human raters.

A persona scores an answer (higher is better) with a rule anyone can check by eye — shorter, politer, in Chinese,
with a number. From the score come the two kinds of feedback RLHF collects:

- a thumbs rating: ``likes(prompt, answer)`` is ``score >= threshold`` (an absolute rule);
- a preference: ``prefer(prompt, a, b)`` is 1 (a better), -1 (b better) or 0 (a tie: scores within ``margin``).

After training on a persona's feedback, ``win_rate`` asks the same persona to judge tuned against base answers to
held-out prompts (ties count half): a rate above 0.5 means the tuned model moved toward the persona's taste. The
answers themselves are sampled elsewhere (with the model); this module is pure Python.

The class's prompts are in ``assets/prompts.txt``: ``load_prompts()`` reads them and ``split_prompts()`` keeps a
fixed held-out set for judging.
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
    "Persona",
    "get",
    "load_prompts",
    "pair_up",
    "rate_answers",
    "split_prompts",
    "verdicts",
    "win_rate",
]

PROMPTS_FILE = Path(__file__).parent.parent / "assets" / "prompts.txt"


@dataclass(frozen=True)
class Persona:
    """A simulated rater: ``score(prompt, answer)`` (higher is better), a like ``threshold`` and a tie ``margin``."""

    name: str
    description: str
    score: Callable[[str, str], float]
    threshold: float
    margin: float = 0.0

    def likes(self, prompt: str, answer: str) -> bool:
        """Thumbs up when the answer's score reaches the threshold."""
        return self.score(prompt, answer) >= self.threshold

    def prefer(self, prompt: str, a: str, b: str) -> int:
        """1 if ``a`` is better, -1 if ``b`` is, 0 if their scores are within ``margin`` (a tie)."""
        diff = self.score(prompt, a) - self.score(prompt, b)
        return 0 if abs(diff) <= self.margin else 1 if diff > 0 else -1


# ------------------------------------------------------------------------------------------------------ scores

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_WORD = re.compile(rf"[{_CJK}]|[^\s{_CJK}]*?[^\W_][^\s{_CJK}]*")  # a CJK character, or a run with a letter/digit
_CJK_CHAR = re.compile(rf"[{_CJK}]")
_COURTESY = re.compile(
    r"\b(?:please|thanks?|thank you|glad|happy to help|certainly|of course|sorry|apologi[sz]e|you're welcome|"
    r"my pleasure|kindly|great question|hope this helps)\b|请|谢谢|感谢|您|很高兴|抱歉|对不起|不客气",
    re.IGNORECASE,
)
_NUMBER = re.compile(
    r"\d+(?:[.,]\d+)*|\b(?:two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|"
    r"sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|hundred|thousand|"
    r"million|billion|dozen|half|first|second|third)\b|[两二三四五六七八九十百千万亿]",
    re.IGNORECASE,
)


def words(text: str) -> int:
    """Words in ``text``: runs with a letter or digit (punctuation alone is no word); each Chinese character is one.

    >>> words("Water boils at 100 °C — fast."), words("水在一百度沸腾。")
    (6, 7)
    """
    return len(_WORD.findall(text))


def concise_score(prompt: str, answer: str) -> float:
    """Minus the number of words: shorter is better; liked at 25 words or fewer.

    >>> concise_score("Hi?", "Hello there!"), PERSONAS["concise"].likes("Hi?", "Hello there!")
    (-2, True)
    """
    return -words(answer)


def polite_score(prompt: str, answer: str) -> float:
    """The number of courtesy markers (please, thank you, glad, certainly, of course, sorry, 请, 谢谢, …).

    >>> polite_score("Hi?", "Certainly! Glad to help. Thank you for asking."), polite_score("Hi?", "Hi.")
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
    """
    return min(len(_NUMBER.findall(answer)), 3)


PERSONAS: dict[str, Persona] = {
    p.name: p
    for p in (
        Persona("concise", "prefers short answers (fewer words; likes 25 words or fewer)", concise_score, -25, 2),
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
        raise LabError(f"No persona named {name!r}. Personas: {', '.join(PERSONAS)}.")
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


def pair_up(persona: str | Persona, prompt: str, a: str, b: str) -> tuple[str, str] | None:
    """``(chosen, rejected)`` from two answers to one prompt as the persona sees them; ``None`` on a tie.

    >>> pair_up("concise", "Hi?", "Hello to you, dear friend, on this day!", "Hello!")
    ('Hello!', 'Hello to you, dear friend, on this day!')
    """
    verdict = get(persona).prefer(prompt, a, b)
    return None if verdict == 0 else (a, b) if verdict > 0 else (b, a)


def verdicts(persona: str | Persona, prompts: Sequence[str], tuned: Sequence[str], base: Sequence[str]) -> list[str]:
    """Per prompt, which answer the persona prefers: ``"tuned"``, ``"base"`` or ``"tie"``.

    >>> verdicts("polite", ["Q?", "Q?"], ["Certainly, thank you!", "No."], ["Sure.", "No!"])
    ['tuned', 'tie']
    """
    persona = get(persona)
    _same_length(prompts=prompts, tuned=tuned, base=base)
    names = {1: "tuned", -1: "base", 0: "tie"}
    return [names[persona.prefer(p, t, b)] for p, t, b in zip(prompts, tuned, base, strict=True)]


def win_rate(persona: str | Persona, prompts: Sequence[str], tuned: Sequence[str], base: Sequence[str]) -> float:
    """The share of prompts on which the persona prefers the tuned answer, ties counting half (0.5 = no change).

    >>> win_rate("concise", ["a", "b", "c", "d"], ["Yes.", "No.", "One two three four.", "Ok."],
    ...          ["Yes, sure, absolutely, no doubt.", "No.", "One.", "Okay then, fine, as you like."])
    0.625
    """
    results = verdicts(persona, prompts, tuned, base)
    if not results:
        raise LabError("win rate: no prompts to judge. Give at least one prompt with a tuned and a base answer.")
    return (results.count("tuned") + 0.5 * results.count("tie")) / len(results)


def _same_length(**lists: Sequence[str]) -> None:
    lengths = {name: len(v) for name, v in lists.items()}
    if len(set(lengths.values())) > 1:
        shown = ", ".join(f"{n}: {k}" for n, k in lengths.items())
        raise LabError(f"the lists must be the same length, one entry per prompt ({shown}).")


# ------------------------------------------------------------------------------------------------- prompts


def load_prompts(path: str | Path | None = None) -> list[str]:
    """The prompts in ``path`` (default ``assets/prompts.txt``): one per line; blank and ``#`` lines skipped;
    duplicates dropped (first kept)."""
    path = Path(path).expanduser() if path is not None else PROMPTS_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LabError(f"Prompt file not found: {path}. Give a text file with one prompt per line.") from None
    except UnicodeDecodeError as e:
        line = path.read_bytes().count(b"\n", 0, e.start) + 1
        raise LabError(f"Cannot read {path}: line {line} is not UTF-8. Save the file as UTF-8.") from None
    prompts = list(dict.fromkeys(s for line in text.splitlines() if (s := line.strip()) and not s.startswith("#")))
    if not prompts:
        raise LabError(f"{path} has no prompts. Write one prompt per line.")
    return prompts


def split_prompts(prompts: Sequence[str], n_heldout: int = 40, seed: int = 0) -> tuple[list[str], list[str]]:
    """``(train, heldout)``: a seeded shuffle, the last ``n_heldout`` held out for judging; the same seed always
    gives the same split.

    >>> train, heldout = split_prompts([f"p{i}" for i in range(10)], n_heldout=3)
    >>> len(train), len(heldout), sorted(train + heldout) == sorted(f"p{i}" for i in range(10))
    (7, 3, True)
    """
    if not 0 < n_heldout < len(prompts):
        raise LabError(
            f"cannot hold out {n_heldout} of {len(prompts)} prompts: hold out at least 1, leave at least 1 to train."
        )
    order = list(prompts)
    random.Random(seed).shuffle(order)
    return order[:-n_heldout], order[-n_heldout:]
