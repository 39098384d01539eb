"""The page in the visitor's language: Chinese or English, from one key table (``lab.texts``).

Two kinds of text, one table:

- **Static text** (labels, buttons, tab names, help written into the layout) is ``L("key")``: a ``gr.I18n`` key
  that Gradio's page translates in the browser from :data:`I18N` (built from the same JSON files). Gradio picks the
  browser's language (``navigator.language``).
- **Text made at run time** (status lines, tables, plot titles, ``LabError`` messages) is ``lab.texts.t("key")``.
  :class:`LabBlocks` answers every page event inside ``texts.speaking(language(request))``, so ``t`` without a
  language speaks the visitor's — no handler passes a language around. A value that is a function (``gr.HTML(value=
  fn)``) runs at page load as such an event: that is how text assembled from several keys gets translated.

The visitor's language: the page's switch (:func:`language_switch`, kept in a ``gr.BrowserState`` and mirrored in
the ``lab_lang`` cookie so that every request carries it), else the browser's ``Accept-Language``, else English.
The switch reloads the page; :class:`PageLanguage` (ASGI middleware) then tells Gradio's page the chosen language
before its scripts run, so static and run-time text agree.
"""

from __future__ import annotations

import json
import re
from http.cookies import SimpleCookie
from typing import Any

import gradio as gr

from lab import texts

__all__ = [
    "COOKIE", "I18N", "L", "LabBlocks", "PageLanguage", "language", "language_of_headers", "language_switch",
    "resolve",
]  # fmt: skip

COOKIE = "lab_lang"
"""The page switch's choice, readable by every request (not a secret: it only picks a language)."""
NAMES = {"en": "English", "zh": "中文"}
"""How each language names itself on the switch."""

I18N = gr.I18n(**{lang: texts.table(lang) for lang in texts.LANGUAGES})
"""The whole key table for Gradio's page: pass it to ``launch(i18n=I18N)``."""


def L(key: str) -> gr.i18n.I18nData:  # noqa: N802 — short on purpose: it wraps every label of the layout
    """A static label: ``gr.Tab(L("app.tab.runs"))``. The key must be in the table (``KeyError`` names it)."""
    texts.t(key, texts.DEFAULT_LANGUAGE)  # a missing key fails when the page is built, not in a browser
    return I18N(key)


def resolve(value: Any, language: str = texts.DEFAULT_LANGUAGE) -> Any:
    """What the page shows for ``value`` in ``language``: an ``L("key")`` (or its serialized ``__i18n__{…}`` form,
    as in ``demo.get_config_file()``) becomes its text; anything else is returned as it is. For tests and checks.

    >>> resolve(L("app.tab.runs")), resolve(str(L("app.tab.runs")), "zh"), resolve(3)
    ('Runs', '运行记录', 3)
    """
    if isinstance(value, gr.i18n.I18nData):
        return texts.t(value.key, language)
    if isinstance(value, str) and value.startswith("__i18n__"):
        return texts.t(json.loads(value[len("__i18n__") :])["key"], language)
    if isinstance(value, dict) and value.get("__type__") == "translation_metadata":
        return texts.t(value["key"], language)
    return value


def _supported(tag: str) -> str | None:
    """``zh-CN`` → ``zh``, ``en-GB`` → ``en``; ``None`` for a language without a table."""
    base = tag.strip().lower().split("-")[0].split("_")[0]
    return base if base in texts.LANGUAGES else None


def language_of_headers(cookie: str | None, accept_language: str | None) -> str:
    """The language of a request: the ``lab_lang`` cookie when it names a language with a table, else the first
    supported language of ``Accept-Language`` by its q-weights, else English.

    >>> language_of_headers(None, "zh-CN,zh;q=0.9,en;q=0.8")
    'zh'
    >>> language_of_headers(None, "fr-FR, en;q=0.5, zh;q=0.9")
    'zh'
    >>> language_of_headers("lab_lang=en; other=1", "zh-CN")
    'en'
    >>> language_of_headers(None, None)
    'en'
    """
    if cookie:
        jar = SimpleCookie()
        try:
            jar.load(cookie)
        except Exception:  # a malformed Cookie header says nothing about language
            jar = SimpleCookie()
        if COOKIE in jar and _supported(jar[COOKIE].value):
            return _supported(jar[COOKIE].value)
    weighted = []
    for i, part in enumerate((accept_language or "").split(",")):
        tag, _, q = part.strip().partition(";q=")
        try:
            weight = float(q) if q else 1.0
        except ValueError:
            weight = 0.0
        if tag and _supported(tag):
            weighted.append((-weight, i, _supported(tag)))
    return min(weighted)[2] if weighted else texts.DEFAULT_LANGUAGE


