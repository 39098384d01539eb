"""Graders from a JSON spec: check a spec, turn it into a TRL reward function, explain a score.

The schema follows OpenAI's graders where they overlap (``string_check``, ``text_similarity``, ``python``,
``multi``; templates ``{{sample.output_text}}`` and ``{{item.<field>}}``) and adds ``numeric``, ``regex``,
``length``, ``exact_match`` and ``contains_answer``. :func:`validate_spec` names the bad field by its JSON path,
:func:`build_grader` makes the reward function (named by :func:`grader_name`), :func:`explain` says why an answer
got its score, :func:`parse_spec` reads a spec from JSON text or a file, :data:`PRESETS` holds ready-made specs and
:data:`DEFAULT_SPEC` is the one a run uses when given none. A ``multi`` grader combines named sub-graders with a
small arithmetic formula, evaluated on its syntax tree (never ``eval``); a ``python`` grader runs in
:mod:`lab.grading.sandbox`; ``score_model`` and ``label_model`` (a model as judge) run on a local model in
:mod:`lab.grading.judge`.

The scoring itself (normalization, numbers, similarity metrics) comes from :mod:`lab.grading.functions`;
:mod:`lab.grading` re-exports the public names of both. Messages and explanations are keys of :mod:`lab.texts`.
"""

from __future__ import annotations

import ast
import copy
import importlib.util
import json
import math
import operator
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lab import LabError
from lab.grading.functions import (
    METRICS_OK,
    SIMILARITY_METRICS,
    Scores,
    contains,
    is_exact,
    normalize,
    number_in,
    numbers_close,
    similarity,
    tokens,
)
from lab.messages import completion_text, value_text
from lab.texts import t

__all__ = ["DEFAULT_SPEC", "PRESETS", "build_grader", "explain", "grader_name", "parse_spec", "validate_spec"]

# ---------------------------------------------------------------------------------------------------- spec schema

_OUTPUT, _ANSWER = "{{sample.output_text}}", "{{item.answer}}"
_REQUIRED = object()
_IN = {"input": ("template", _OUTPUT)}
_IO = {**_IN, "reference": ("template", _ANSWER)}
_LIMITS = {k: ("count", None) for k in ("min_words", "max_words", "min_chars", "max_chars")}
# model graders: "judge" fields are checked together by lab.grading.judge.validate (passing_labels needs labels, …)
_JUDGE = {"model": ("judge", "embedded"), "input": ("judge", _REQUIRED), "sampling_params": ("judge", None)}
# type -> field -> (check, default); the check is a kind name or a tuple of allowed values.
_SCHEMA: dict[str, dict[str, tuple[Any, Any]]] = {
    "string_check": {**_IO, "operation": (("eq", "ne", "like", "ilike"), _REQUIRED)},
    "text_similarity": {**_IO, "evaluation_metric": (SIMILARITY_METRICS, _REQUIRED),
                        "pass_threshold": ("number", None)},
    "python": {"source": ("source", _REQUIRED), "timeout": ("positive", 10.0), "image_tag": ("str", None),
               "pass_threshold": ("number", None)},
    "multi": {"graders": ("graders", _REQUIRED), "calculate_output": ("formula", _REQUIRED)},
    "exact_match": _IO,
    "contains_answer": _IO,
    "numeric": {**_IO, "tolerance": ("number", 1e-6), "abs_tolerance": ("number", 1e-9),
                "position": (("first", "last"), "first")},
    "regex": {**_IN, "pattern": ("pattern", _REQUIRED), "mode": (("search", "match", "fullmatch"), "search"),
              "ignore_case": ("bool", False)},
    "length": {**_IN, **_LIMITS},
    "score_model": {**_JUDGE, "range": ("judge", [0, 1]), "pass_threshold": ("judge", None)},
    "label_model": {**_JUDGE, "labels": ("judge", _REQUIRED), "passing_labels": ("judge", _REQUIRED)},
}  # fmt: skip
_MODEL_KINDS = ("score_model", "label_model")  # lab.grading.judge: a local model answers
_REF_RE = re.compile(r"\{\{(.*?)\}\}")
_VAR_RE = re.compile(r"\s*(sample|item)\.(\w+(?:\.\w+|\[\d+\])*)\s*")


