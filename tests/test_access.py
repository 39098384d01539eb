"""Who may do what (``lab.access``): two visitors and the teacher, through the UI functions and ``gradio_client``.

Identity comes from the server: a signed visitor cookie the app sets, the OAuth user, or the teacher's token — never
a value the client makes up. A refused action says who may do it and changes nothing.
"""

from __future__ import annotations

import socket
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

from lab import LabError, access, runs
from lab.feedback import FeedbackStore
from lab.grading import sandbox
from lab.ui import build_demo, launch_options
from lab.ui import rlhf_actions as ract

TOKEN = "s3cret-teacher-token"


def _request(visitor_cookie: str | None = None, host: str = "127.0.0.1:7860", username: str | None = None,
             bearer: str | None = None) -> SimpleNamespace:  # fmt: skip
    """What Gradio hands a handler (``gr.Request``): headers, cookies, the OAuth user."""
    headers = {"host": host, **({"authorization": f"Bearer {bearer}"} if bearer else {})}
    cookies = {access.COOKIE: visitor_cookie} if visitor_cookie else {}
    return SimpleNamespace(headers=headers, cookies=cookies, username=username)


@pytest.fixture
def public(monkeypatch, fresh_home):
    """A public deployment (a Space owned by 'teacher') with a teacher's token."""
    for name in ("GRADIO_SERVER_NAME", "LAB_TEACHERS", "GRADIO_SHARE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SPACE_ID", "teacher/lab")
    monkeypatch.setenv("SPACE_AUTHOR_NAME", "teacher")
    monkeypatch.setenv("LAB_ADMIN_TOKEN", TOKEN)
    access._unlocked.clear()
    yield
    access._unlocked.clear()


def test_local_use_is_the_teacher_and_public_is_detected(monkeypatch, fresh_home):
    for name in ("SPACE_ID", "LAB_ADMIN_TOKEN", "GRADIO_SERVER_NAME", "GRADIO_SHARE"):
        monkeypatch.delenv(name, raising=False)
    assert not access.public() and access.identify(_request()).teacher and access.identify().teacher
    assert not access.identify(_request(host="abc.gradio.live")).teacher  # reached through a share link
    monkeypatch.setenv("GRADIO_SERVER_NAME", "0.0.0.0")
    assert access.public() and not access.identify(_request()).teacher and not access.identify().teacher


def test_identity_comes_from_the_server(public):
    a, b = access.issue(), access.issue()
    who_a, who_b = access.identify(_request(a)), access.identify(_request(b))
    assert who_a.visitor.startswith("v:") and who_a.visitor != who_b.visitor and not who_a.teacher
    visitor_id = a.partition(".")[0]
    forged = f"{visitor_id}.{'0' * 32}"  # someone else's id without the server's signature
    assert access.identify(_request(forged)).visitor == "" and access.cookie_visitor(forged) is None
    assert access.identify(_request(a, bearer=TOKEN)).teacher
    assert not access.identify(_request(a, bearer="guess")).teacher
    assert access.identify(_request(username="teacher")).teacher  # the Space's owner, signed in with OAuth
    student = access.identify(_request(a, username="student"))
    assert student.visitor == "hf:student" and not student.teacher
    with pytest.raises(LabError, match="not the teacher's token"):
        access.unlock(_request(a), "guess")
    assert not access.identify(_request(a)).teacher
    assert access.unlock(_request(a), TOKEN).teacher and access.identify(_request(a)).teacher
    assert not access.identify(_request(b)).teacher


def _fns() -> dict:
    return {fn.api_name: fn.fn for fn in build_demo().fns.values() if fn.api_name}


def test_two_visitors_and_the_teacher_through_the_ui(public, tmp_path):
    fns = _fns()
    a, b = _request(access.issue()), _request(access.issue())
    teacher = _request(access.issue(), bearer=TOKEN)
    run = runs.create("rft", {"model": "tiny"}, owner=access.identify(a).visitor)
    run.set_status(state="running", stage="grpo")  # as a worker writes it (just updated: counts as alive)
    with pytest.raises(Exception, match="started by someone else") as refused:
        fns["stop_run"](run.id, b)
    assert "teacher" in str(refused.value) and run.status()["state"] == "running"
    fns["stop_run"](run.id, a)  # its owner may
    assert run.status()["state"] == "stopped"
    other = runs.create("rft", {"model": "tiny"}, owner=access.identify(a).visitor)
    other.set_status(state="running", stage="grpo")
    fns["stop"](other.id, teacher)  # the teacher may stop anyone's (the RFT tab's Stop)
    assert other.status()["state"] == "stopped"

    store = FeedbackStore()
    mine = store.add_rating("Hi?", "Hello.", True, owner=access.identify(a).visitor)
    theirs = store.add_rating("Hi?", "Go away.", False, owner=access.identify(b).visitor)
    with pytest.raises(LabError, match=f"not yours: ratings {theirs} — made by someone else"):
        ract.delete_feedback("ratings", f"{mine}, {theirs}", who=access.identify(a))
    assert len(store.ratings()) == 2  # all or nothing
    assert "deleted 1 rating" in ract.delete_feedback("ratings", str(mine), who=access.identify(a))
    assert "deleted 1 rating" in ract.delete_feedback("ratings", str(theirs), who=access.identify(teacher))

    file = tmp_path / "class.jsonl"
    file.write_text('{"prompt": "Why?", "chosen": "Because.", "rejected": "Well, it is a long story."}\n')
    with pytest.raises(LabError, match="only the teacher may import feedback files"):
        ract.import_feedback(file, who=access.identify(a))
    assert store.pairs().empty
    assert "imported 0 ratings and 1 pairs" in ract.import_feedback(file, who=access.identify(teacher))
    again = ract.import_feedback(file, who=access.identify(teacher))
    assert "imported 0 ratings and 0 pairs" in again and "kept once" in again and len(store.pairs()) == 1


