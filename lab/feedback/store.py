"""Human (and simulated) feedback for the RLHF track, kept in one SQLite file: thumbs ratings and preference pairs.

Two kinds of feedback, the two data formats TRL's preference trainers read:

- a **rating** is a thumbs up/down on one answer — ``{prompt, completion, label}``, TRL's *unpaired preference*
  format (KTO, or a reward model after pairing);
- a **pair** says which of two answers to one prompt is better — ``{prompt, chosen, rejected}``, TRL's *paired
  preference* format (reward model, DPO). Ratings give pairs too: a liked and a disliked answer to the same prompt
  from the same source form a *derived pair* (``derived_pairs()``).

Each row keeps where it came from: ``source`` is ``"human"`` (the chat tab), ``"import:<file name>"`` or
``"simulated:<persona>"`` (:mod:`lab.feedback.personas`). A prompt is stored as the user's text plus an optional
system text; ``conversational=True`` gives it back as TRL's message lists, otherwise the system text (if any)
leads the prompt.

The store is safe to share: every operation opens its own short connection (WAL journal, 10 s busy timeout), so
Gradio's worker threads, the CLI and training processes can all write at once. Every write is committed when the
call returns. ``import_file`` reads and validates a whole file (CSV, JSONL or JSON, plain or conversational) first
and stores it in one transaction: any problem raises ``LabError`` naming file, line and field, and nothing is
stored. Parsing lives in ``lab.feedback.files``, the text limits (and their check) in :mod:`lab.messages`.
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lab import LabError, lab_home
from lab.messages import MAX_ANSWER_CHARS, MAX_PROMPT_CHARS, check_text
from lab.texts import t

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["PAIRS_PER_PROMPT", "FeedbackStore", "check_source"]

PAIRS_PER_PROMPT = 4
"""At most this many derived pairs per prompt and source, so that one much-rated prompt does not dominate."""
BUSY_TIMEOUT_S = 10.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS ratings (
    id INTEGER PRIMARY KEY AUTOINCREMENT, prompt TEXT NOT NULL, system TEXT NOT NULL DEFAULT '',
    completion TEXT NOT NULL, label INTEGER NOT NULL CHECK (label IN (0, 1)), model TEXT NOT NULL DEFAULT '',
    session TEXT NOT NULL DEFAULT '', source TEXT NOT NULL, created TEXT NOT NULL, owner TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS pairs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, prompt TEXT NOT NULL, system TEXT NOT NULL DEFAULT '',
    chosen TEXT NOT NULL, rejected TEXT NOT NULL, model TEXT NOT NULL DEFAULT '',
    session TEXT NOT NULL DEFAULT '', source TEXT NOT NULL, created TEXT NOT NULL, owner TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS ratings_source ON ratings (source);
CREATE INDEX IF NOT EXISTS pairs_source ON pairs (source);
"""
_TABLES = {"rating": "ratings", "pair": "pairs"}
_RATING_COLUMNS = ("prompt", "system", "completion", "label", "model", "session", "source", "owner", "created")
_PAIR_COLUMNS = ("prompt", "system", "chosen", "rejected", "model", "session", "source", "owner", "created")
_CONTENT = {"ratings": ("prompt", "system", "completion", "label"),
            "pairs": ("prompt", "system", "chosen", "rejected")}  # fmt: skip
"""What makes two rows the same feedback (an import of the same file twice stores it once)."""


def check_source(source: str) -> str:
    """Return ``source`` if it is ``"human"``, ``"import:<name>"`` or ``"simulated:<persona>"``; else ``LabError``.

    >>> check_source("simulated:concise")
    'simulated:concise'
    """
    if not isinstance(source, str) or not (
        source == "human" or (source.partition(":")[0] in ("import", "simulated") and source.partition(":")[2])
    ):
        raise LabError("feedback.store.bad_source", source=source)
    return source


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _source_filter(column: str, source: str | None) -> tuple[str, list[Any]]:
    """SQL condition for a source filter: exact, or a prefix when it ends with ':' (``"simulated:"`` = all)."""
    if source is None:
        return "1", []
    if source.endswith(":"):
        return f"substr({column}, 1, ?) = ?", [len(source), source]
    return f"{column} = ?", [source]