def _opt(spec: dict, key: str) -> Any:
    """A spec field, or its schema default."""
    return spec.get(key, _SCHEMA[spec["type"]][key][1])


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def validate_spec(spec: dict, item_fields: set[str] | None = None, _path: str = "") -> None:
    """Raise :class:`LabError` naming the JSON path of the first bad field; pass ``item_fields`` to check templates.

    >>> validate_spec({"type": "multi", "graders": {"a": {"type": "string_check", "operation": "equals"}},
    ...                "calculate_output": "a"})
    Traceback (most recent call last):
    ...
    lab.LabError: graders.a.operation: 'equals' is not one of eq, ne, like, ilike.
    """
    if not isinstance(spec, dict):
        raise LabError(
            "grading.spec.not_object", path=_path or t("grading.spec.where"), example=json.dumps(DEFAULT_SPEC)
        )
    kind, type_path = spec.get("type"), _join(_path, "type")
    if kind not in _SCHEMA:
        raise LabError("grading.spec.not_one_of", path=type_path, value=kind, choices=", ".join(_SCHEMA))
    fields = _SCHEMA[kind]
    for key in spec:
        if key not in fields and key not in ("type", "name"):
            known = ", ".join(["name", *fields])
            raise LabError("grading.spec.unknown_field", path=_join(_path, key), kind=kind, known=known)
    if not isinstance(spec.get("name", ""), str):
        raise LabError("grading.spec.name_not_string", path=_join(_path, "name"))
    for key, (check, default) in fields.items():
        if key in spec:
            _check_field(check, spec[key], _join(_path, key), item_fields)
        elif default is _REQUIRED:
            raise LabError("grading.spec.missing_field", path=_join(_path, key), kind=kind)
    if kind == "multi":
        _formula(spec["calculate_output"], list(spec["graders"]), _join(_path, "calculate_output"))
    if kind in _MODEL_KINDS:
        from lab.grading import judge

        judge.validate(spec, _path, lambda text, path: _check_field("template", text, path, item_fields))
    if kind == "length":
        if all(spec.get(k) is None for k in _LIMITS):
            path = _path or t("grading.spec.where")
            raise LabError("grading.spec.length_no_limit", path=path, limits=", ".join(_LIMITS))
        for unit in ("words", "chars"):
            lo, hi = spec.get(f"min_{unit}"), spec.get(f"max_{unit}")
            if lo is not None and hi is not None and lo > hi:
                path = _join(_path, f"min_{unit}")
                raise LabError("grading.spec.min_over_max", path=path, min=lo, max_field=f"max_{unit}", max=hi)


