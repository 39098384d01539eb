"""What an RLHF run trains on, said before it starts: the usable feedback in a store and whether it is enough.

``lab.methods.rlhf.train`` takes its pairs and ratings through :func:`training_feedback` (explicit and derived
pairs and the ratings, except those on the run's held-out prompts); the page shows :func:`usable_feedback` of the
same store above Train — who made them (people, simulated raters, imports), what is left out, and how many the
default needs: enough pairs that the reward model is judged on ``RM_HELDOUT_PAIRS`` held-out pairs. No torch here.
"""

from __future__ import annotations

import math
from typing import Any

from lab.feedback import personas
from lab.messages import completion_text, prompt_key, prompt_text
from lab.methods.rlhf_config import Config

__all__ = [
    "DEMO", "KTO_RATINGS", "MAX_SIMULATE", "RM_HELDOUT_PAIRS", "pairs_needed", "ratings_for_pairs", "source_group",
    "training_feedback", "usable_feedback",
]  # fmt: skip

DEMO = {"ratings": 256, "pairs": 69, "rm_train_pairs": 47, "rm_heldout_pairs": 22, "rm_accuracy": 0.955,
        "win_rate": 0.938}  # fmt: skip
"""The default demo as benchmarked (``python -m lab rlhf --persona concise``): 256 simulated ratings → 69 usable
pairs (47 to train the reward model, 22 held out), reward-model accuracy and the persona's win rate."""
RM_HELDOUT_PAIRS = 20
"""The default wants the reward model judged on at least this many held-out pairs (one pair = 5 % of accuracy)."""
KTO_RATINGS = 64
"""KTO's default wants at least this many usable ratings, liked and disliked both (the demo has ~250)."""
MAX_SIMULATE = 2000
"""The most simulated ratings one click adds."""


def source_group(source: str) -> str:
    """Who made a stored row: ``"people"`` (source ``human``), ``"simulated"`` or ``"imported"``.

    >>> source_group("human"), source_group("simulated:concise"), source_group("import:a.csv")
    ('people', 'simulated', 'imported')
    """
    return {"simulated": "simulated", "import": "imported"}.get(str(source).partition(":")[0], "people")


def pairs_needed(heldout_share: float) -> int:
    """Pairs that give the reward model about ``RM_HELDOUT_PAIRS`` held-out pairs at ``heldout_share``.

    >>> pairs_needed(0.3), pairs_needed(0.2)
    (67, 100)
    """
    return math.ceil(round(RM_HELDOUT_PAIRS / heldout_share, 6))


def ratings_for_pairs(pairs: int, per_prompt: int = 4) -> int:
    """Simulated ratings that give about ``pairs`` usable pairs (the demo's 256 ratings gave 69), rounded up to whole
    prompts of ``per_prompt`` answers, at most ``MAX_SIMULATE``; 0 for none.

    >>> ratings_for_pairs(60), ratings_for_pairs(1), ratings_for_pairs(0), ratings_for_pairs(10_000)
    (224, 4, 0, 2000)
    """
    if pairs <= 0:
        return 0
    return min(MAX_SIMULATE, per_prompt * math.ceil(pairs * DEMO["ratings"] / DEMO["pairs"] / per_prompt))


def _split(store, cfg: Config, with_source: bool) -> tuple[list, list, int, int]:
    """``(pairs, ratings, pairs left out, ratings left out)``: left out are those on the run's held-out prompts."""
    _, heldout = personas.split_prompts(personas.load_prompts(cfg.prompts), cfg.heldout, cfg.seed)
    held = set(heldout)
    pairs = store.preference_pairs(include_derived=True, conversational=True, with_source=with_source)
    ratings = store.unpaired(conversational=True, with_source=with_source)
    kept_pairs = [p for p in pairs if prompt_text(p["prompt"]) not in held]  # held-out prompts stay unseen
    kept_ratings = [r for r in ratings if prompt_text(r["prompt"]) not in held]
    return kept_pairs, kept_ratings, len(pairs) - len(kept_pairs), len(ratings) - len(kept_ratings)


