"""Tests for ``lab.data``: good task files load into the documented shape; bad ones are refused, whole, with the
file name, the line (and column or field) and a fix in the message."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from lab import LabError
from lab.data import bundled_tasks, describe, load_task, load_tasks, preview, split
from lab.data import tasks as data


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8", newline="")
    return path


def jsonl(*rows: dict) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def refused(path: Path, *parts: str) -> str:
    """Assert that loading ``path`` raises LabError naming the file and containing every part; return the message."""
    with pytest.raises(LabError) as info:
        load_tasks(path)
    message = str(info.value)
    assert path.name in message, message
    for part in parts:
        assert part in message, f"{part!r} not in: {message}"
    return message


# ----------------------------------------------------------------------------------------------- good files


def test_csv_loads_with_prompt_answer_and_extras(tmp_path):
    path = write(
        tmp_path,
        "t.csv",
        "\ufeffQuestion,Solution,topic,System\n"  # BOM, any case, a system column
        '"What is 2+2?",4,math,Answer with a number.\n'
        '"Two\nlines?",yes,misc,\n'
        "\n"  # blank lines are skipped
        "Capital of France?, Paris ,geo,\n",
    )
    ds = load_tasks(path)
    assert len(ds) == 3
    assert ds.column_names == ["prompt", "question", "answer", "topic"]
    assert ds[0]["prompt"] == [
        {"role": "system", "content": "Answer with a number."},
        {"role": "user", "content": "What is 2+2?"},
    ]
    assert ds[1]["prompt"] == [{"role": "user", "content": "Two\nlines?"}]
    assert ds[1]["question"] == "Two\nlines?"
    assert ds["answer"] == ["4", "yes", "Paris"]
    assert ds["topic"] == ["math", "misc", "geo"]


def test_jsonl_numbers_nested_and_missing_extras(tmp_path):
    path = write(
        tmp_path,
        "t.jsonl",
        jsonl(
            {"question": "2+2?", "answer": 4, "meta": {"level": 1}, "tags": ["a", "b"], "difficulty": 1},
            {"prompt": "Pi to 2 places?", "target": 3.14, "difficulty": "hard"},
        )
        + "\n   \n",
    )
    ds = load_tasks(path)
    assert len(ds) == 2
    assert ds["answer"] == ["4", "3.14"]
    assert ds["question"] == ["2+2?", "Pi to 2 places?"]
    assert ds[1]["prompt"] == [{"role": "user", "content": "Pi to 2 places?"}]
    assert json.loads(ds[0]["meta"]) == {"level": 1}
    assert ds[0]["tags"] == '["a", "b"]'
    assert ds[1]["meta"] is None and ds[1]["tags"] is None  # absent in the row: still a column
    assert ds["difficulty"] == ["1", "hard"]  # mixed int/str: one Arrow type (text)


@pytest.mark.parametrize("wrapper", [None, "data", "rows", "examples"])
def test_json_array_and_wrapped_array(tmp_path, wrapper):
    rows = [{"question": f"q{i}?", "answer": str(i), "source": "gsm"} for i in range(3)]
    path = write(tmp_path, "t.json", json.dumps(rows if wrapper is None else {"meta": {}, wrapper: rows}, indent=2))
    ds = load_tasks(path)
    assert len(ds) == 3
    assert ds["question"] == ["q0?", "q1?", "q2?"]
    assert ds["source"] == ["gsm"] * 3


def test_openai_rft_jsonl(tmp_path):
    path = write(
        tmp_path,
        "rft.jsonl",
        jsonl(
            {
                "messages": [{"role": "developer", "content": "Be brief."}, {"role": "user", "content": "2+3?"}],
                "reference_answer": "5",
                "topic": "math",
            },
            {
                "messages": [
                    {"role": "user", "content": "Say hi"},
                    {"role": "assistant", "content": "hi"},
                    {"role": "user", "content": [{"type": "text", "text": "2+4?"}]},
                ],
                "reference_answer": 6,
                "topic": "math",
            },
        ),
    )
    ds = load_tasks(path)
    assert len(ds) == 2
    assert ds[0]["prompt"] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+3?"}]
    assert ds["question"] == ["2+3?", "2+4?"]
    assert ds["answer"] == ["5", "6"]
    assert ds["reference_answer"] == ["5", "6"]  # OpenAI graders read {{item.reference_answer}}
    assert ds["topic"] == ["math", "math"]
    assert [m["role"] for m in ds[1]["prompt"]] == ["user", "assistant", "user"]
    assert "messages" not in ds.column_names


def test_chinese_utf8(tmp_path):
    csv_path = write(tmp_path, "zh.csv", "问题,answer\n中国的首都是哪里？,北京\n一加一等于几？,二\n")
    jsonl_path = write(
        tmp_path, "zh.jsonl", jsonl({"question": "中国的首都是哪里？", "answer": "北京", "类别": "地理"})
    )
    ds = load_tasks(jsonl_path)
    assert ds[0]["question"] == "中国的首都是哪里？"
    assert ds[0]["answer"] == "北京"
    assert ds[0]["类别"] == "地理"
    message = refused(csv_path, "no question column", "'问题'", "question, prompt")  # found and accepted names
    assert "line 1" in message
    ds = load_tasks(write(tmp_path, "zh2.csv", "question,answer\n中国的首都是哪里？,北京\n"))
    assert ds["answer"] == ["北京"]


def test_format_sniffed_when_extension_is_odd(tmp_path):
    as_jsonl = load_tasks(
        write(tmp_path, "a.txt", jsonl({"question": "a?", "answer": "1"}, {"question": "b?", "answer": "2"}))
    )
    as_csv = load_tasks(write(tmp_path, "b.data", "question,answer\na?,1\n"))
    as_json = load_tasks(write(tmp_path, "c", json.dumps([{"question": "a?", "answer": "1"}])))
    jsonl_named_json = load_tasks(write(tmp_path, "d.json", jsonl({"question": "a?", "answer": "1"}) * 2))
    assert (len(as_jsonl), len(as_csv), len(as_json), len(jsonl_named_json)) == (2, 1, 1, 2)


def test_tsv_and_semicolon_csv(tmp_path):
    assert load_tasks(write(tmp_path, "t.tsv", "question\tanswer\na, b?\t1\n"))["question"] == ["a, b?"]
    assert load_tasks(write(tmp_path, "s.csv", "question;answer\na?;1\n"))["answer"] == ["1"]


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        ({"question": "q?", "prompt": "other", "answer": "a"},
         r"line 2: two columns could be the question \(question, prompt\)"),
        ({"messages": [{"role": "user", "content": "q?"}], "input": "x", "answer": "a"},
         r"line 2: two columns could be the question \(messages, input\)"),
        ({"question": "q?", "answer": "a", "reference": "b"},
         r"line 2: two columns could be the reference answer \(answer, reference\)"),
        ({"question": "q?", "Answer": "a", "answer": "b"},
         r"line 2: two columns have one name \('Answer' and 'answer'"),
        ({"messages": "q?", "answer": "a"}, r"line 2, field 'messages': `messages` must be a list of messages"),
        ({"question": "q?", "answer": {"text": "a"}}, r"line 2, field 'answer': the reference answer must be text"),
        ({"question": "q?", "answer": ["a", "b"]}, r"line 2, field 'answer': .* not a list"),
    ],
)
def test_ambiguous_rows_are_refused_with_line_and_field(tmp_path, row, problem):
    """Issue 12, item 6: what would be guessed is refused, with the line and the field."""
    good = {"question": "fine?", "answer": "yes"}
    path = write(tmp_path, "t.jsonl", jsonl(good, row))
    with pytest.raises(LabError, match=problem):
        load_tasks(path)


# ------------------------------------------------------------------------------------------------ bad files


def test_missing_file(tmp_path):
    with pytest.raises(LabError, match=r"not found: .*nope\.csv"):
        load_tasks(tmp_path / "nope.csv")


def test_folder_is_refused(tmp_path):
    with pytest.raises(LabError, match="folder"):
        load_tasks(tmp_path)


@pytest.mark.parametrize(("name", "content"), [("e.csv", ""), ("e.jsonl", "\n  \n"), ("e.json", "   ")])
def test_empty_file(tmp_path, name, content):
    refused(write(tmp_path, name, content), "empty")


def test_no_rows(tmp_path):
    refused(write(tmp_path, "h.csv", "question,answer\n\n"), "no data rows", "line 1")
    refused(write(tmp_path, "a.json", "[]"), "empty")
    refused(write(tmp_path, "b.json", '{"data": []}'), "empty")


def test_binary_files(tmp_path):
    refused(write(tmp_path, "nul.csv", b"question,answer\n\x00\x01\x02,4\n"), "binary", "NUL", "byte offset 16")
    refused(write(tmp_path, "noise.jsonl", bytes(range(1, 9)) * 200), "binary")
    refused(write(tmp_path, "book.csv", b"PK\x03\x04" + b"\x00" * 50), "Excel", "CSV UTF-8")
    refused(write(tmp_path, "u16.csv", "question,answer\n".encode("utf-16")), "UTF-16")


def test_not_utf8_names_byte_offset_and_line(tmp_path):
    content = "question,answer\nfine?,yes\ncaf\u00e9?,no\n".encode("latin-1")
    refused(write(tmp_path, "latin.csv", content), "not UTF-8", "byte offset 29", "line 3", "column 4", "0xE9")


def test_broken_jsonl_line(tmp_path):
    path = write(
        tmp_path, "t.jsonl", '{"question":"a?","answer":"1"}\n{"question":"c?",\n{"question":"d?","answer":"2"}\n'
    )
    message = refused(path, "line 2, column", "broken JSON")
    assert "line 1" not in message and "line 3" not in message


def test_broken_json_array_line_and_column(tmp_path):
    path = write(tmp_path, "t.json", '[\n  {"question": "a?", "answer": "1"},\n  {"question": "b?" "answer": "2"}\n]')
    refused(path, "line 3, column 21", "broken JSON")


def test_json_errors_are_in_the_visitors_language(tmp_path):
    """Python words its JSON errors in English only: the lab says them in the visitor's language (a message it
    does not know stays as Python wrote it)."""
    from lab.data.formats import JSON_ERRORS, json_error
    from lab.texts import speaking, t

    jsonl_path = write(tmp_path, "t.jsonl", '{"question": "a?", "answer": "1"}\n{"question": "b?" "answer": "2"}\n')
    json_path = write(tmp_path, "t.json", '[\n  {"question": "a?", "answer": "1"},\n  {"question": "b?",}\n]')
    with speaking("zh"):
        for path, expected in ((jsonl_path, "此处应是逗号"), (json_path, "此处应是用双引号括起的键名")):
            with pytest.raises(LabError) as info:
                load_tasks(path)
            assert expected in info.value.text("zh") and "Expecting" not in info.value.text("zh")
        assert json_error("Invalid \\escape: 'q'") == t("data.json_error.bad_escape") != "Invalid \\escape"
        assert json_error("Invalid control character '\\n' at") == t("data.json_error.control_character")
        assert json_error("Something a later Python says") == "Something a later Python says"
    assert all(json_error(message).startswith(message) for message in JSON_ERRORS)  # English: Python's words


def test_rows_that_are_not_objects(tmp_path):
    refused(write(tmp_path, "t.jsonl", jsonl({"question": "a?", "answer": "1"}) + '["b?", "2"]\n'), "line 2", "array")
    path = write(tmp_path, "t.json", '[\n  {"question": "a?", "answer": "1"},\n  "b?"\n]')
    refused(path, "line 3", "item 2", "string")
    refused(write(tmp_path, "n.json", "42"), "number")
    refused(write(tmp_path, "o.json", '{"items": 3}'), "'items'", '"data"')


def test_missing_question_or_answer_column(tmp_path):
    message = refused(write(tmp_path, "q.csv", "text,answer\na?,1\n"), "line 1", "no question column", "'text'")
    assert all(name in message for name in data.QUESTION_COLUMNS)
    message = refused(
        write(tmp_path, "a.jsonl", jsonl({"question": "a?", "label": "1"})), "no answer column", "'label'"
    )
    assert all(name in message for name in data.ANSWER_COLUMNS)
    path = write(tmp_path, "row.jsonl", jsonl({"question": "a?", "answer": "1"}, {"question": "b?", "label": "2"}))
    refused(path, "line 2", "no answer field")


def test_empty_question_and_answer_name_line_and_field(tmp_path):
    refused(write(tmp_path, "q.csv", "Problem,answer\na?,1\n  ,2\n"), "line 3, field 'Problem'", "question is empty")
    path = write(tmp_path, "a.jsonl", jsonl({"question": "a?", "answer": "1"}, {"question": "b?", "answer": None}))
    refused(path, "line 2, field 'answer'", "answer is empty")


def test_too_long_question_and_answer(tmp_path):
    long_q = "x" * (data.MAX_QUESTION_CHARS + 1)
    refused(
        write(tmp_path, "q.jsonl", jsonl({"question": "ok?", "answer": "1"}, {"question": long_q, "answer": "1"})),
        "line 2",
        "2,001 characters",
        "2,000",
    )
    long_a = "y" * (data.MAX_ANSWER_CHARS + 1)
    refused(write(tmp_path, "a.csv", f"question,answer\nq?,{long_a}\n"), "line 2", "501 characters", "500")


def test_csv_wrong_field_count_after_multiline_field(tmp_path):
    path = write(tmp_path, "t.csv", 'question,answer\n"one\ntwo\nthree",1\nok?,2\nbad?,3,extra\n')
    refused(path, "line 6", "3 fields", "header (line 1) has 2")


def test_csv_unclosed_quote(tmp_path):
    refused(write(tmp_path, "t.csv", 'question,answer\nok?,1\n"never closed,2\nz?,3\n'), "line 3", "never closed")


def test_too_many_rows(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "MAX_ROWS", 3)
    rows = [{"question": f"{i}?", "answer": str(i)} for i in range(4)]
    refused(write(tmp_path, "t.jsonl", jsonl(*rows)), "more than 3 rows", "line 4")
    refused(write(tmp_path, "t.json", json.dumps(rows)), "more than 3 rows")
    refused(write(tmp_path, "t.csv", "question,answer\n" + "".join(f"{i}?,{i}\n" for i in range(4))), "line 5")
    assert len(load_tasks(write(tmp_path, "ok.jsonl", jsonl(*rows[:3])))) == 3


def test_file_too_large(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "MAX_FILE_BYTES", 100)
    refused(write(tmp_path, "big.jsonl", jsonl(*[{"question": "q?", "answer": "a"}] * 10)), "MB", "limit")


def test_problems_are_collected_and_nothing_partial_is_returned(tmp_path):
    lines = [json.dumps({"question": f"q{i}?", "answer": str(i)}) for i in range(10)]
    for bad in (2, 4, 5, 6, 7, 8, 9):  # 7 broken lines out of 10
        lines[bad - 1] = '{"question": "broken"'
    message = refused(write(tmp_path, "t.jsonl", "\n".join(lines)), "7 problems", "first 5", "nothing was loaded")
    for line in (2, 4, 5, 6, 7):
        assert f"line {line}, column" in message
    assert "line 8" not in message and "line 1," not in message


def test_openai_rows_must_end_with_user(tmp_path):
    good = {"messages": [{"role": "user", "content": "2+2?"}], "reference_answer": "4"}
    bad = {
        "messages": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}],
        "reference_answer": "4",
    }
    refused(write(tmp_path, "t.jsonl", jsonl(good, good, bad)), "line 3", "'assistant'", "must be 'user'")
    tool = {"messages": [{"role": "tool", "content": "x"}, {"role": "user", "content": "q?"}], "reference_answer": "4"}
    refused(write(tmp_path, "r.jsonl", jsonl(good, tool)), "line 2", "role 'tool'")
    refused(write(tmp_path, "e.jsonl", jsonl({"messages": [], "reference_answer": "4"})), "line 1", "empty")


def test_unexpected_errors_become_lab_errors(tmp_path, monkeypatch):
    def explode(*args):
        raise RuntimeError("parser bug")

    monkeypatch.setattr(data, "_parse", explode)
    refused(write(tmp_path, "t.jsonl", jsonl({"question": "a?", "answer": "1"})), "unexpected RuntimeError")


# -------------------------------------------------------------------------------------- names, split, views


def test_bundled_tasks_and_load_task(tmp_path, monkeypatch):
    tasks = bundled_tasks()
    assert isinstance(tasks, dict)
    assert all(p.suffix == ".jsonl" and p.is_file() and p.stem == name for name, p in tasks.items())

    monkeypatch.setattr(data, "TASKS_DIR", tmp_path)
    write(tmp_path, "arith.jsonl", jsonl({"question": "1+1?", "answer": "2"}))
    write(tmp_path, "notes.txt", "not a task")
    assert bundled_tasks() == {"arith": tmp_path / "arith.jsonl"}
    assert load_task("arith")["answer"] == ["2"]
    assert load_task(str(tmp_path / "arith.jsonl"))["question"] == ["1+1?"]
    with pytest.raises(LabError, match="arith"):  # the message lists what is bundled
        load_task("no-such-task")


@pytest.fixture
def ds10(tmp_path):
    return load_tasks(
        write(tmp_path, "ten.jsonl", jsonl(*[{"question": f"{i}?", "answer": str(i)} for i in range(10)]))
    )


def test_split_sizes_and_determinism(ds10):
    train, valid = split(ds10, 0.3, seed=1)
    assert (len(train), len(valid)) == (7, 3)
    assert sorted([*train["question"], *valid["question"]]) == sorted(ds10["question"])  # disjoint and complete
    again_train, again_valid = split(ds10, 0.3, seed=1)
    assert (list(again_train["question"]), list(again_valid["question"])) == (
        list(train["question"]),
        list(valid["question"]),
    )
    others = {tuple(split(ds10, 0.3, seed=s)[1]["question"]) for s in range(5)}
    assert len(others) > 1  # the seed matters
    assert [len(part) for part in split(ds10, 4)] == [6, 4]
    assert [len(part) for part in split(ds10, 0.01)] == [9, 1]  # at least one row each side
    assert [len(part) for part in split(ds10, 50)] == [1, 9]


def test_split_edge_cases(ds10):
    assert [len(part) for part in split(ds10.select([0, 1]))] == [1, 1]
    with pytest.raises(LabError, match="need at least 2 rows"):
        split(ds10.select([0]))
    with pytest.raises(LabError):
        split(ds10, 1.5)
    with pytest.raises(LabError):
        split(ds10, -1)


def test_preview_and_describe(tmp_path):
    row = {"question": "q?", "answer": "a", "e1": 1, "e2": 2, "e3": 3, "e4": 4, "system": "Be brief."}
    ds = load_tasks(write(tmp_path, "t.jsonl", jsonl(*[row] * 30)))
    table = preview(ds)
    assert list(table.columns) == ["question", "answer", "e1", "e2", "e3"]
    assert len(table) == 20 and len(preview(ds, 5)) == 5
    assert table.iloc[0]["question"] == "q?"
    assert describe(ds) == "30 rows · fields: question, answer, e1, e2, e3, e4 · with system prompt"
    one = load_tasks(write(tmp_path, "one.jsonl", jsonl({"question": "q?", "answer": "a", "topic": "x"})))
    assert describe(one) == "1 row · fields: question, answer, topic"


def test_importing_lab_data_does_not_import_torch():
    code = "import sys, lab.data; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).parent.parent).returncode == 0


@pytest.mark.parametrize(("zh", "en", "extra"), [("zh_capitals", "capitals", "country"),
                                                 ("zh_opposites", "opposites", "word")])  # fmt: skip
def test_chinese_counterparts_of_the_bundled_tasks(zh, en, extra):
    """zh_capitals and zh_opposites are the English sets' items, row for row, asked in Chinese as zh_arithmetic is."""
    tasks = bundled_tasks()
    assert {zh, en, "zh_arithmetic"} <= set(tasks)
    zh_ds, en_ds = load_task(zh), load_task(en)
    assert len(zh_ds) == len(en_ds) and zh_ds.column_names == en_ds.column_names == ["prompt", "question", "answer",
                                                                                      extra]  # fmt: skip
    assert len(set(zh_ds["question"])) == len(zh_ds), "no question twice (a split would leak it)"
    cjk = re.compile(r"[\u4e00-\u9fff]")
    for row in zh_ds:
        assert row["question"].strip() and row["answer"].strip() and row[extra].strip(), row
        assert cjk.search(row["answer"]) and cjk.search(row[extra]), row  # translated, not copied
        assert row["question"].endswith(("只回答城市名。", "只回答一个词。")), row["question"]
        assert row["prompt"] == [{"role": "user", "content": row["question"]}]
    first = zh_ds[0]
    assert (first["question"], first["answer"]) in {("法国的首都是哪里？只回答城市名。", "巴黎"),
                                                    ("“热”的反义词是什么？只回答一个词。", "冷")}  # fmt: skip