def _check_field(check: Any, value: Any, path: str, item_fields: set[str] | None) -> None:
    """Raise LabError unless one field's value passes its check (see the kinds in _SCHEMA)."""
    is_number = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if check == "judge":
        return  # lab.grading.judge.validate checks a model grader's fields together
    if isinstance(check, tuple):
        if value not in check:
            raise LabError("grading.spec.not_one_of", path=path, value=value, choices=", ".join(check))
        if value == "meteor":
            raise LabError("grading.spec.meteor", path=path, metrics=", ".join(METRICS_OK))
        if value == "gleu" and importlib.util.find_spec("nltk") is None:
            raise LabError("grading.spec.gleu", path=path)
    elif check in ("str", "template", "source", "pattern", "formula") and not isinstance(value, str):
        raise LabError("grading.spec.not_string", path=path, type=type(value).__name__)
    elif check == "template":
        for inner in _REF_RE.findall(value):
            _check_ref(inner, path, item_fields)
    elif check == "source":
        from lab.grading import sandbox

        try:
            sandbox.check_source(value)
        except LabError as e:
            raise LabError("grading.spec.nested", path=path, error=str(e)) from None
    elif check == "pattern":
        try:
            re.compile(value)
        except re.error as e:
            raise LabError("grading.spec.bad_regex", path=path, value=value, error=str(e)) from None
    elif check == "number" and not (is_number and value >= 0):
        raise LabError("grading.spec.not_non_negative", path=path, value=value)
    elif check == "positive" and not (is_number and value > 0):
        raise LabError("grading.spec.not_positive", path=path, value=value)
    elif check == "count" and not (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
        raise LabError("grading.spec.not_count", path=path, value=value)
    elif check == "bool" and not isinstance(value, bool):
        raise LabError("grading.spec.not_bool", path=path, value=value)
    elif check == "graders":
        if not isinstance(value, dict) or not value:
            raise LabError("grading.spec.bad_graders", path=path)
        for key, sub in value.items():
            if not isinstance(key, str) or not key.isidentifier() or key in _FUNCS:
                raise LabError("grading.spec.bad_grader_name", path=_join(path, str(key)), functions=", ".join(_FUNCS))
            validate_spec(sub, item_fields, _join(path, key))


# ---------------------------------------------------------------------------------------------------- templates


class _Missing(Exception):
    """A template names a value this row does not have."""


def _parse_ref(inner: str, path: str) -> tuple[str, list[str | int]]:
    """``item.meta.tags[0]`` → ("item", ["meta", "tags", 0])."""
    m = _VAR_RE.fullmatch(inner)
    if not m:
        raise LabError("grading.template.bad", path=path, inner=inner)
    keys = [int(k[1:-1]) if k.startswith("[") else k for k in re.findall(r"\[\d+\]|\w+", m.group(2))]
    return m.group(1), keys


def _check_ref(inner: str, path: str, item_fields: set[str] | None) -> None:
    ns, keys = _parse_ref(inner, path)
    if ns == "sample" and keys[0] not in ("output_text", "output_json"):
        raise LabError("grading.template.bad_sample", path=path, name=keys[0])
    if ns == "item" and item_fields is not None and keys[0] not in item_fields:
        have = ", ".join(sorted(item_fields)) or t("grading.template.no_fields")
        raise LabError("grading.template.unknown_field", path=path, field=keys[0], fields=have)


def _json_or_none(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _render(template: str, text: str, item: dict) -> str:
    """Fill each ``{{sample.…}}``/``{{item.…}}``; raise _Missing when the row lacks the value."""

    def fill(m: re.Match) -> str:
        ns, keys = _parse_ref(m.group(1), "template")
        if ns == "sample":
            value: Any = text if keys[0] == "output_text" else _json_or_none(text)
            keys = keys[1:]
        else:
            value = item
        for k in keys:
            try:
                value = value[k]
            except (KeyError, IndexError, TypeError):
                path = m.group(1).strip()[len(ns) + 1 :]
                raise _Missing(t("grading.template.no_value", namespace=ns, path=path)) from None
        if value is None:
            raise _Missing(t("grading.template.empty", reference=m.group(1).strip()))
        return value_text(value)

    return _REF_RE.sub(fill, template)


def _render_column(template: str, texts: list[str], items: list[dict]) -> tuple[list[str | None], list[str]]:
    """Render a template for every row: (values, reasons). A field absent from every row is a LabError."""
    values: list[str | None] = []
    reasons: list[str] = []
    for text, item in zip(texts, items, strict=True):
        try:
            values.append(_render(template, text, item))
            reasons.append("")
        except _Missing as e:
            values.append(None)
            reasons.append(str(e))
    for inner in _REF_RE.findall(template):
        ns, keys = _parse_ref(inner, "template")
        if ns == "item" and items and all(keys[0] not in item for item in items):
            have = ", ".join(sorted(items[0])) or t("grading.template.no_fields")
            raise LabError("grading.template.missing_column", field=keys[0], fields=have)
    return values, reasons


# ---------------------------------------------------------------------------------------------------- formulas

_FUNCS: dict[str, Callable[..., Any]] = {
    "min": min, "max": max, "abs": abs, "round": round, "floor": math.floor, "ceil": math.ceil, "sqrt": math.sqrt,
    "exp": math.exp, "log": math.log, "clip": lambda x, lo=0.0, hi=1.0: min(max(x, lo), hi),
}  # fmt: skip
_BINOPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
           ast.Pow: operator.pow, ast.Mod: operator.mod}  # fmt: skip
_UNARY = {ast.UAdd: operator.pos, ast.USub: operator.neg}
_COMPARE = {ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
            ast.Eq: operator.eq, ast.NotEq: operator.ne}  # fmt: skip


class _FormulaError(Exception):
    """The formula uses something it may not (a name, an attribute, a string, …)."""


def _evaluate(node: ast.AST, env: dict[str, float]) -> float:
    """Evaluate a parsed formula: numbers, names from env, + - * / ^ (as **) %, comparisons (1.0/0.0), _FUNCS
    calls."""
    if isinstance(node, ast.Expression):
        return _evaluate(node.body, env)
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return float(node.value)
    if isinstance(node, ast.Name):
        if node.id in env:
            return env[node.id]
        raise _FormulaError(t("grading.formula.unknown_name", name=node.id, names=", ".join(env)))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        value = _BINOPS[type(node.op)](_evaluate(node.left, env), _evaluate(node.right, env))
        if isinstance(value, complex):
            raise ValueError("complex result")
        return float(value)
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_evaluate(node.operand, env))
    if isinstance(node, ast.Compare) and all(type(op) in _COMPARE for op in node.ops):
        values = [_evaluate(node.left, env)] + [_evaluate(c, env) for c in node.comparators]
        return float(all(_COMPARE[type(op)](a, b) for op, a, b in zip(node.ops, values, values[1:], strict=False)))
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FUNCS and not node.keywords:
        args = [_evaluate(a, env) for a in node.args]
        try:
            return float(_FUNCS[node.func.id](*args))
        except TypeError as e:
            raise _FormulaError(f"{node.func.id}(): {e}") from None
    raise _FormulaError(t("grading.formula.not_allowed", expression=ast.unparse(node), functions=", ".join(_FUNCS)))