def training_feedback(store, cfg: Config | None = None, with_source: bool = False) -> tuple[list, list]:
    """``(pairs, ratings)`` a run of ``cfg`` trains on from ``store``, as ``lab.methods.rlhf.train`` takes them:
    explicit and derived pairs and the ratings, conversational, except those on the run's held-out prompts."""
    pairs, ratings, _, _ = _split(store, cfg or Config(), with_source)
    return pairs, ratings


def usable_feedback(store, cfg: Config | None = None) -> dict[str, Any]:
    """What a Train of ``cfg`` (default: the defaults) would use from ``store``, and whether it is enough.

    Pairs are counted as the reward model (and DPO) take them: a repeated (prompt, chosen, rejected) once. Returns
    ``pairs``, ``ratings``, ``liked``, ``disliked``; ``by_source`` (``{source: {"pairs", "ratings"}}``) and
    ``groups`` (people / simulated / imported, each ``{"pairs", "ratings"}``); ``left_out`` (pairs and ratings on
    the held-out prompts, repeated pairs); ``heldout_pairs`` (about how many pairs the reward model is judged on);
    and what the route needs: ``unit`` (``"pairs"``, or ``"ratings"`` for KTO), ``have``, ``needed``,
    ``missing``, ``enough`` and ``simulate`` (the simulated ratings that would make up the rest; 0 when enough).
    """
    cfg = cfg or Config()
    pairs, ratings, pairs_out, ratings_out = _split(store, cfg, with_source=True)
    seen, distinct = set(), []
    for p in pairs:  # as lab.methods.reward_model.dedupe_pairs
        key = (prompt_key(p["prompt"]), completion_text(p["chosen"]).strip(), completion_text(p["rejected"]).strip())
        if key not in seen:
            seen.add(key)
            distinct.append(p)
    by_source: dict[str, dict[str, int]] = {}
    for kind, rows in (("pairs", distinct), ("ratings", ratings)):
        for row in rows:
            counts = by_source.setdefault(row["source"], {"pairs": 0, "ratings": 0})
            counts[kind] += 1
    groups = {g: {"pairs": 0, "ratings": 0} for g in ("people", "simulated", "imported")}
    for source, counts in by_source.items():
        for kind, n in counts.items():
            groups[source_group(source)][kind] += n
    liked = sum(r["label"] for r in ratings)
    n_pairs = len(distinct)
    if cfg.route == "kto":
        unit, have, needed = "ratings", len(ratings), KTO_RATINGS
        missing = max(0, needed - have)
        enough = not missing and 0 < liked < have
        k = cfg.simulate_answers  # whole prompts; at least 4 of them when only liked or only disliked are missing
        simulate = 0 if enough else min(MAX_SIMULATE, k * max(4, math.ceil(missing / k)))
    else:
        unit, have, needed = "pairs", n_pairs, pairs_needed(cfg.rm_heldout_share)
        missing = max(0, needed - have)
        enough = not missing
        simulate = ratings_for_pairs(missing, cfg.simulate_answers)
    return {
        "route": cfg.route,
        "pairs": n_pairs,
        "ratings": len(ratings),
        "liked": liked,
        "disliked": len(ratings) - liked,
        "by_source": dict(sorted(by_source.items())),
        "groups": groups,
        "left_out": {
            "pairs": pairs_out,
            "ratings": ratings_out,
            "repeated_pairs": len(pairs) - n_pairs,
            "heldout_prompts": cfg.heldout,
        },  # fmt: skip
        "heldout_pairs": max(1, round(cfg.rm_heldout_share * n_pairs)) if n_pairs > 1 else 0,
        "unit": unit,
        "have": have,
        "needed": needed,
        "missing": missing,
        "enough": enough,
        "simulate": simulate,
    }
