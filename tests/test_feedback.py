"""Tests for ``lab.feedback`` and ``lab.feedback.files``: the store keeps every row under concurrent writers and across
a restart; feedback files in TRL's formats import whole or not at all (with file, line and field in the message);
exports read back the same; ratings give derived pairs."""

from __future__ import annotations

import json
import multiprocessing
import threading
from pathlib import Path

import datasets
import pytest

from lab import LabError
from lab.__main__ import main
from lab.feedback import PAIRS_PER_PROMPT, FeedbackStore
from lab.feedback.files import parse_label


@pytest.fixture
def store(tmp_path) -> FeedbackStore:
    return FeedbackStore(tmp_path / "feedback.sqlite")


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8", newline="")
    return path


def jsonl(*rows: dict) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def assistant(text: str) -> list[dict]:
    return [{"role": "assistant", "content": text}]


# ------------------------------------------------------------------------------------------ writing and reading


def test_add_read_and_stats(store):
    first = store.add_rating("Hi?", "Hello!", True, session="s1")
    second = store.add_rating("Hi?", "Go away.", False, model="tiny", source="simulated:polite")
    pair = store.add_pair("Bye?", "Goodbye, take care!", "Bye.", system="Be kind.")
    assert second > first and pair >= 1

    ratings = store.ratings()
    assert list(ratings["id"]) == [second, first]  # newest first
    assert list(ratings["label"]) == [False, True] and ratings["label"].dtype == bool
    assert ratings.loc[1, "session"] == "s1" and ratings.loc[1, "model"] == "embedded"
    assert list(store.ratings(source="simulated:")["id"]) == [second]
    assert list(store.ratings(source="human")["id"]) == [first]
    assert store.pairs().loc[0, "system"] == "Be kind."

    stats = store.stats()
    assert stats == {
        "ratings": 2,
        "pairs": 1,
        "liked": 1,
        "disliked": 1,
        "derived_pairs": 0,  # the like and the dislike come from different sources
        "human": 2,
        "imported": 0,
        "simulated": 1,
        "prompts": 2,
    }
    assert all(type(v) is int for v in stats.values())


def test_a_visitor_tells_their_own_feedback_from_the_class(store):
    from lab.ui.rlhf_actions import stats_html

    store.add_rating("Hi?", "Hello!", True, owner="v:alice")
    store.add_pair("Bye?", "Goodbye!", "Bye.", owner="v:alice")
    store.add_rating("Hi?", "Hey.", False, owner="v:bob", source="simulated:concise")
    assert store.stats(owner="v:alice")["yours"] == 2 and store.stats(owner="v:bob")["yours"] == 1
    assert store.stats(owner="v:nobody")["yours"] == 0 and "yours" not in store.stats()
    assert "yours 2" in stats_html(store.stats(owner="v:alice")) and "yours" not in stats_html(store.stats())


def test_trainer_formats(store):
    store.add_rating("Hi?", "Hello!", True)
    store.add_pair("Bye?", "Goodbye!", "Bye.", system="Be kind.")
    assert store.unpaired() == [{"prompt": "Hi?", "completion": "Hello!", "label": True}]
    assert store.preference_pairs() == [{"prompt": "Be kind.\n\nBye?", "chosen": "Goodbye!", "rejected": "Bye."}]
    conversational = store.preference_pairs(conversational=True)
    assert conversational[0]["prompt"] == [{"role": "system", "content": "Be kind."}, *user("Bye?")]
    assert conversational[0]["chosen"] == assistant("Goodbye!")
    ds = datasets.Dataset.from_list(store.unpaired(conversational=True))
    assert ds.column_names == ["prompt", "completion", "label"] and ds[0]["completion"] == assistant("Hello!")
    assert datasets.Dataset.from_list(store.preference_pairs()).column_names == ["prompt", "chosen", "rejected"]


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.add_rating("", "answer", True),
        lambda s: s.add_rating("Hi?", "   ", True),
        lambda s: s.add_rating("Hi?", "x" * 9000, True),
        lambda s: s.add_rating("Hi?", "Hello", "yes"),
        lambda s: s.add_rating("Hi?", "Hello", True, source="robot"),
        lambda s: s.add_pair("Hi?", "Same.", "Same."),
        lambda s: s.add_pair("Hi?", "A", None),
    ],
)
def test_bad_rows_are_refused(store, call):
    with pytest.raises(LabError):
        call(store)
    assert store.stats()["ratings"] == store.stats()["pairs"] == 0


