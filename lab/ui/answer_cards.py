"""Answers side by side as cards: one card per prompt, the prompt on top and the answers next to each other.

The before/after views (RFT: base → after SFT → after RL; RLHF: base → tuned) and the Compare tab (base, run A,
run B) all show their answers through :func:`cards_html`. Each answer sits in a column of a CSS grid that fits its
box (no horizontal scrolling at any width), with its score and verdict in its head; the words that differ from the
first answer (the base model's) are highlighted, and a long answer folds after about ``FOLD_CHARS`` characters.

The markup names its parts for people and for the layout check in ``lab.browser``: each card is
``.answer-card``, each answer ``.answer-field`` (``data-field`` = its column title), each score ``.score-field``
and each verdict ``.verdict-field``. Pure formatting: every text is escaped here.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field

from lab.texts import t
from lab.ui.common import esc

__all__ = ["FOLD_CHARS", "OPEN_CARDS", "Answer", "Card", "cards_html", "diff_segments", "fold_html"]

FOLD_CHARS = 300
"""A longer answer shows its first ``FOLD_CHARS`` characters and folds the rest (click to unfold)."""
OPEN_CARDS = 10
"""Cards shown at once; the others wait in a closed "show the other N prompts"."""
MIN_SHARED = 0.2
"""Below this share of words in common with the base answer, nothing is highlighted (it would be all of it)."""
_TOKEN = re.compile(r"\s+|[^\s]+")


@dataclass
class Answer:
    """One answer in a card: its column title, text, and what to show beside it."""

    title: str
    text: str | None
    score: str | None = None  # already formatted, e.g. "reward 0.50"
    verdict: str | None = None  # e.g. "✓ exact match", "concise prefers this"
    verdict_kind: str = ""  # "good" / "bad" / "" : the verdict's colour
    preferred: bool = False  # a judge preferred this answer: its box is outlined
    note: str | None = None  # e.g. "cut at the length limit"
    compare: bool = True  # highlight what differs from the card's first answer


@dataclass
class Card:
    """One prompt and its answers; the first answer is the reference point (the base model)."""

    prompt: str
    answers: list[Answer] = field(default_factory=list)
    reference: str | None = None  # RFT: the reference answer


def cards_html(
    cards: list[Card], empty: str, legend: str | None = None, open_cards: int = OPEN_CARDS, fold: int = FOLD_CHARS
) -> str:
    """All cards as one HTML block under a line that says how to read them (``legend``; ``empty``: the note shown
    when there are no cards)."""
    if not cards:
        return f'<div class="answer-cards-empty">{esc(empty)}</div>'
    columns = max(len(c.answers) for c in cards)
    shown = "".join(_card(c, fold) for c in cards[:open_cards])
    rest = cards[open_cards:]
    if rest:
        summary = esc(t("ui.cards.more_prompts", n=len(rest)))
        others = "".join(_card(c, fold) for c in rest)
        shown += (f'<details class="more-cards"><summary>{summary}</summary>'
                  f'<div class="answer-cards-list">{others}</div></details>')  # fmt: skip
    legend = esc(legend or t("ui.cards.legend"))
    return (f'<div class="answer-cards" style="--answer-columns:{columns}"><div class="answer-legend">{legend}</div>'
            f'<div class="answer-cards-list">{shown}</div></div>')  # fmt: skip


def _card(card: Card, fold: int) -> str:
    first = _text(card.answers[0].text) if card.answers else ""
    reference = (f'<span class="answer-reference">{esc(t("ui.cards.reference"))} <b>{esc(card.reference)}</b></span>'
                 if card.reference is not None else "")  # fmt: skip
    fields = "".join(_answer(a, first if i and a.compare else None, fold) for i, a in enumerate(card.answers))
    return (f'<div class="answer-card"><div class="answer-prompt"><span class="answer-prompt-text">'
            f"{esc(card.prompt)}</span>{reference}</div><div class=\"answer-grid\">{fields}</div></div>")  # fmt: skip


def _answer(answer: Answer, base: str | None, fold: int) -> str:
    text = _text(answer.text)
    changed = base is not None and text.strip() != base.strip()
    segments = diff_segments(base, text) if changed else [(text, False)]
    classes = ["answer-field"] + (["changed"] if changed else []) + (["preferred"] if answer.preferred else [])
    head = [f'<span class="answer-title">{esc(answer.title)}</span>']
    if answer.score is not None:
        head.append(f'<span class="score-field">{esc(answer.score)}</span>')
    if answer.verdict:
        head.append(f'<span class="verdict-field {esc(answer.verdict_kind)}">{esc(answer.verdict)}</span>')
    if base is not None:
        key = "ui.cards.changed" if changed else "ui.cards.same"
        head.append(f'<span class="change-badge{" on" if changed else ""}">{esc(t(key))}</span>')
    note = f'<div class="answer-note">{esc(answer.note)}</div>' if answer.note else ""
    blank = f'<span class="answer-blank">{esc(t("ui.cards.blank"))}</span>'
    body = fold_html(segments, fold) if text.strip() else blank
    return (f'<div class="{" ".join(classes)}" data-field="{esc(answer.title)}"><div class="answer-head">'
            f'{"".join(head)}</div><div class="answer-text">{body}</div>{note}</div>')  # fmt: skip


def _text(value) -> str:
    return "" if value is None else str(value)


def diff_segments(base: str | None, text: str) -> list[tuple[str, bool]]:
    """``text`` cut into ``(piece, differs from base)``, word by word (whitespace kept as it is).

    >>> diff_segments("It is Paris.", "It is Rome.")
    [('It is ', False), ('Rome.', True)]
    >>> diff_segments("It is Paris, I think.", "It is surely Rome, I think.")
    [('It is ', False), ('surely Rome,', True), (' I think.', False)]
    >>> diff_segments(None, "Hi")
    [('Hi', False)]
    """
    if base is None:
        return [(text, False)]
    old, new = _TOKEN.findall(base), _TOKEN.findall(text)
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    if matcher.ratio() < MIN_SHARED:  # a different answer altogether: its "changed" badge says it, no marks
        return [(text, False)]
    pieces = [("".join(new[j1:j2]), tag != "equal") for tag, _, _, j1, j2 in matcher.get_opcodes() if j2 > j1]
    segments: list[tuple[str, bool]] = []
    for i, (piece, marked) in enumerate(pieces):
        if not piece.strip():  # blanks between two changed words are part of the change; elsewhere unmarked
            marked = 0 < i < len(pieces) - 1 and pieces[i - 1][1] and pieces[i + 1][1]
        if segments and segments[-1][1] == marked:
            segments[-1] = (segments[-1][0] + piece, marked)
        else:
            segments.append((piece, marked))
    return segments


def fold_html(segments: list[tuple[str, bool]], limit: int = FOLD_CHARS) -> str:
    """The segments as HTML (differing ones in ``<mark>``); past ``limit`` characters the rest folds away.

    >>> fold_html([("a ", False), ("b", True)])
    'a <mark class="diff">b</mark>'
    >>> "<details" in fold_html([("word " * 100, False)], 50)
    True
    """
    total = sum(len(s) for s, _ in segments)
    if total <= limit * 1.2:  # a little over the limit: not worth a click
        return _marked(segments)
    head, n = [], 0
    for piece, marked in segments:
        if n + len(piece) > limit:
            cut = piece[: limit - n]
            cut = cut.rsplit(" ", 1)[0] if " " in cut.strip() else cut
            head.append((cut, marked))
            break
        head.append((piece, marked))
        n += len(piece)
    more = esc(t("ui.cards.unfold", n=total))
    less = esc(t("ui.cards.fold"))
    return (f'<details class="fold"><summary><span class="fold-head">{_marked(head)}… </span>'
            f'<span class="fold-more">{more}</span><span class="fold-less">{less}</span></summary>'
            f'<div class="fold-full">{_marked(segments)}</div></details>')  # fmt: skip


def _marked(segments: list[tuple[str, bool]]) -> str:
    return "".join(f'<mark class="diff">{esc(s)}</mark>' if m else esc(s) for s, m in segments)