def test_two_visitors_and_the_teacher_through_gradio_client(public, monkeypatch):
    from gradio_client import Client

    monkeypatch.delenv("SPACE_ID")  # LAB_ADMIN_TOKEN alone makes it public; plain http keeps SameSite=Lax cookies
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    demo = build_demo()
    options = {k: v for k, v in launch_options().items() if k == "app_kwargs"}
    demo.queue().launch(server_port=port, prevent_thread_lock=True, quiet=True, **options)
    try:
        url = f"http://127.0.0.1:{port}/"
        alice, bob = Client(url, verbose=False), Client(url, verbose=False)
        teacher = Client(url, verbose=False, headers={"Authorization": f"Bearer {TOKEN}"})
        assert alice.cookies.get(access.COOKIE) and alice.cookies[access.COOKIE] != bob.cookies[access.COOKIE]
        owner = "v:" + alice.cookies[access.COOKIE].partition(".")[0]
        run = runs.create("rlhf", {"model": "tiny", "route": "dpo", "feedback": "store"}, owner=owner)
        run.set_status(state="running", stage="dpo")
        with pytest.raises(Exception, match="started by someone else"):
            bob.predict(run.id, api_name="/stop_run_id")
        assert run.status()["state"] == "running"
        assert alice.predict(run.id, api_name="/stop_run_id")["state"] == "stopped"
        assert run.status()["state"] == "stopped"
        assert "visitor" in bob.predict(api_name="/whoami") and "the teacher" in teacher.predict(api_name="/whoami")
        store = FeedbackStore()
        rid = store.add_rating("Hi?", "Hello.", True, owner=owner)
        with pytest.raises(Exception, match="made by someone else"):
            bob.predict("ratings", str(rid), api_name="/delete_feedback")
        assert len(store.ratings()) == 1
        teacher.predict("ratings", str(rid), api_name="/delete_feedback")
        assert store.ratings().empty
        # python graders run visitors' code: only the teacher turns them on, on the page as through the API
        with pytest.raises(Exception, match="only the teacher may turn python graders on or off"):
            bob.predict(True, api_name="/python_graders")
        assert not sandbox.switch_state()["enabled"]
        assert "on** (the teacher's switch)" in teacher.predict(True, api_name="/python_graders")
        assert sandbox.switch_state()["enabled"] and sandbox.python_graders_enabled()
        assert "off**" in teacher.predict(False, api_name="/python_graders")
    finally:
        demo.close()
        threading.Event().wait(0.1)


def test_old_store_gains_the_owner_column(fresh_home: Path):
    import sqlite3

    path = fresh_home / "old.sqlite"
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE ratings (id INTEGER PRIMARY KEY AUTOINCREMENT, prompt TEXT NOT NULL, system TEXT NOT NULL "
        "DEFAULT '', completion TEXT NOT NULL, label INTEGER NOT NULL, model TEXT NOT NULL DEFAULT '', session TEXT "
        "NOT NULL DEFAULT '', source TEXT NOT NULL, created TEXT NOT NULL);"
        "INSERT INTO ratings (prompt, completion, label, source, created) VALUES ('Hi?', 'Hello.', 1, 'human', 'x');"
    )
    db.commit()
    db.close()
    store = FeedbackStore(path)
    assert store.ratings()["owner"].tolist() == [""]  # nobody's: only the teacher may delete it
    with pytest.raises(LabError, match="someone else"):
        store.delete("rating", [1], owner="v:someone")
    assert store.delete("rating", [1]) == 1


def test_a_visitors_name_is_in_the_pages_language_and_the_stored_owner_is_not(public):
    from lab.texts import speaking
    from lab.ui.runs_tab import who_html

    cookie = access.issue()
    short = cookie.partition(".")[0][:6]
    english = access.identify(_request(cookie))
    with speaking("zh"):
        chinese = access.identify(_request(cookie))
        line = who_html(chinese)
    assert english.name == f"visitor {short}" and chinese.name == f"访客 {short}" and "visitor" not in line
    assert chinese.visitor == english.visitor == f"v:{cookie.partition('.')[0]}"  # run folders' owner ids stay
    with speaking("zh"):
        nobody = access.identify(_request())
    assert (nobody.visitor, nobody.name) == ("", "匿名")  # no cookie: nobody, in the page's words too