def python_formula(text: str) -> str:
    """OpenAI's formula language in Python's: ``^`` is the power operator (as OpenAI documents it), not Python's
    XOR. Python's ``**`` has exactly the precedence and associativity OpenAI's ``^`` needs — tighter than ``* /``
    and unary minus on its left, right-associative — so the formula is ``^`` → ``**`` (a formula holds no strings:
    nothing else can contain a ``^``) and then Python's own parser.

    >>> python_formula("2 ^ 3 ^ 2"), eval(python_formula("2 ^ 3 ^ 2")), eval(python_formula("2 * 3 ^ 2"))
    ('2 ** 3 ** 2', 512, 18)
    >>> eval(python_formula("-2 ^ 2")), eval(python_formula("(2 * 3) ^ 2")), eval(python_formula("1 + 2 ^ 2 * 3"))
    (-4, 36, 13)
    """
    return text.replace("^", "**")


def _formula(text: str, names: list[str], path: str) -> ast.Expression:
    """Parse and check a multi grader's formula (a trial evaluation with every grader at 0.5); ``^`` is power."""
    if len(text) > 1000:
        raise LabError("grading.formula.too_long", path=path)
    try:
        tree = ast.parse(python_formula(text.strip()), mode="eval")
        _evaluate(tree, dict.fromkeys(names, 0.5))
    except SyntaxError as e:
        raise LabError("grading.formula.syntax", path=path, text=text, error=e.msg) from None
    except _FormulaError as e:
        raise LabError("grading.formula.bad", path=path, error=str(e)) from None
    except (ArithmeticError, ValueError):
        pass  # e.g. 1 / (a - b) at the trial values; real scores may be fine
    return tree


# ---------------------------------------------------------------------------------------------------- scoring


def _f(score: float | None) -> str:
    return "None" if score is None else repr(round(score, 4))


def _q(text: str, limit: int = 60) -> str:
    return json.dumps(text if len(text) <= limit else text[: limit - 1] + "…", ensure_ascii=False)