def test_delete_and_clear(store):
    ids = [store.add_rating("Q?", f"answer {i}", i % 2 == 0) for i in range(4)]
    store.add_rating("Q?", "sim", True, source="simulated:concise")
    pair = store.add_pair("Q?", "good", "bad")
    assert store.delete("rating", ids[:2] + [9999]) == 2
    assert store.delete("pair", [pair]) == 1
    assert store.delete("rating", []) == 0
    with pytest.raises(LabError, match="rating' or 'pair"):
        store.delete("ratings", [1])
    assert store.stats()["ratings"] == 3
    assert store.clear("simulated:") == 1
    assert store.stats()["simulated"] == 0 and store.stats()["ratings"] == 2
    assert store.clear() == 2 and store.stats()["ratings"] == 0


def test_not_a_database(tmp_path):
    path = write(tmp_path, "notes.sqlite", "this is not a database, just some text that is long enough" * 20)
    with pytest.raises(LabError, match="notes.sqlite"):
        FeedbackStore(path)


# ------------------------------------------------------------------------------------------------ concurrency

ROWS_PER_WRITER = 10


def _write_rows(path: str, writer: str, barrier) -> None:
    store = FeedbackStore(path)
    barrier.wait()
    for i in range(ROWS_PER_WRITER):
        store.add_rating(f"prompt {i}", f"{writer} answer {i}", i % 2 == 0, session=writer)
    store.add_pair("prompt 0", f"{writer} good", f"{writer} bad", session=writer)