def test_a_column_twice_is_refused_in_csv_and_jsonl(tmp_path):
    with pytest.raises(LabError, match=r"line 1: two columns have one name \('answer' and 'answer'"):
        load_tasks(write(tmp_path, "t.csv", "question,answer,answer\nq?,a,b\n"))
    with pytest.raises(LabError, match=r"line 1: two columns have one name \('Answer' and 'answer'"):
        load_tasks(write(tmp_path, "t2.csv", "question,Answer,answer\nq?,a,b\n"))
    with pytest.raises(LabError, match=r"line 2: two columns have one name \('answer' and 'answer'"):
        lines = '{"question": "q", "answer": "a"}\n{"question": "q", "answer": "a", "answer": "b"}\n'
        load_tasks(write(tmp_path, "t.jsonl", lines))


@pytest.mark.parametrize("wrapped", [False, True])
def test_a_key_twice_in_a_json_file_is_refused_with_line_and_field(tmp_path, wrapped):
    """Issue 12, item 6, as JSONL already is: ``json.loads`` would keep the last of two keys silently."""
    rows = '[\n  {"question": "q1?", "answer": "a"},\n  {"question": "q2?",\n   "answer": "a",\n   "answer": "b"}\n]'
    text = '{"meta": {},\n "data": ' + rows + "}" if wrapped else rows
    refused(write(tmp_path, "t.json", text), f"line {5 + wrapped}, field 'answer'", "('answer' and 'answer'")
    one = write(tmp_path, "one.json", '{"question": "q?",\n "Answer": "a",\n "answer": "b"}')  # one task, two cases
    refused(one, "line 3, field 'answer'", "('Answer' and 'answer'")
