"""Command line: the same code paths as the UI.

    python -m lab check-data PATH                 validate a task file; last line: the number of usable rows
    python -m lab grade --grader SPEC --output T  score one answer; last line: the score
    python -m lab grade --grader SPEC [--grader SPEC …] --data FILE --outputs F|--sample N [--model M]|--references
                                                  grade a whole file; last line: JSON per grader (--validate: check)
    python -m lab rft [--data PATH|TASK] [--valid PATH] [--openai-job JOB.json] [--grader SPEC] [--model M]
                      [--steps N] [--out DIR] [--num-processes N] [--accelerate-config FILE] [--set KEY=VALUE]
    python -m lab runs                            list runs under LAB_HOME
    python -m lab export RUN [--what adapter,merged,card,recipe] --out DIR [--push REPO]
                                                  keep a run: adapter, merged model, model card, TRL recipe
    python -m lab bench                           benchmark (see lab/bench.py)
    python -m lab feedback import PATH            store a feedback file (CSV/JSONL/JSON, TRL formats), all or nothing
    python -m lab feedback export PATH [--kind unpaired|paired] [--conversational]
    python -m lab feedback stats                  counts; last line: a JSON object
    python -m lab rlhf [--feedback PATH|store] [--persona NAME] [--route rm-rl|kto|dpo] [--model M] [--steps N]

``rft`` and ``rlhf`` take ``--set KEY=VALUE`` for any other option of the method's Config (``lab.methods.*_config``),
the value read as the field's type; the Config checks them all before a run folder is made. ``--method`` is the old
name of ``--route``.

Exit codes: 0 ok, 2 bad input (the message says what and where), 1 anything else. What the commands print comes from
:mod:`lab.texts` (``cli.*``); argparse's help stays as written here.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from lab import LabError
from lab.texts import t


def _cmd_check_data(args) -> int:
    from lab import data

    ds = data.load_tasks(args.path)
    print(data.describe(ds))
    print(data.preview(ds, 5).to_string(index=False, max_colwidth=60))
    print(t("cli.usable_rows", n=len(ds)))
    return 0


def _cmd_grade(args) -> int:
    from lab import grading

    specs = [grading.parse_spec(g) for g in args.grader]
    if args.data:
        return _cmd_grade_file(args, specs)
    if args.outputs or args.sample is not None or args.references:
        raise LabError("grade_file.needs_data")
    if len(specs) > 1:
        raise LabError("grade_file.one_grader", n=len(specs))
    spec = specs[0]
    item = json.loads(args.item) if args.item else {}
    if not isinstance(item, dict):
        raise LabError("cli.item_not_object")
    grading.validate_spec(spec, item_fields=set(item) or None)
    if args.validate:
        from lab.grading import batch

        (name,) = batch.validate_graders([spec], set(item) or None)
        print(t("grade_file.valid", index=1, name=name, type=spec["type"]))
        print(t("grade_file.ok"))
        return 0
    if args.output is None:
        raise LabError("grade_file.needs_output")
    score, why = grading.explain(spec, args.output, item)
    print(why)
    print(score if score is not None else "None")
    return 0


def _cmd_grade_file(args, specs: list[dict]) -> int:
    """``grade --data``: validate the specs against the file, or grade its rows (see lab/grading/batch.py)."""
    import time

    from lab import data
    from lab.grading import batch

    if args.output is not None or args.item:
        raise LabError("grade_file.output_with_data")
    sources = [s for s in (args.outputs, args.sample is not None, args.references) if s]
    if len(sources) > 1 or not (sources or args.validate):
        raise LabError("grade_file.one_source")
    ds = data.load_task(args.data)
    names = batch.validate_graders(specs, set(ds.column_names))
    outputs = batch.read_outputs(args.outputs, len(ds), args.data) if args.outputs else None
    if args.validate:
        for i, (spec, name) in enumerate(zip(specs, names, strict=True), start=1):
            print(t("grade_file.valid", index=i, name=name, type=spec["type"]))
        print(t("grade_file.checked", data=args.data, rows=len(ds), fields=", ".join(ds.column_names)))
        print(t("grade_file.ok"))
        return 0
    rows, start = ds, time.perf_counter()
    if outputs is not None:
        source = t("grade_file.source.outputs", name=args.outputs)
    elif args.references:
        outputs, source = batch.reference_outputs(ds), t("grade_file.source.references")
    else:
        tokens = batch.default_max_tokens() if args.max_tokens is None else args.max_tokens
        rows, outputs = batch.sample_outputs(ds, args.sample, args.model, tokens)
        source = t("grade_file.source.samples", model=args.model, n=len(rows), tokens=tokens,
                   seconds=time.perf_counter() - start)  # fmt: skip
    report = batch.grade_rows(specs, rows, outputs)
    print(t("grade_file.heading", n=report.rows, data=args.data, source=source))
    print(report.table())
    print(json.dumps(report.summary(), ensure_ascii=False))
    return 0


def _print_summary(summary: dict) -> None:
    keys = [k for k in ("before", "after_sft", "after") if summary.get(k)]
    for k in keys:
        s = summary[k]
        print(t("cli.summary_line", stage=k, valid_reward=s["valid_reward"], accuracy=s["accuracy"]))
    print(t("cli.train_seconds", seconds=summary.get("train_seconds")))


def _options(pairs: list[str] | None) -> dict[str, str]:
    """``--set KEY=VALUE`` pairs as a dict of text values; the method's Config casts each to its field's type."""
    options = {}
    for kv in pairs or []:
        key, sep, value = kv.partition("=")
        if not sep or not key.strip():
            raise LabError("cli.bad_set", value=kv)
        options[key.strip()] = value
    return options


def _cmd_rft(args) -> int:
    from lab import grading, runs

    config: dict = {}
    if args.openai_job:  # the job's settings first (its report printed); the flags below override them
        from lab.data import openai_job

        job = openai_job.load_job(args.openai_job, train=args.data, valid=args.valid)
        print("\n".join(openai_job.report_lines(job)), flush=True)
        config.update(job.config)
    from_job = dict(config)
    if args.data:
        config["task"] = args.data
    if args.valid:
        config["valid_task"] = args.valid  # a validation file: the held-out questions, instead of a split
    if args.grader:
        config["graders"] = [grading.parse_spec(g) for g in args.grader]
    for key in ("model", "steps"):
        if getattr(args, key) is not None:
            config[key] = getattr(args, key)
    if args.no_warmup:
        config["warmup"] = False
    if args.dry_run:
        config["dry_run"] = True
    if args.num_processes is not None:
        config["num_processes"] = args.num_processes
    if args.accelerate_config:
        config["accelerate_config"] = args.accelerate_config
    config.update(_options(args.set))
    for key, value in from_job.items():
        if config[key] != value:
            print(t("openai_job.cli.override", setting=key, job=value, value=config[key]), flush=True)
    run = runs.create("rft", config, args.out)  # the Config refuses a bad option here, before any model loads
    print(t("cli.run_folder", folder=run.dir), flush=True)
    summary = runs.execute_foreground(run)  # this process, or accelerate launch for several
    if summary.get("dry_run"):
        print(t("cli.dry_run", verdict=summary["verdict"], mean=summary["mean"], std=summary["std"],
                zero=summary["zero_std_share"], n=len(summary["rewards"]), seconds=summary["total_seconds"]))
        print(json.dumps({k: summary[k] for k in ("verdict", "mean", "std", "zero_std_share", "advice", "rewards",
                                                  "total_seconds")}))  # fmt: skip
        return 0
    _print_summary(summary)
    return 0


def _cmd_runs(args) -> int:
    from lab import runs

    for run in runs.list_runs():
        s = run.status()
        print(t("cli.run_line", run_id=run.id, state=s.get("state"), stage=s.get("stage", ""), step=s.get("step", 0),
                max_steps=s.get("max_steps", "?")))  # fmt: skip
    return 0


def _cmd_export(args) -> int:
    """``export RUN``: a run's adapter, merged model, card and/or TRL recipe into ``--out`` (see lab/export.py)."""
    from lab import export

    what = export.parse_what(args.what)  # an unknown item is refused before anything else
    run = export.find_run(args.run)
    out = export.export(run, what, args.out, push=args.push)
    print(t("export.cli.wrote", what=", ".join(what), run_id=run.id, folder=out))
    if args.push:
        print(t("export.cli.pushed", url=export.hub_url(args.push)))
    return 0


