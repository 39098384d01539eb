"""Who may do what: visitors and the teacher, with identity taken from the server, never from the browser's word.

On a public deployment every visitor is a stranger. A **visitor** may chat, rate, simulate and start runs, and may
stop or delete only what they started (their runs, their ratings). The **teacher** may also stop any run, delete or
clear any feedback, and import files. Identity, in order:

1. the teacher's token: ``Authorization: Bearer <LAB_ADMIN_TOKEN>`` (what ``gradio_client`` sends with
   ``Client(url, headers=...)``), or the token typed in the page once (:func:`unlock`), which marks that visitor;
2. the Hugging Face OAuth user when login is on (``request.username``); the Space's owner (``SPACE_AUTHOR_NAME``)
   and the names in ``LAB_TEACHERS`` (comma-separated) are teachers;
3. else the visitor id this app issued in an HttpOnly cookie (:class:`VisitorCookie`, signed so that nobody can
   pick another visitor's id; it survives a reload). Gradio's ``session_hash`` is *not* used: the client makes it up.

A deployment is **public** (:func:`public`) on a Space (``SPACE_ID``), when ``LAB_ADMIN_TOKEN`` is set, when it
listens beyond loopback (``GRADIO_SERVER_NAME``), or for a request that reached it through another host name (a
share link). Otherwise — ``python app.py`` on 127.0.0.1 — whoever uses it is the teacher, as before. Calls without
a request (the CLI, tests calling functions directly) are local. No torch, no Gradio import: the UI and the run
engine both use this module.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading
from dataclasses import dataclass
from http.cookies import SimpleCookie
from typing import Any

from lab import LabError, lab_home
from lab.texts import t

__all__ = ["COOKIE", "LOCAL", "Identity", "VisitorCookie", "identify", "may_touch", "public", "require_teacher",
           "teachers", "unlock"]  # fmt: skip

COOKIE = "lab_visitor"
LOCAL = "local"
"""The visitor id of local use (and of the CLI): the teacher of a private lab."""
_LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
_unlocked: set[str] = set()  # visitor ids that typed the teacher's token (this process only; a restart forgets)
_lock = threading.Lock()
_keys: dict = {}  # LAB_HOME's key file → its key, read once per process


@dataclass(frozen=True)
class Identity:
    """``visitor``: a stable id (``hf:<user>``, ``v:<cookie id>``, ``local``; ``""`` when unknown); ``name``: what
    the page shows (a cookie visitor's in the language of the request: "visitor ab12cd", "访客 ab12cd"; the stored
    owner is ``visitor``); ``teacher``: may do everything."""

    visitor: str
    name: str
    teacher: bool = False


def public() -> bool:
    """Is this deployment open to strangers (see the module docstring)?"""
    if os.environ.get("SPACE_ID") or os.environ.get("LAB_ADMIN_TOKEN"):
        return True
    if os.environ.get("GRADIO_SHARE", "").lower() in ("1", "true", "yes"):
        return True
    return os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1") not in _LOOPBACK


def teachers() -> set[str]:
    """Hugging Face user names that are teachers: the Space's owner and ``LAB_TEACHERS``."""
    names = {os.environ.get("SPACE_AUTHOR_NAME", "")}
    names |= {n.strip() for n in os.environ.get("LAB_TEACHERS", "").split(",")}
    return {n for n in names if n}


def _secret() -> bytes:
    """The key that signs visitor ids: ``LAB_SECRET``, else one made once and kept in ``LAB_HOME/.visitor-key``."""
    if os.environ.get("LAB_SECRET"):
        return os.environ["LAB_SECRET"].encode()
    path = lab_home() / ".visitor-key"
    with _lock:
        if path not in _keys:
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as f:
                    f.write(secrets.token_hex(32))
            _keys[path] = path.read_text().strip().encode()
        return _keys[path]


def _sign(visitor: str) -> str:
    return hmac.new(_secret(), visitor.encode(), hashlib.sha256).hexdigest()[:32]


def issue() -> str:
    """A new cookie value: a random visitor id and its signature."""
    visitor = secrets.token_urlsafe(12)
    return f"{visitor}.{_sign(visitor)}"


