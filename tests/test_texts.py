"""The text table: every key the code uses exists, every language has the same keys and fields, LabError keeps
its key and values."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lab import LabError, texts

LAB = Path(__file__).resolve().parents[1] / "lab"
# LabError("key", ...), t("key", ...), texts.t("key", ...), L("key"): a dotted key as the first argument
_USE = re.compile(r"""(?:LabError|\bt|texts\.t|\bL)\(\s*["']([a-z][a-z0-9_]*(?:\.[a-z0-9_]+)+)["']""")


def used_keys() -> dict[str, str]:
    found = {}
    for path in sorted(LAB.rglob("*.py")):
        for key in _USE.findall(path.read_text(encoding="utf-8")):
            found.setdefault(key, str(path.relative_to(LAB.parent)))
    return found


def test_every_key_the_code_uses_is_in_the_english_table():
    used = used_keys()
    assert len(used) >= 2  # the scan finds keys (a broken pattern would find none and pass)
    missing = {key: where for key, where in used.items() if not texts.has_key(key)}
    assert not missing, f"keys used in the code but missing from assets/i18n/en/: {missing}"


@pytest.mark.parametrize("language", texts.LANGUAGES)
def test_every_language_has_the_same_keys_and_fields(language):
    english, other = texts.table("en"), texts.table(language)
    assert set(other) == set(english), f"{language}/: keys differ: {sorted(set(other) ^ set(english))[:10]}"
    for key, text in english.items():
        assert texts.fields(other[key]) == texts.fields(text), f"{language}/: {key}: fields differ"


def test_a_key_fills_its_fields_and_an_unknown_key_is_named():
    assert texts.t("runs.no_run", run_id="r1", folder="/x") == "no run 'r1' under /x"
    with pytest.raises(KeyError, match="no.such.key"):
        texts.t("no.such.key")


def test_lab_error_keeps_key_values_and_english_text():
    e = LabError("runs.no_run", run_id="r1", folder="/x")
    assert (str(e), e.key, e.values) == ("no run 'r1' under /x", "runs.no_run", {"run_id": "r1", "folder": "/x"})
    assert e.text("en") == str(e)
    plain = LabError("a message that is not a key")
    assert plain.key is None and plain.text("en") == "a message that is not a key"