def _cmd_worker(args) -> int:
    from lab import runs

    runs.execute(runs.Run(__import__("pathlib").Path(args.run_dir)), parent_pid=args.parent_pid)
    return 0


def _cmd_bench(args) -> int:
    from lab import bench

    return bench.main(args)


def _cmd_feedback(args) -> int:
    """``feedback import|export|stats`` on the store under LAB_HOME (see lab/feedback.py)."""
    from lab.feedback import FeedbackStore

    store = FeedbackStore()
    if args.action == "import":
        counts = store.import_file(args.path)
        print(t("cli.imported", ratings=counts["ratings"], pairs=counts["pairs"], path=args.path))
    elif args.action == "export":
        n = store.export_file(args.path, kind=args.kind, conversational=args.conversational)
        print(t("cli.exported_ratings" if args.kind == "unpaired" else "cli.exported_pairs", n=n, path=args.path))
    print(json.dumps(store.stats()))
    return 0


def _add_feedback_parser(sub) -> None:
    f = sub.add_parser("feedback", help="human/simulated feedback store: import, export, stats")
    fsub = f.add_subparsers(dest="action", required=True)
    fi = fsub.add_parser("import", help="store a CSV/JSONL/JSON file of ratings and/or preference pairs")
    fi.add_argument("path")
    fe = fsub.add_parser("export", help="write the feedback in TRL's format (.jsonl, .json or .csv)")
    fe.add_argument("path")
    fe.add_argument("--kind", choices=["unpaired", "paired"], default="unpaired", help="ratings or preference pairs")
    fe.add_argument("--conversational", action="store_true", help="message lists instead of plain text")
    fsub.add_parser("stats", help="counts; the last line is a JSON object")
    f.set_defaults(func=_cmd_feedback)