def language(request: gr.Request | None) -> str:
    """The language of the visitor who sent ``request`` (English without one, e.g. a call from Python)."""
    if request is None:
        return texts.DEFAULT_LANGUAGE
    headers = getattr(request, "headers", None) or {}
    return language_of_headers(headers.get("cookie"), headers.get("accept-language"))


class LabBlocks(gr.Blocks):
    """``gr.Blocks`` that answers every event in the language of the visitor who sent it (see the module text)."""

    async def process_api(self, block_fn, inputs, state=None, request=None, *args, **kwargs) -> dict[str, Any]:
        first = request[0] if isinstance(request, list) and request else request  # a batched event: one visitor each
        with texts.speaking(language(first if not isinstance(first, list) else None)):
            return await super().process_api(block_fn, inputs, state, request, *args, **kwargs)


def language_switch(demo: gr.Blocks) -> gr.Radio:
    """The page's language switch (English / 中文), remembered in the browser (``gr.BrowserState``).

    Choosing sets the ``lab_lang`` cookie and reloads the page, so the labels (Gradio's ``I18n``) and the text made
    at run time switch together. On load the switch shows the language the page speaks; a browser that remembers a
    choice its cookie lost (cleared cookies) gets it back."""
    remembered = gr.BrowserState(None, storage_key="lab-language")
    switch = gr.Radio(
        [(name, lang) for lang, name in NAMES.items() if lang in texts.LANGUAGES], value=None, show_label=False,
        container=False, elem_id="lab-language", elem_classes=["lab-language"],
    )  # fmt: skip
    # on https (a Space: the page is an iframe on huggingface.co) a cookie needs SameSite=None; Secure to be kept;
    # reload only when the browser kept it, or a browser that refuses cookies would reload for ever
    set_cookie = (
        f"document.cookie = '{COOKIE}=' + lang + '; path=/; max-age=31536000; ' + "
        "(location.protocol === 'https:' ? 'SameSite=None; Secure' : 'SameSite=Lax')"
    )
    kept = f"document.cookie.includes('{COOKIE}=' + lang)"
    switch.input(lambda lang: lang, switch, remembered, api_visibility="private").then(
        None, switch, None, js=f"(lang) => {{ {set_cookie}; if ({kept}) window.location.reload(); }}"
    )

    def on_load(saved: str | None, request: gr.Request) -> str:
        return language(request)

    demo.load(on_load, remembered, switch, api_visibility="private").then(
        None, remembered, None,
        js=f"(lang) => {{ if (lang && !document.cookie.includes('{COOKIE}=')) {{ {set_cookie}; "
           f"if ({kept}) window.location.reload(); }} }}",
    )  # fmt: skip
    return switch


_HTML_HEAD = re.compile(rb"<head[^>]*>", re.IGNORECASE)


def _page_script(lang: str) -> bytes:
    """A script that makes ``navigator.language`` the chosen language before Gradio's page reads it."""
    tag = {"zh": "zh-CN", "en": "en-US"}.get(lang, lang)
    return (
        "<script>(function(){try{var d=Object.defineProperty,p=Navigator.prototype;"
        f"d(p,'language',{{get:function(){{return '{tag}'}},configurable:true}});"
        f"d(p,'languages',{{get:function(){{return ['{tag}']}},configurable:true}});"
        f"document.documentElement.lang='{tag}';}}catch(e){{}}}})();</script>"
    ).encode()


class PageLanguage:
    """ASGI middleware: a page request whose ``lab_lang`` cookie chose a language gets, first in its ``<head>``, a
    script that makes Gradio's page speak it (Gradio reads ``navigator.language``; the switch overrides it for
    this site only). Other requests pass untouched."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope.get("method") != "GET":
            return await self.app(scope, receive, send)
        cookie = b"; ".join(v for k, v in scope.get("headers") or [] if k == b"cookie").decode("latin-1")
        if f"{COOKIE}=" not in cookie:
            return await self.app(scope, receive, send)
        chosen = language_of_headers(cookie, None)
        start: dict | None = None  # the page's response start, held until its body is complete
        body: list[bytes] = []
        passthrough = False  # not a whole HTML page (JSON, a file, a 206 range): sent as it comes

        async def buffered(message):
            nonlocal start, passthrough
            if message["type"] == "http.response.start":
                kind = dict(message.get("headers") or []).get(b"content-type", b"")
                passthrough = not kind.startswith(b"text/html") or message.get("status") != 200
                if passthrough:
                    return await send(message)
                start = message
                return None
            if passthrough:
                return await send(message)
            body.append(message.get("body", b""))
            if message.get("more_body"):
                return None
            html = _HTML_HEAD.sub(lambda m: m.group(0) + _page_script(chosen), b"".join(body), count=1)
            headers = [(k, v) for k, v in start["headers"] if k != b"content-length"]
            headers += [(b"content-length", str(len(html)).encode()), (b"vary", b"Cookie")]  # per-language page
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": html})

        return await self.app(scope, receive, buffered)