def _score_row(spec: dict, inp: str, ref: str) -> tuple[float | None, str]:
    """Score one rendered (input, reference) pair for every single-row type; return (score, why)."""
    kind = spec["type"]
    if kind == "string_check":
        op = spec["operation"]
        ok = {"eq": inp == ref, "ne": inp != ref, "like": ref in inp, "ilike": ref.lower() in inp.lower()}[op]
        return float(ok), t("grading.why.string_check", operation=op, input=_q(inp), reference=_q(ref),
                            score=_f(float(ok)))  # fmt: skip
    if kind == "exact_match":
        score = float(is_exact(inp, ref))
        why = t("grading.why.exact_match", input=_q(normalize(inp)), reference=_q(normalize(ref)), score=_f(score))
        return score, why
    if kind == "contains_answer":
        if is_exact(inp, ref):
            return 1.0, t("grading.why.contains_exact", input=_q(inp), reference=_q(ref))
        if contains(inp, ref):
            return 0.5, t("grading.why.contains", input=_q(inp), reference=_q(ref))
        return 0.0, t("grading.why.contains_none", input=_q(inp), reference=_q(ref))
    if kind == "numeric":
        want, got = number_in(ref), number_in(inp, _opt(spec, "position"))
        if want is None:
            return None, t("grading.why.numeric_no_reference", reference=_q(ref))
        tol = t("grading.why.numeric_tolerance", tolerance=_opt(spec, "tolerance"),
                abs_tolerance=_opt(spec, "abs_tolerance"))  # fmt: skip
        if got is None:
            return 0.0, t("grading.why.numeric_no_number", input=_q(inp), want=want)
        score = float(numbers_close(got, want, _opt(spec, "tolerance"), _opt(spec, "abs_tolerance")))
        return score, t("grading.why.numeric", got=got, want=want, tolerance=tol, score=_f(score))
    if kind == "regex":
        flags = re.IGNORECASE if _opt(spec, "ignore_case") else 0
        mode = _opt(spec, "mode")
        score = float(getattr(re.compile(spec["pattern"], flags), mode)(inp) is not None)
        return score, t("grading.why.regex", mode=mode, pattern=spec["pattern"], input=_q(inp), score=_f(score))
    if kind == "length":
        return _length(spec, inp)
    raise AssertionError(kind)


def _length(spec: dict, text: str) -> tuple[float, str]:
    """1.0 within the limits; linear decay outside (0 at twice a maximum, count/minimum below a minimum)."""
    score, parts = 1.0, []
    for unit, n in (("words", len(tokens(text))), ("chars", len(text.strip()))):
        lo, hi = spec.get(f"min_{unit}"), spec.get(f"max_{unit}")
        if lo is None and hi is None:
            continue
        if hi is not None and n > hi:
            score = min(score, max(0.0, 1.0 - (n - hi) / max(hi, 1)))
        elif lo is not None and n < lo:
            score = min(score, n / lo)
        limits = ", ".join(
            t(key, value=v) for key, v in (("grading.why.min", lo), ("grading.why.max", hi)) if v is not None
        )
        parts.append(
            t("grading.why.length_words" if unit == "words" else "grading.why.length_chars", n=n, limits=limits)
        )
    return score, t("grading.why.length", parts="; ".join(parts), score=_f(score))