def _cmd_rlhf(args) -> int:
    """RLHF from feedback (or a persona's simulated feedback): reward model + RL, KTO or DPO; see methods/rlhf.py."""
    from lab import runs

    config: dict = {k: v for k in ("feedback", "persona", "route", "model", "steps") if (v := getattr(args, k))}
    config.update(_options(args.set))
    run = runs.create("rlhf", config, args.out)  # the Config refuses a bad option here, before any model loads
    print(t("cli.run_folder", folder=run.dir), flush=True)
    s = runs.execute(run)
    if run.status().get("state") != "done":
        print(t("cli.run_ended", state=run.status().get("state"), folder=run.dir), file=sys.stderr)
        return 1
    rm = s.get("reward_model") or {}
    fmt = lambda x: t("cli.not_available") if x is None else f"{x:.3f}"  # noqa: E731
    print(t("cli.rm_accuracy", accuracy=fmt(rm.get("accuracy")), pairs=rm.get("n_heldout_pairs", 0)))
    print(t("cli.rm_score", before=fmt(s["before"]["rm_score"]), after=fmt(s["after"]["rm_score"])))
    print(t("cli.win_rate", win_rate=fmt(s["win_rate"]), prompts=s["heldout_prompts"], persona=s["persona"]))
    print(t("cli.train_seconds", seconds=s["train_seconds"]))
    return 0