def cookie_visitor(value: str | None) -> str | None:
    """The visitor id in a cookie value this app issued, or ``None`` (missing, malformed or forged)."""
    visitor, _, signature = (value or "").partition(".")
    if visitor and signature and hmac.compare_digest(signature, _sign(visitor)):
        return visitor
    return None


def _token_ok(token: str | None) -> bool:
    expected = os.environ.get("LAB_ADMIN_TOKEN", "")
    return bool(expected and token and hmac.compare_digest(token.encode(), expected.encode()))


def _header(request: Any, name: str) -> str:
    headers = getattr(request, "headers", None) or {}
    return str(headers.get(name, "") or "")


def identify(request: Any = None) -> Identity:
    """Who sent ``request`` (a ``gr.Request``; ``None`` for local calls)."""
    if request is None:
        return Identity(LOCAL, "local", teacher=not public())
    cookies = getattr(request, "cookies", None) or {}
    visitor = cookie_visitor(cookies.get(COOKIE))
    username = getattr(request, "username", None)
    host = _header(request, "host").rsplit(":", 1)[0]
    reached_locally = not host or host in _LOOPBACK
    bearer = _header(request, "authorization")
    token = bearer[7:].strip() if bearer.lower().startswith("bearer ") else None
    if username:
        vid, name = f"hf:{username}", str(username)
    elif visitor:
        vid, name = f"v:{visitor}", t("access.visitor_name", short=visitor[:6])  # words in the visitor's language
    else:
        vid, name = "", t("access.anonymous_name")
    teacher = (
        _token_ok(token)
        or (username in teachers() if username else False)
        or (bool(vid) and vid in _unlocked)
        or (not public() and reached_locally)
    )
    if not vid and teacher:
        vid, name = LOCAL, t("access.teacher_name")
    return Identity(vid, name, teacher=teacher)


def unlock(request: Any, token: str) -> Identity:
    """The teacher's token typed in the page: right, and this visitor is the teacher until the app restarts."""
    who = identify(request)
    if not _token_ok((token or "").strip()):
        raise LabError("access.bad_token" if os.environ.get("LAB_ADMIN_TOKEN") else "access.no_token")
    if not who.visitor:
        raise LabError("access.no_visitor")
    with _lock:
        _unlocked.add(who.visitor)
    return Identity(who.visitor, who.name, teacher=True)


def may_touch(who: Identity, owner: str | None) -> bool:
    """May ``who`` stop or delete something ``owner`` started? The teacher always; a visitor only their own."""
    return who.teacher or bool(who.visitor and owner and who.visitor == owner)


def require_teacher(who: Identity, action: str) -> None:
    """Refuse ``action`` (words, e.g. "import feedback") unless ``who`` is the teacher; the message says who may."""
    if not who.teacher:
        raise LabError("access.teacher_only", action=action)


class VisitorCookie:
    """ASGI middleware: every HTTP request carries a signed visitor id (:data:`COOKIE`). A request without a valid
    one gets a new id — seen by that very request and set on its response (HttpOnly; ``SameSite=None; Secure`` on a
    Space, whose page is an iframe on huggingface.co; else ``Lax``)."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = list(scope.get("headers") or [])
        raw = b"; ".join(v for k, v in headers if k == b"cookie").decode("latin-1")
        jar = SimpleCookie()
        try:
            jar.load(raw)
        except Exception:  # a malformed Cookie header: treat as none
            jar = SimpleCookie()
        if cookie_visitor(jar[COOKIE].value if COOKIE in jar else None):
            return await self.app(scope, receive, send)
        value = issue()
        merged = f"{raw}; {COOKIE}={value}" if raw else f"{COOKIE}={value}"
        scope = {**scope, "headers": [(k, v) for k, v in headers if k != b"cookie"] + [(b"cookie", merged.encode())]}
        site = "SameSite=None; Secure" if os.environ.get("SPACE_ID") else "SameSite=Lax"
        set_cookie = f"{COOKIE}={value}; Path=/; Max-Age=31536000; HttpOnly; {site}".encode()

        async def send_with_cookie(message):
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), (b"set-cookie", set_cookie)]}
            await send(message)

        return await self.app(scope, receive, send_with_cookie)