def _process_writer(path: str, name: str, threads: int, barrier) -> None:
    """One process running ``threads`` writer threads (multiprocessing target, so module-level)."""
    workers = [threading.Thread(target=_write_rows, args=(path, f"{name}-t{t}", barrier)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()


def test_twenty_threads_lose_nothing(tmp_path):
    path = str(tmp_path / "fb.sqlite")
    shared = FeedbackStore(path)
    barrier = threading.Barrier(20)
    errors: list[BaseException] = []

    def run(n: int) -> None:
        try:
            if n % 2:  # half share one store object (as Gradio's threads do), half open their own
                barrier.wait()
                for i in range(ROWS_PER_WRITER):
                    shared.add_rating(f"prompt {i}", f"t{n} answer {i}", i % 2 == 0, session=f"t{n}")
                shared.add_pair("prompt 0", f"t{n} good", f"t{n} bad", session=f"t{n}")
            else:
                _write_rows(path, f"t{n}", barrier)
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    restarted = FeedbackStore(path)  # a "restart": a new store object reads the file
    stats = restarted.stats()
    assert stats["ratings"] == 20 * ROWS_PER_WRITER and stats["pairs"] == 20
    assert restarted.ratings()["session"].value_counts().to_dict() == {f"t{n}": ROWS_PER_WRITER for n in range(20)}


def test_processes_with_threads_lose_nothing(tmp_path):
    """4 processes × 5 threads = 20 writers at once, then a fresh process-independent read."""
    path = str(tmp_path / "fb.sqlite")
    FeedbackStore(path)
    ctx = multiprocessing.get_context("fork")  # fork: no re-import per process (the machine is small)
    barrier = ctx.Barrier(20)
    procs = [ctx.Process(target=_process_writer, args=(path, f"p{p}", 5, barrier)) for p in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    stats = FeedbackStore(path).stats()
    assert stats["ratings"] == 20 * ROWS_PER_WRITER and stats["pairs"] == 20
    assert stats["liked"] == 20 * ROWS_PER_WRITER // 2


# ---------------------------------------------------------------------------------------------- good imports


def test_import_plain_jsonl(store, tmp_path):
    path = write(
        tmp_path,
        "plain.jsonl",
        jsonl(
            {"prompt": "Hi?", "completion": "Hello.", "label": True},
            {"prompt": "Hi?", "completion": "Long story...", "label": "no"},
            {"prompt": "Bye?", "chosen": "Goodbye!", "rejected": "Go."},
        )
        + "\n",  # a trailing blank line is fine
    )
    assert store.import_file(path) == {"ratings": 2, "pairs": 1, "skipped": 0}
    assert store.unpaired() == [
        {"prompt": "Hi?", "completion": "Hello.", "label": True},
        {"prompt": "Hi?", "completion": "Long story...", "label": False},
    ]
    assert set(store.ratings()["source"]) == {"import:plain.jsonl"}
    assert store.stats()["imported"] == 3 and store.stats()["human"] == 0


def test_import_conversational_jsonl(store, tmp_path):
    system = {"role": "developer", "content": "Be brief."}
    path = write(
        tmp_path,
        "conv.jsonl",
        jsonl(
            {"prompt": [system, *user("Hi?")], "completion": assistant("Hello."), "label": 1},
            {
                "prompt": user("first") + assistant("ok") + user("Bye?"),
                "chosen": assistant("Bye!"),
                "rejected": assistant("No."),
            },
            # TRL's implicit prompt: the conversation before the answer
            {"chosen": user("Q?") + assistant("A."), "rejected": user("Q?") + assistant("B.")},
            {
                "prompt": user("Parts?"),
                "completion": [{"role": "assistant", "content": [{"type": "text", "text": "Yes."}]}],
                "label": "TRUE",
            },
        ),
    )
    assert store.import_file(path, source="simulated:concise") == {"ratings": 2, "pairs": 2, "skipped": 0}
    rows = store.unpaired(conversational=True)
    assert rows[0] == {
        "prompt": [{"role": "system", "content": "Be brief."}, *user("Hi?")],
        "completion": assistant("Hello."),
        "label": True,
    }
    assert rows[1]["completion"] == assistant("Yes.")
    pairs = store.preference_pairs()
    assert pairs == [
        {"prompt": "Bye?", "chosen": "Bye!", "rejected": "No."},  # the last user message is the prompt
        {"prompt": "Q?", "chosen": "A.", "rejected": "B."},
    ]
    assert store.stats()["simulated"] == 4


def test_import_csv_mixed_and_json_array(store, tmp_path):
    csv_path = write(
        tmp_path,
        "mixed.csv",
        "\ufeffPrompt,Completion,Label,Chosen,Rejected\n"
        '"Hi, you?",Hello.,yes,,\n'
        '"Two\nlines?","Yes, two.",0,,\n'
        "Bye?,,,Goodbye!,Go.\n"
        '"[{""role"": ""user"", ""content"": ""Conv?""}]",,,"[{""role"": ""assistant"", ""content"": ""A""}]",B\n',
    )
    assert store.import_file(csv_path) == {"ratings": 2, "pairs": 2, "skipped": 0}
    assert store.unpaired()[1] == {"prompt": "Two\nlines?", "completion": "Yes, two.", "label": False}
    assert store.preference_pairs(include_derived=False)[1] == {"prompt": "Conv?", "chosen": "A", "rejected": "B"}

    json_path = write(
        tmp_path, "array.json", json.dumps([{"prompt": "X?", "completion": "Y", "label": False}], indent=2)
    )
    assert store.import_file(json_path) == {"ratings": 1, "pairs": 0, "skipped": 0}
    assert store.stats()["ratings"] == 3


def test_parse_label():
    for yes in (True, 1, 1.0, "true", "True", " yes ", "Y", "1", "up", "👍", "like"):
        assert parse_label(yes) is True, yes
    for no in (False, 0, "false", "No", "0", "down", "dislike", "👎"):
        assert parse_label(no) is False, no
    for bad in ("maybe", 2, -1, None, [], "", 0.5):
        assert parse_label(bad) is None, bad


# ----------------------------------------------------------------------------------------------- bad imports


def refused(store: FeedbackStore, path: Path, *parts: str) -> str:
    """Assert that importing ``path`` raises LabError naming the file and each part, and that nothing changed."""
    before = store.stats()
    with pytest.raises(LabError) as info:
        store.import_file(path)
    message = str(info.value)
    assert path.name in message, message
    for part in parts:
        assert part in message, f"{part!r} not in: {message}"
    assert store.stats() == before
    return message


@pytest.fixture
def seeded(store) -> FeedbackStore:
    store.add_rating("Seed?", "Seed.", True)
    return store


GOOD = {"prompt": "a", "completion": "b", "label": True}


def test_broken_json_on_line_2(seeded, tmp_path):
    path = write(tmp_path, "broken.jsonl", jsonl(GOOD) + '{"prompt": "c",\n' + jsonl(GOOD))
    message = refused(seeded, path, "line 2", "broken JSON")
    assert '"completion"' in message  # the example shows a feedback row, not a task row


def test_missing_field_and_bad_label(seeded, tmp_path):
    path = write(
        tmp_path,
        "fields.jsonl",
        jsonl(GOOD, {"prompt": "c", "completion": "d"}, {"prompt": "e", "completion": "f", "label": "maybe"}),
    )
    message = refused(seeded, path, "2 problems", "line 2", "'label'", "line 3, field 'label'", "'maybe'")
    assert "nothing was loaded" in message


@pytest.mark.parametrize(
    "row, parts",
    [
        ({"completion": "b", "label": True}, ["line 1", "'prompt'"]),
        ({"prompt": "a", "chosen": "b"}, ["line 1", "'rejected'"]),
        ({"prompt": "a", "chosen": "b", "rejected": " b "}, ["line 1", "same text"]),
        ({"prompt": "a", "completion": "b", "label": True, "chosen": "c", "rejected": "d"}, ["one or the other"]),
        ({"prompt": "a", "answer": "b"}, ["line 1", "prompt/completion/label"]),
        ({"prompt": "", "completion": "b", "label": True}, ["field 'prompt'", "empty"]),
        ({"prompt": "a", "completion": "b" * 9000, "label": True}, ["field 'completion'", "9,000 characters"]),
        ({"prompt": "a", "completion": user("b"), "label": True}, ["field 'completion'", "assistant"]),
        ({"prompt": assistant("a"), "completion": "b", "label": True}, ["field 'prompt'", "no user message"]),
        ({"prompt": [{"role": "robot", "content": "a"}], "completion": "b", "label": 1}, ["role 'robot'"]),
        ({"prompt": {"text": "a"}, "completion": "b", "label": True}, ["field 'prompt'", "JSON object"]),
    ],
)
def test_bad_rows(seeded, tmp_path, row, parts):
    refused(seeded, write(tmp_path, "row.jsonl", jsonl(row)), *parts)


def test_bad_csv_and_encodings(seeded, tmp_path):
    refused(
        seeded,
        write(tmp_path, "bad.csv", "prompt,completion,label\nHi?,Hello.,true\nHo?,Ha.,perhaps\n"),
        "line 3, field 'label'",
        "perhaps",
    )
    refused(
        seeded,
        write(tmp_path, "latin1.jsonl", jsonl(GOOD).encode() + '{"prompt": "café"}\n'.encode("latin-1")),
        "not UTF-8",
        "line 2",
    )
    refused(seeded, write(tmp_path, "empty.jsonl", "\n\n"), "empty")
    refused(seeded, write(tmp_path, "binary.jsonl", b"PK\x03\x04rest-of-a-zip"), "ZIP")
    with pytest.raises(LabError, match="not found"):
        seeded.import_file(tmp_path / "missing.jsonl")


def test_bad_file_stores_nothing_even_when_most_rows_are_good(seeded, tmp_path):
    rows = [dict(GOOD, completion=f"answer {i}") for i in range(50)] + [{"prompt": "x", "label": True}]
    refused(seeded, write(tmp_path, "almost.jsonl", jsonl(*rows)), "line 51")
    assert seeded.stats()["ratings"] == 1


# ------------------------------------------------------------------------------------------------ round trip


@pytest.mark.parametrize("suffix", [".jsonl", ".json", ".csv"])
@pytest.mark.parametrize("conversational", [False, True])
def test_export_round_trip(store, tmp_path, suffix, conversational):
    store.add_rating("Hi, you?", 'Hello, "friend".\nSecond line.', True, system="Be warm.")
    store.add_rating("Hi, you?", "Go.", False, system="Be warm.")
    store.add_rating("你好？", "你好！", True)
    store.add_pair("Bye?", "Goodbye!", "Bye.")
    for kind, read, counts in (
        ("unpaired", FeedbackStore.unpaired, {"ratings": 3, "pairs": 0}),
        ("paired", FeedbackStore.preference_pairs, {"ratings": 0, "pairs": 2}),  # 1 explicit + 1 derived
    ):
        path = tmp_path / f"out-{kind}{suffix}"
        expected = read(store, conversational=conversational)
        assert store.export_file(path, kind=kind, conversational=conversational) == sum(counts.values())
        other = FeedbackStore(tmp_path / f"other-{kind}.sqlite")
        assert other.import_file(path) == {**counts, "skipped": 0}
        # conversational files keep the system text apart; plain ones fold it into the prompt: both read back equal
        assert read(other, conversational=conversational) == expected
        assert set(other.ratings()["system"]) | set(other.pairs()["system"]) <= {"", "Be warm."}


def test_export_refuses_bad_names(store, tmp_path):
    with pytest.raises(LabError, match=r"\.jsonl, \.json or \.csv"):
        store.export_file(tmp_path / "out.txt")
    with pytest.raises(LabError, match="'unpaired'"):
        store.export_file(tmp_path / "out.jsonl", kind="both")
    assert store.export_file(tmp_path / "sub" / "empty.csv", kind="paired") == 0
    assert (tmp_path / "sub" / "empty.csv").read_text() == "prompt,chosen,rejected\n"


# --------------------------------------------------------------------------------------------- derived pairs


def test_derived_pairs(store):
    liked = [store.add_rating("Q?", f"good {i}", True) for i in range(2)]
    disliked = [store.add_rating("Q?", f"bad {i}", False) for i in range(3)]
    store.add_rating("Q?", "good 0", True)  # the same text liked again adds nothing
    store.add_rating("Q?", "sim bad", False, source="simulated:concise")  # another source: not mixed in
    store.add_rating("Other?", "only liked", True)
    derived = store.derived_pairs()
    assert len(derived) == PAIRS_PER_PROMPT == 4
    assert {d["chosen_id"] for d in derived} == set(liked)
    assert {d["rejected_id"] for d in derived} == set(disliked)  # every answer used before any is reused
    assert all(d["prompt"] == "Q?" and d["source"] == "human" and d["chosen"].startswith("good") for d in derived)
    assert len(store.derived_pairs(per_prompt=100)) == 6
    assert store.stats()["derived_pairs"] == 4

    store.add_rating("Q?", "sim good", True, source="simulated:concise")
    assert [d["chosen"] for d in store.derived_pairs(source="simulated:concise")] == ["sim good"]
    store.add_rating("Same?", "text", True)
    store.add_rating("Same?", "text", False)  # liked and disliked by two people: no pair with itself
    assert not [d for d in store.derived_pairs() if d["prompt"] == "Same?"]
    assert len(store.preference_pairs()) == 5 and store.preference_pairs(include_derived=False) == []


# ------------------------------------------------------------------------------------------------------- CLI


def test_cli_import_stats_export(fresh_home, tmp_path, capsys):
    good = write(tmp_path, "fb.jsonl", jsonl(GOOD, {"prompt": "a", "completion": "bb", "label": "false"}))
    assert main(["feedback", "import", str(good)]) == 0
    assert "imported 2 ratings and 0 pairs" in capsys.readouterr().out
    assert main(["feedback", "stats"]) == 0
    stats = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert stats["ratings"] == 2 and stats["pairs"] == 0 and stats["derived_pairs"] == 1
    assert (fresh_home / "feedback.sqlite").exists()

    bad = write(tmp_path, "fbbad.jsonl", jsonl(GOOD) + '{"prompt": "c",\n')
    assert main(["feedback", "import", str(bad)]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("error: ") and "fbbad.jsonl" in captured.err and "line 2" in captured.err
    main(["feedback", "stats"])
    assert json.loads(capsys.readouterr().out.splitlines()[-1]) == stats

    out = tmp_path / "pairs.jsonl"
    assert main(["feedback", "export", str(out), "--kind", "paired", "--conversational"]) == 0
    assert json.loads(out.read_text())["chosen"] == assistant("b")