def _add_rlhf_parser(sub) -> None:
    from lab.methods.rlhf_config import ROUTES

    h = sub.add_parser("rlhf", help="RLHF from ratings: reward model + GRPO, KTO or DPO (a persona simulates data)")
    h.add_argument("--feedback", help="feedback file (CSV/JSONL/JSON) or 'store' (default: the persona simulates)")
    h.add_argument("--persona", help="concise (default), polite, chinese or number")
    h.add_argument("--route", "--method", dest="route", choices=ROUTES, help="rm-rl (default), kto or dpo")
    h.add_argument("--model", help="embedded (default), tiny, a folder or a hub id")
    h.add_argument("--steps", type=int, help="policy optimizer steps")
    h.add_argument("--set", action="append", metavar="KEY=VALUE", help="any other option of the RLHF config")
    h.add_argument("--out", help="run folder (default: LAB_HOME/runs/<id>)")
    h.set_defaults(func=_cmd_rlhf)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m lab", description="RLHF vs RFT lab")
    sub = p.add_subparsers(dest="command", required=True)

    c = sub.add_parser("check-data", help="validate a task file (CSV, JSONL, JSON, OpenAI RFT JSONL)")
    c.add_argument("path")
    c.set_defaults(func=_cmd_check_data)

    g = sub.add_parser("grade", help="score one output, or a whole task file, with grader specs")
    g.add_argument("--grader", required=True, action="append",
                   help="JSON object or path to a .json file; repeat for several (with --data)")  # fmt: skip
    g.add_argument("--output", help="the model's answer (one answer)")
    g.add_argument("--item", help="JSON object with the item's fields, e.g. '{\"answer\": \"Paris\"}'")
    g.add_argument("--data", help="grade a whole task file (bundled name or path): needs --outputs, --sample, "
                   "--references or --validate")  # fmt: skip
    g.add_argument("--outputs", help='with --data: JSONL of {"output_text": ...}, one line per data row, in order')
    g.add_argument("--sample", type=int, metavar="N", help="with --data: the model answers the first N rows")
    g.add_argument("--references", action="store_true", help="with --data: grade each row's own reference answer")
    g.add_argument("--model", default="embedded", help="for --sample: embedded (default), tiny, a folder or a hub id")
    g.add_argument("--max-tokens", type=int, help="for --sample: max new tokens per answer (default: an RFT run's)")
    g.add_argument("--validate", action="store_true",
                   help="check the spec(s) (against --data's fields or --item) without grading anything")  # fmt: skip
    g.set_defaults(func=_cmd_grade)

    r = sub.add_parser("rft", help="reinforcement fine-tuning: SFT warm-up + GRPO against graders")
    r.add_argument("--data", help="bundled task name or a file path (default: opposites)")
    r.add_argument("--valid", help="a validation file: its rows are the held-out questions (no split)")
    r.add_argument("--openai-job", metavar="JOB.json",
                   help="an OpenAI fine-tuning job (request body or job object): its grader and hyperparameters; "
                        "--data/--valid give its files")  # fmt: skip
    r.add_argument("--grader", action="append", help="grader spec (JSON or path); repeat for several")
    r.add_argument("--model", help="embedded (default), tiny, a folder or a hub id")
    r.add_argument("--steps", type=int, help="GRPO steps")
    r.add_argument("--no-warmup", action="store_true", help="skip the SFT warm-up")
    r.add_argument("--dry-run", action="store_true",
                   help="sample and grade the model GRPO would start from (after the warm-up); no RL")  # fmt: skip
    r.add_argument("--num-processes", type=int, metavar="N", help="train on N processes (accelerate launch, DDP)")
    r.add_argument("--accelerate-config", metavar="FILE", help="an accelerate config (FSDP, DeepSpeed ZeRO, nodes)")
    r.add_argument("--set", action="append", metavar="KEY=VALUE", help="any other option of the RFT config")
    r.add_argument("--out", help="run folder (default: LAB_HOME/runs/<id>)")
    r.set_defaults(func=_cmd_rft)

    ls = sub.add_parser("runs", help="list runs")
    ls.set_defaults(func=_cmd_runs)

    x = sub.add_parser("export", help="keep a run: LoRA adapter, merged model, model card, plain TRL recipe")
    x.add_argument("run", help="a run folder, else a run id (python -m lab runs)")
    x.add_argument("--what", default="adapter,merged,card,recipe", help="comma-separated: adapter, merged, card, "
                   "recipe (default: all)")  # fmt: skip
    x.add_argument("--out", required=True, help="a new (or empty) folder for the export")
    x.add_argument("--push", metavar="REPO", help="then upload the folder to this Hub repo (needs HF_TOKEN)")
    x.set_defaults(func=_cmd_export)

    w = sub.add_parser("worker", help=argparse.SUPPRESS)
    w.add_argument("run_dir")
    w.add_argument("--parent-pid", type=int)
    w.set_defaults(func=_cmd_worker)

    b = sub.add_parser("bench", help="benchmark the lab against plain TRL / generate (numbers for the README)")
    parts = "rft, rlhf, rlhf_plain, step, app, chat, lesson, class, share"
    b.add_argument("--what", default="all", help=f"comma-separated parts: {parts} — or all")
    b.add_argument("--model", default="embedded")
    b.add_argument("--out", default=None, help="write the JSON results here")
    b.set_defaults(func=_cmd_bench)

    _add_feedback_parser(sub)
    _add_rlhf_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except LabError as exc:
        print(t("cli.error", error=exc), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(t("cli.interrupted"), file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