def _prompt_out(prompt: str, system: str, conversational: bool) -> str | list[dict[str, str]]:
    if conversational:
        return [{"role": "system", "content": system}] * bool(system) + [{"role": "user", "content": prompt}]
    return f"{system}\n\n{prompt}" if system else prompt


def _answer_out(text: str, conversational: bool) -> str | list[dict[str, str]]:
    return [{"role": "assistant", "content": text}] if conversational else text


class FeedbackStore:
    """Ratings and preference pairs in one SQLite file (default ``lab_home() / "feedback.sqlite"``).

    Cheap to create and safe to share between threads; several processes may open the same file.
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path).expanduser() if path is not None else lab_home() / "feedback.sqlite"
        if self.path.is_dir():
            raise LabError("feedback.store.folder", path=self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            if db.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)
            for table in _TABLES.values():  # stores from before owners were kept: add the column ('' = nobody's)
                if "owner" not in {row[1] for row in db.execute(f"PRAGMA table_info({table})")}:
                    db.execute(f"ALTER TABLE {table} ADD COLUMN owner TEXT NOT NULL DEFAULT ''")

    def __repr__(self) -> str:
        return f"FeedbackStore({str(self.path)!r})"

    @contextmanager
    def _connect(self, write: bool = False) -> Iterator[sqlite3.Connection]:
        """One short connection; with ``write`` a single ``BEGIN IMMEDIATE`` transaction, committed on success."""
        db = None
        try:
            db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
            db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            if write:
                db.execute("BEGIN IMMEDIATE")
                try:
                    yield db
                    db.execute("COMMIT")
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
            else:
                yield db
        except sqlite3.DatabaseError as e:
            key = "feedback.store.locked" if "locked" in str(e) or "busy" in str(e) else "feedback.store.broken"
            raise LabError(key, path=self.path, error=str(e)) from e
        finally:
            if db is not None:
                db.close()

    # ------------------------------------------------------------------------------------------------- writing

    def add_rating(
        self,
        prompt: str,
        completion: str,
        label: bool,
        *,
        system: str = "",
        model: str = "embedded",
        session: str = "",
        source: str = "human",
        owner: str = "",
    ) -> int:
        """Store one thumbs rating (``label`` True = up) and return its id. ``owner``: the visitor id of who made it
        (``lab.access``), the one visitor who may delete it besides the teacher."""
        row = self._rating_row(prompt, completion, label, system, model, session, source, owner)
        with self._connect(write=True) as db:
            return db.execute(_insert("ratings", _RATING_COLUMNS), row).lastrowid

    def add_pair(
        self,
        prompt: str,
        chosen: str,
        rejected: str,
        *,
        system: str = "",
        model: str = "embedded",
        session: str = "",
        source: str = "human",
        owner: str = "",
    ) -> int:
        """Store one preference (``chosen`` is the better answer to ``prompt``) and return its id (``owner``: as for
        ``add_rating``)."""
        row = self._pair_row(prompt, chosen, rejected, system, model, session, source, owner)
        with self._connect(write=True) as db:
            return db.execute(_insert("pairs", _PAIR_COLUMNS), row).lastrowid

    def add_many(self, ratings: Sequence[dict[str, Any]] = (), pairs: Sequence[dict[str, Any]] = ()) -> dict[str, int]:
        """Validate every row first, then store them all in one transaction (all or nothing); return the counts.

        Each row is a dict of ``add_rating``/``add_pair`` arguments.
        """
        rating_rows = [self._rating_row(**_defaults(r, "completion", "label")) for r in ratings]
        pair_rows = [self._pair_row(**_defaults(p, "chosen", "rejected")) for p in pairs]
        with self._connect(write=True) as db:
            db.executemany(_insert("ratings", _RATING_COLUMNS), rating_rows)
            db.executemany(_insert("pairs", _PAIR_COLUMNS), pair_rows)
        return {"ratings": len(rating_rows), "pairs": len(pair_rows)}

    def delete(self, kind: str, ids: Sequence[int], owner: str | None = None) -> int:
        """Delete ratings (``kind="rating"``) or pairs (``kind="pair"``) by id; return how many were deleted.

        With ``owner`` (a visitor who is not the teacher) every id must be that visitor's: if any existing one is
        someone else's, ``LabError`` names them and nothing is deleted.
        """
        if kind not in _TABLES:
            raise LabError("feedback.store.bad_delete_kind", kind=kind)
        ids = [int(i) for i in ids]
        if not ids:
            return 0
        with self._connect(write=True) as db:
            marks = ",".join("?" * len(ids))
            if owner is not None:
                query = f"SELECT id FROM {_TABLES[kind]} WHERE id IN ({marks}) AND owner != ?"
                foreign = sorted(row[0] for row in db.execute(query, [*ids, owner]))
                if foreign:
                    raise LabError("access.feedback_not_yours", kind=_TABLES[kind],
                                   ids=", ".join(map(str, foreign)))  # fmt: skip
            return db.execute(f"DELETE FROM {_TABLES[kind]} WHERE id IN ({marks})", ids).rowcount

    def clear(self, source_prefix: str | None = None) -> int:
        """Delete every rating and pair, or those whose source starts with ``source_prefix``; return the count."""
        where, params = (
            ("1", []) if source_prefix is None else ("substr(source, 1, ?) = ?", [len(source_prefix), source_prefix])
        )
        with self._connect(write=True) as db:
            return sum(db.execute(f"DELETE FROM {table} WHERE {where}", params).rowcount for table in _TABLES.values())

    def import_file(self, path: str | Path, source: str | None = None, owner: str = "") -> dict[str, int]:
        """Read a CSV/JSONL/JSON feedback file in TRL's formats and store all of it, or nothing (``LabError``).

        ``source`` defaults to ``"import:<file name>"``. Rows already stored from that source (the same prompt,
        system text and answers), and repeats within the file, are not stored again: importing a file twice stores
        it once. Returns ``{"ratings": n, "pairs": m, "skipped": k}`` (``k`` rows already there).
        """
        from lab.feedback.files import read_feedback_file

        path = Path(path).expanduser()
        source = check_source(source or f"import:{path.name}")
        ratings, pairs = read_feedback_file(path)
        for row in (*ratings, *pairs):
            row.update(source=source, model="", owner=owner)
        new_ratings, new_pairs = self._new_rows("ratings", ratings, source), self._new_rows("pairs", pairs, source)
        counts = self.add_many(new_ratings, new_pairs)
        return {**counts, "skipped": len(ratings) + len(pairs) - len(new_ratings) - len(new_pairs)}

    def _new_rows(self, table: str, rows: list[dict[str, Any]], source: str) -> list[dict[str, Any]]:
        """The rows whose content (``_CONTENT``) is neither stored under ``source`` nor repeated before in ``rows``."""
        columns = _CONTENT[table]
        where, params = _source_filter("source", source)
        with self._connect() as db:
            seen = set(db.execute(f"SELECT {', '.join(columns)} FROM {table} WHERE {where}", params).fetchall())
        new = []
        for row in rows:
            key = tuple(int(row[c]) if c == "label" else row.get(c, "") for c in columns)
            if key not in seen:
                seen.add(key)
                new.append(row)
        return new

    def export_file(
        self, path: str | Path, kind: str = "unpaired", conversational: bool = False, source: str | None = None
    ) -> int:
        """Write ``unpaired()`` or ``preference_pairs()`` to a .jsonl, .json or .csv file; return the row count."""
        from lab.feedback.files import write_rows

        if kind not in ("unpaired", "paired"):
            raise LabError("feedback.store.bad_export_kind", kind=kind)
        rows = (
            self.unpaired(source, conversational)
            if kind == "unpaired"
            else self.preference_pairs(source=source, conversational=conversational)
        )
        columns = ["prompt", "completion", "label"] if kind == "unpaired" else ["prompt", "chosen", "rejected"]
        write_rows(Path(path).expanduser(), rows, columns)
        return len(rows)

    def _rating_row(self, prompt, completion, label, system="", model="", session="", source="human", owner=""):
        if isinstance(label, int) and label in (0, 1):  # bool is an int
            label = bool(label)
        if not isinstance(label, bool):
            raise LabError("feedback.store.bad_label", label=label)
        self._check(prompt, system, {t("feedback.what.completion"): completion}, model, session, source)
        return (prompt, system, completion, int(label), model, session, source, str(owner)[:200], _now())

    def _pair_row(self, prompt, chosen, rejected, system="", model="", session="", source="human", owner="") -> tuple:
        answers = {t("feedback.what.chosen_answer"): chosen, t("feedback.what.rejected_answer"): rejected}
        self._check(prompt, system, answers, model, session, source)
        if chosen.strip() == rejected.strip():
            raise LabError("feedback.store.same_answers")
        return (prompt, system, chosen, rejected, model, session, source, str(owner)[:200], _now())

    @staticmethod
    def _check(prompt, system, answers: dict[str, Any], model, session, source) -> None:
        problem = check_text(t("feedback.what.prompt"), prompt, MAX_PROMPT_CHARS)
        for what, text in answers.items():
            problem = problem or check_text(what, text, MAX_ANSWER_CHARS)
        if not problem and (not isinstance(system, str) or len(system) > MAX_PROMPT_CHARS):
            problem = t("feedback.store.system_too_long", limit=MAX_PROMPT_CHARS)
        for what, value in ((t("feedback.what.model"), model), (t("feedback.what.session"), session)):
            if not problem and (not isinstance(value, str) or len(value) > 200):
                problem = t("feedback.store.field_too_long", what=what, limit=200, value=value)
        if problem:
            raise LabError("feedback.store.cannot_store", problem=problem)
        check_source(source)

    # ------------------------------------------------------------------------------------------------- reading

    def ratings(self, source: str | None = None) -> pd.DataFrame:
        """Ratings as a table, newest first: id, created, prompt, system, completion, label (bool), model, ..."""
        df = self._table("ratings", source)
        df["label"] = df["label"].astype(bool)
        return df

    def pairs(self, source: str | None = None) -> pd.DataFrame:
        """Explicit preference pairs as a table, newest first: id, created, prompt, system, chosen, rejected, ..."""
        return self._table("pairs", source)

    def _table(self, table: str, source: str | None) -> pd.DataFrame:
        import pandas as pd

        columns = ["id", "created", *(_RATING_COLUMNS if table == "ratings" else _PAIR_COLUMNS)[:-1]]
        where, params = _source_filter("source", source)
        with self._connect() as db:
            rows = db.execute(f"SELECT {', '.join(columns)} FROM {table} WHERE {where} ORDER BY id DESC", params)
            return pd.DataFrame(rows.fetchall(), columns=columns)

    def _rows(self, table: str, source: str | None) -> list[sqlite3.Row]:
        where, params = _source_filter("source", source)
        with self._connect() as db:
            db.row_factory = sqlite3.Row
            return db.execute(f"SELECT * FROM {table} WHERE {where} ORDER BY id", params).fetchall()

    def derived_pairs(self, source: str | None = None, per_prompt: int = PAIRS_PER_PROMPT) -> list[dict[str, Any]]:
        """Pairs made from ratings: a liked × a disliked answer to the same prompt, rated by the same source.

        At most ``per_prompt`` per (prompt, source), chosen so that each answer is used before any is reused.
        Each dict has prompt, system, chosen, rejected, source, chosen_id, rejected_id.
        """
        groups: dict[tuple[str, str, str], tuple[dict[str, int], dict[str, int]]] = {}
        for r in self._rows("ratings", source):
            liked, disliked = groups.setdefault((r["source"], r["system"], r["prompt"]), ({}, {}))
            (liked if r["label"] else disliked).setdefault(r["completion"], r["id"])  # first rating of a text
        out = []
        for (src, system, prompt), (liked, disliked) in groups.items():
            good, bad = list(liked.items()), list(disliked.items())
            if not good or not bad:
                continue
            n = max(len(good), len(bad))
            diagonal = [(i % len(good), i % len(bad)) for i in range(n)]
            order = dict.fromkeys([*diagonal, *itertools.product(range(len(good)), range(len(bad)))])
            taken = 0
            for i, j in order:
                if taken == per_prompt:
                    break
                (chosen, chosen_id), (rejected, rejected_id) = good[i], bad[j]
                if chosen.strip() == rejected.strip():
                    continue
                taken += 1
                out.append(
                    {
                        "prompt": prompt,
                        "system": system,
                        "chosen": chosen,
                        "rejected": rejected,
                        "source": src,
                        "chosen_id": chosen_id,
                        "rejected_id": rejected_id,
                    }
                )
        return out

    def preference_pairs(
        self,
        include_derived: bool = True,
        source: str | None = None,
        conversational: bool = False,
        with_source: bool = False,
    ) -> list[dict[str, Any]]:
        """Explicit (oldest first) then derived pairs as ``{prompt, chosen, rejected}``, TRL's paired format
        (``with_source``: each with its ``source`` too, who made it)."""
        rows: list[Any] = list(self._rows("pairs", source))
        if include_derived:
            rows += self.derived_pairs(source)
        return [
            {
                "prompt": _prompt_out(r["prompt"], r["system"], conversational),
                "chosen": _answer_out(r["chosen"], conversational),
                "rejected": _answer_out(r["rejected"], conversational),
                **({"source": r["source"]} if with_source else {}),
            }
            for r in rows
        ]

    def unpaired(
        self, source: str | None = None, conversational: bool = False, with_source: bool = False
    ) -> list[dict[str, Any]]:
        """Ratings (oldest first) as ``{prompt, completion, label}``, TRL's unpaired preference format
        (``with_source``: each with its ``source`` too)."""
        return [
            {
                "prompt": _prompt_out(r["prompt"], r["system"], conversational),
                "completion": _answer_out(r["completion"], conversational),
                "label": bool(r["label"]),
                **({"source": r["source"]} if with_source else {}),
            }
            for r in self._rows("ratings", source)
        ]

    def stats(self, owner: str | None = None) -> dict[str, int]:
        """Counts: ratings, pairs (explicit), liked, disliked, derived_pairs, prompts, and rows (ratings + pairs)
        by origin: human, imported, simulated; with ``owner``, also ``yours``: that visitor's rows."""
        counts = dict.fromkeys(("ratings", "pairs", "liked", "disliked", "human", "imported", "simulated"), 0)
        with self._connect() as db:
            for table in _TABLES.values():
                for src, n, liked in db.execute(
                    f"SELECT source, COUNT(*), {'SUM(label)' if table == 'ratings' else '0'} FROM {table} "
                    "GROUP BY source"
                ):
                    counts[table] += n
                    counts["liked"] += liked or 0
                    origin = {"import": "imported", "simulated": "simulated"}.get(src.partition(":")[0], "human")
                    counts[origin] += n
            prompts = db.execute("SELECT COUNT(*) FROM (SELECT prompt FROM ratings UNION SELECT prompt FROM pairs)")
            counts["prompts"] = prompts.fetchone()[0]
            if owner:
                counts["yours"] = sum(db.execute(f"SELECT COUNT(*) FROM {table} WHERE owner = ?", (owner,))
                                      .fetchone()[0] for table in _TABLES.values())  # fmt: skip
        counts["disliked"] = counts["ratings"] - counts["liked"]
        counts["derived_pairs"] = len(self.derived_pairs())
        return counts


def _insert(table: str, columns: Sequence[str]) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


def _defaults(row: dict[str, Any], *required: str) -> dict[str, Any]:
    """Keyword arguments for ``_rating_row``/``_pair_row`` from a row dict (unknown keys are a ``LabError``)."""
    allowed = {"prompt", *required, "system", "model", "session", "source", "owner"}
    missing = [k for k in ("prompt", *required) if k not in row]
    unknown = [k for k in row if k not in allowed]
    if missing or unknown:
        raise LabError("feedback.store.bad_row", missing=missing, unknown=unknown, allowed=sorted(allowed))
    return row