def _run(spec: dict, texts: list[str], items: list[dict]) -> tuple[Scores, list[str]]:
    """Score a batch with a validated spec: (scores, one 'why' per row)."""
    kind, n = spec["type"], len(texts)
    if kind == "multi":
        return _run_multi(spec, texts, items)
    if kind in _MODEL_KINDS:
        from lab.grading import judge

        return judge.run(spec, texts, items, _render_column)
    if kind == "python":
        from lab.grading import sandbox

        samples = [{"output_text": text, "output_json": _json_or_none(text)} for text in texts]
        scores, errors = sandbox.run_python_grader_with_errors(spec["source"], samples, items, _opt(spec, "timeout"))
        return scores, [t("grading.why.python", score=_f(s)) if e is None else t("grading.why.python_error", error=e)
                        for s, e in zip(scores, errors, strict=True)]  # fmt: skip
    inputs, in_why = _render_column(_opt(spec, "input"), texts, items)
    if "reference" in _SCHEMA[kind]:
        refs, ref_why = _render_column(_opt(spec, "reference"), texts, items)
    else:
        refs, ref_why = inputs, in_why
    scores: Scores = [None] * n
    whys = [t("grading.why.no_score", kind=kind, reason=in_why[i] or ref_why[i]) for i in range(n)]
    ready = [i for i in range(n) if inputs[i] is not None and refs[i] is not None]
    if kind == "text_similarity":
        metric, threshold = spec["evaluation_metric"], spec.get("pass_threshold")
        values = similarity(metric, [inputs[i] for i in ready], [refs[i] for i in ready])
        for i, value in zip(ready, values, strict=True):
            key = (
                "grading.why.similarity" if threshold is None
                else "grading.why.similarity_pass" if value >= threshold
                else "grading.why.similarity_fail"
            )  # fmt: skip
            scores[i] = value
            whys[i] = t(key, metric=metric, input=_q(inputs[i]), reference=_q(refs[i]), score=_f(value),
                        threshold=threshold)  # fmt: skip
    else:
        for i in ready:
            scores[i], whys[i] = _score_row(spec, inputs[i], refs[i])
    return scores, whys


def _run_multi(spec: dict, texts: list[str], items: list[dict]) -> tuple[Scores, list[str]]:
    """Run each sub-grader on the batch, then combine per row with the formula (None if any part is None)."""
    parts = {name: _run(sub, texts, items) for name, sub in spec["graders"].items()}
    text = spec["calculate_output"]
    tree = _formula(text, list(parts), "calculate_output")
    scores: Scores = []
    whys = []
    for i in range(len(texts)):
        env = {name: s[i] for name, (s, _) in parts.items()}
        score, head = None, None
        if any(v is None for v in env.values()):
            head = t("grading.why.multi_part_missing", formula=text, score=_f(score))
        else:
            try:
                score = _evaluate(tree, env)  # type: ignore[arg-type]
                score = score if math.isfinite(score) else None
            except (ArithmeticError, ValueError, _FormulaError) as e:
                head = t("grading.why.multi_error", formula=text, score=_f(score), error_type=type(e).__name__,
                         error=str(e))  # fmt: skip
        scores.append(score)
        lines = [head or t("grading.why.multi", formula=text, score=_f(score))]
        lines += ["  " + f"{name} = {_f(s[i])}: {w[i]}".replace("\n", "\n  ") for name, (s, w) in parts.items()]
        whys.append("\n".join(lines))
    return scores, whys


def _batch_items(n: int, kwargs: dict) -> list[dict]:
    """Rows from TRL's keyword columns: every list of length n is a column; other kwargs are ignored."""
    skip = ("completions", "completion_ids", "trainer_state")
    cols = {k: v for k, v in kwargs.items() if isinstance(v, list | tuple) and len(v) == n and k not in skip}
    if "prompts" in cols and "prompt" not in cols:
        cols["prompt"] = cols["prompts"]
    return [{k: v[i] for k, v in cols.items()} for i in range(n)]


def _uses_python(spec: dict) -> bool:
    if spec["type"] == "multi":
        return any(_uses_python(sub) for sub in spec["graders"].values())
    return spec["type"] == "python"


def _uses_judge(spec: dict) -> bool:
    if spec["type"] == "multi":
        return any(_uses_judge(sub) for sub in spec["graders"].values())
    return spec["type"] in _MODEL_KINDS


def grader_name(spec: dict) -> str:
    """The name TRL logs a grader under (``rewards/<name>/mean``): the spec's name made safe, else its type.

    >>> grader_name({"type": "string_check", "name": "is paris?"}), grader_name({"type": "numeric"})
    ('is_paris', 'numeric')
    """
    return re.sub(r"[^0-9A-Za-z_]+", "_", spec.get("name") or "").strip("_") or str(spec.get("type"))


def build_grader(spec: dict) -> Callable[..., Scores]:
    """A TRL reward function ``f(completions, **kwargs) -> list[float | None]`` from a validated spec.

    Its ``__name__`` is the spec's name made safe (TRL logs ``rewards/<name>/mean``); ``f.spec`` keeps the spec.
    A grader with a model grader in it (``score_model``/``label_model``, :mod:`lab.grading.judge`) keeps each call's
    judge errors and explanations (``f.judge_errors``, ``f.last_whys``: an RFT run's samples show them) and, in
    TRL's GRPO, which passes ``log_metric`` to reward functions, logs ``judge_errors/<name>`` for the step.
    Dataset columns arrive as keyword lists (``answer=[...]``) and become ``{{item.<column>}}``.

    >>> reward = build_grader({"type": "string_check", "name": "is paris", "operation": "ilike"})
    >>> reward.__name__
    'is_paris'
    >>> reward(["It is Paris.", "Lyon"], answer=["paris", "paris"], trainer_state=None)
    [1.0, 0.0]
    """
    spec = copy.deepcopy(spec)
    validate_spec(spec)
    if _uses_python(spec):
        from lab.grading import sandbox

        sandbox.ensure_enabled()

    judged = _uses_judge(spec)

    def reward(completions: list, **kwargs: Any) -> Scores:
        texts = [completion_text(c) for c in completions]
        if not judged:
            return _run(spec, texts, _batch_items(len(texts), kwargs))[0]
        from lab.grading import judge

        with judge.counting() as tally:
            scores, whys = _run(spec, texts, _batch_items(len(texts), kwargs))
        reward.judge_errors, reward.last_whys = tally.errors, whys  # type: ignore[attr-defined]
        if callable(log_metric := kwargs.get("log_metric")):  # TRL's GRPO: logged beside rewards/<name>/mean
            log_metric(f"judge_errors/{reward.__name__}", float(tally.errors))
        return scores

    reward.__name__ = reward.__qualname__ = grader_name(spec)
    reward.__doc__ = f"Reward from the grader spec {json.dumps(spec, ensure_ascii=False)[:300]}"
    reward.spec = spec  # type: ignore[attr-defined]
    return reward


def explain(spec: dict, output_text: str, item: dict) -> tuple[float | None, str]:
    """Score one answer and say why, for the grader playground and ``python -m lab grade``.

    >>> explain({"type": "string_check", "operation": "eq"}, "paris", {"answer": "Paris"})
    (0.0, 'string_check eq: "paris" vs "Paris" → 0.0')
    >>> print(explain(PRESETS["multi: answer + brevity"], "Paris, of course.", {"answer": "Paris"})[1])
    multi: 0.8 * answer + 0.2 * brevity = 0.6
      answer = 0.5: contains_answer: "Paris, of course." contains "Paris" but says more → 0.5
      brevity = 1.0: length: 3 words (max 8) → 1.0
    """
    validate_spec(spec, set(item))
    scores, whys = _run(spec, [output_text], [item])
    return scores[0], whys[0]


def parse_spec(text_or_path: str | dict) -> dict:
    """A validated spec from JSON text, a path to a ``.json`` file, or a dict; errors give line and column.

    >>> parse_spec('{"type": "exact_match"}')
    {'type': 'exact_match'}
    >>> parse_spec('{"type": "exact_match",}')
    Traceback (most recent call last):
    ...
    lab.LabError: grader spec, line 1, column 24: invalid JSON (Expecting property name enclosed in double quotes).
    """
    where, from_file = t("grading.spec.where"), False
    if isinstance(text_or_path, dict):
        spec: Any = copy.deepcopy(text_or_path)
    else:
        text = str(text_or_path)
        if not text.lstrip().startswith("{"):
            path = Path(text.strip()).expanduser()
            try:
                text, where, from_file = path.read_text(encoding="utf-8"), str(path), True
            except (OSError, UnicodeDecodeError) as e:
                raise LabError(
                    "grading.spec.unreadable", text=text.strip()[:80], error_type=type(e).__name__
                ) from None
        try:
            spec = json.loads(text)
        except json.JSONDecodeError as e:
            from lab.data.formats import json_error  # here: lab.data loads datasets, which grading does not need

            raise LabError("grading.spec.bad_json", where=where, line=e.lineno, column=e.colno,
                           error=json_error(e)) from None  # fmt: skip
    try:
        validate_spec(spec)
    except LabError as e:
        raise (LabError("grading.spec.nested", path=where, error=str(e)) if from_file else e) from None
    return spec


# ---------------------------------------------------------------------------------------------------- presets

_PY_EXAMPLE = '''def grade(sample, item) -> float:
    """1.0 for exactly the answer, 0.5 if it appears as a word, else 0.0."""
    import re
    text = sample["output_text"].strip().lower()
    answer = str(item["answer"]).strip().lower()
    if text.strip(".!") == answer:
        return 1.0
    return 0.5 if re.search(r"\\b" + re.escape(answer) + r"\\b", text) else 0.0
'''


def _judge(kind: str, name: str, question: str, **fields: Any) -> dict:
    """A model grader on the embedded judge (lab.grading.judge), greedy and short: a verdict, not an essay."""
    return {"type": kind, "name": name, "model": "embedded", **fields,
            "sampling_params": {"temperature": 0, "max_completions_tokens": 8},
            "input": [{"role": "system", "content": "You grade answers against a reference answer."},
                      {"role": "user", "content": "Question: {{item.question}}\nReference answer: {{item.answer}}\n"
                                                  "Answer: {{sample.output_text}}\n" + question}]}  # fmt: skip


#: The teaching case of a judge being reward-hacked (README, *Model graders*): padded answers score high.
JUDGE_HACK_FILE = Path(__file__).resolve().parents[2] / "assets" / "graders" / "judge_hack.json"


def _similar(name: str, metric: str) -> dict:
    return {"type": "text_similarity", "name": name, "input": _OUTPUT, "reference": _ANSWER,
            "evaluation_metric": metric}  # fmt: skip


#: Ready-made specs for the UI's grader dropdown (copy before changing one).
PRESETS: dict[str, dict] = {
    "partial credit (default)": {"type": "contains_answer", "name": "partial_credit"},
    "exact match": {"type": "exact_match", "name": "exact_match"},
    "string check (OpenAI ilike)": {"type": "string_check", "name": "string_check", "input": _OUTPUT,
                                    "reference": _ANSWER, "operation": "ilike"},
    "fuzzy": _similar("fuzzy", "fuzzy_match"),
    "rouge-L": _similar("rouge_l", "rouge_l"),
    "cosine (MiniLM)": _similar("cosine", "cosine"),
    "numeric ±1%": {"type": "numeric", "name": "numeric", "tolerance": 0.01},
    "brevity (≤ 8 words)": {"type": "length", "name": "brevity", "max_words": 8},
    "multi: answer + brevity": {
        "type": "multi", "name": "answer_and_brevity",
        "graders": {"answer": {"type": "contains_answer"}, "brevity": {"type": "length", "max_words": 8}},
        "calculate_output": "0.8 * answer + 0.2 * brevity",
    },
    "python (needs LAB_PYTHON_GRADER=1)": {"type": "python", "name": "python", "source": _PY_EXAMPLE},
    "judge: score_model (embedded)": _judge("score_model", "judge_score", "Score the answer from 0 (wrong) to 1 "
                                            "(right). Reply with a number.", range=[0, 1]),
    "judge: label_model (embedded)": _judge("label_model", "judge_label", "Is the answer correct or incorrect? "
                                            "Reply with one word.", labels=["correct", "incorrect"],
                                            passing_labels=["correct"]),
    "judge that padding fools (teaching)": json.loads(JUDGE_HACK_FILE.read_text(encoding="utf-8")),
}  # fmt: skip
DEFAULT_SPEC: dict = PRESETS["partial credit (default)"]
