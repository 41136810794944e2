"""The staff page's web server: aiohttp on its own thread with its own event loop.

Never on the frame path: it reads what its ``StatusSource`` built last and hands controls to the
runtime's command inbox, so a slow or hostile client costs the loop nothing but the GIL time of
answering it (``benchmarks/staff_load.py`` measures that). Every request that is refused gets a
JSON 4xx with a one-line reason; an unexpected failure is logged with its traceback and answered
with a bare 500, never the traceback.

    GET  /                    the page (log-in first when a password is set)
    GET  /login, POST /login  log-in page; JSON {"name", "password"} -> session cookie
    POST /logout
    GET  /static/<file>       the page's CSS and JavaScript (shipped in page/, no CDN)
    GET  /api/status          the snapshot, plus who you are and your CSRF token
    GET  /api/history         the last hour's chart samples
    GET  /api/thumbnail.jpg   the screen, small, a few times a second
    POST /api/control         JSON {"action", "value"} with header X-CSRF-Token (operators only)
    GET  /metrics             Prometheus text format
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import os
import threading
from pathlib import Path

import cv2
from aiohttp import web

from installation.config import StaffConfig
from installation.errors import InstallationError
from installation.staff.auth import OPERATOR, LoginRefused, Session, StaffAuth
from installation.staff.controls import ControlRejected, command_for
from installation.staff.metrics import metrics_text, registry_for
from installation.staff.status import StatusSource
from installation.staff.webhook import EventWatch, Webhook

log = logging.getLogger(__name__)

PAGE = Path(__file__).resolve().parent / "page"
STATIC = {"staff.css": "text/css", "staff.js": "text/javascript", "login.js": "text/javascript"}
COOKIE = "staff_session"
CSRF_HEADER = "X-CSRF-Token"
MAX_BODY = 16 * 1024  # controls and log-ins are tiny; anything bigger is refused before it is read
JPEG_QUALITY = 80
EVENT_CHECK_S = 1.0
SERVER_NICE = 5  # the server's thread yields the core to the frame loop (Linux: per-thread nice)
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class StaffError(InstallationError):
    """The staff server could not start (its port taken, an address not of this machine)."""


class StaffServer:
    """Serves ``source`` on ``config.listen``; ``start`` returns once it listens (or raises StaffError)."""

    def __init__(self, config: StaffConfig, source: StatusSource, auth: StaffAuth | None = None) -> None:
        self.config, self.source = config, source
        self.auth = auth if auth is not None else StaffAuth(config)
        self.refused: collections.Counter[str] = collections.Counter()  # /metrics: installation_staff_refused
        self.registry = registry_for(source, lambda: dict(self.refused))
        self.webhook = Webhook(config.webhook) if config.webhook else None
        self.port: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._jpeg: tuple[int, bytes | None] = (-1, None)
        self._status_json: tuple[object, str] = (None, "{}")

    @property
    def url(self) -> str:
        host = self.config.listen.rpartition(":")[0] or "127.0.0.1"
        return f"http://{'127.0.0.1' if host == '0.0.0.0' else host}:{self.port}"

    def start(self) -> None:
        ready: dict = {}
        started = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(ready, started), name="staff-page", daemon=True)
        self._thread.start()
        started.wait()
        if "error" in ready:
            raise StaffError(f"staff.listen = {self.config.listen!r}: {ready['error']}")
        log.info("staff page on %s", self.url)

    def close(self) -> None:
        if self._loop is not None and self._thread is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5.0)

    # the server's thread
    def _serve(self, ready: dict, started: threading.Event) -> None:
        _lower_priority(SERVER_NICE)
        loop = self._loop = asyncio.new_event_loop()
        runner = web.AppRunner(self._app(), access_log=None, handle_signals=False)
        host, _, port = self.config.listen.rpartition(":")
        try:
            loop.run_until_complete(runner.setup())
            site = web.TCPSite(runner, host or "127.0.0.1", int(port), reuse_address=True)
            loop.run_until_complete(site.start())
            self.port = runner.addresses[0][1]  # the real port when 0 was asked for (tests)
        except OSError as error:
            ready["error"] = error.strerror or str(error)
            loop.run_until_complete(runner.cleanup())
            loop.close()
            started.set()
            return
        tasks = [loop.create_task(self._watch_events())]
        if self.webhook is not None:
            tasks.append(loop.create_task(self.webhook.run()))
        started.set()
        try:
            loop.run_forever()
        finally:
            for task in tasks:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            loop.run_until_complete(runner.cleanup())
            loop.close()

    async def _watch_events(self) -> None:
        watch = EventWatch()
        while True:
            for event in watch.update(self.source.snapshot()):
                if self.webhook is not None:
                    self.webhook.send(event)
            await asyncio.sleep(EVENT_CHECK_S)

    def _app(self) -> web.Application:
        app = web.Application(middlewares=[self._guard], client_max_size=MAX_BODY)
        app.router.add_get("/", self._page)
        app.router.add_get("/login", self._login_page)
        app.router.add_post("/login", self._login)
        app.router.add_post("/logout", self._logout)
        app.router.add_get("/static/{name}", self._static)
        app.router.add_get("/api/status", self._status)
        app.router.add_get("/api/history", self._history)
        app.router.add_get("/api/thumbnail.jpg", self._thumbnail)
        app.router.add_post("/api/control", self._control)
        app.router.add_get("/metrics", self._metrics)
        return app

    @web.middleware
    async def _guard(self, request: web.Request, handler) -> web.StreamResponse:
        """Security headers on every answer; refusals as JSON; no traceback ever leaves the server."""
        try:
            response = await handler(request)
        except web.HTTPException as error:
            if error.status >= 400:
                self.refused[_reason(error.status)] += 1
                error = _json_error(error.status, error.text if error.content_type == "application/json"
                                    else json.dumps({"error": error.reason}))
            response = error
        except Exception:  # a bug of ours: logged with its traceback and counted, answered as a 500
            self.refused["internal_error"] += 1
            log.exception("staff page: %s %s failed", request.method, request.path)
            response = _json_error(500, json.dumps({"error": "internal error (logged)"}))
        response.headers.update(HEADERS)
        return response

    # who is asking
    def _session(self, request: web.Request) -> Session | None:
        return self.auth.session(request.cookies.get(COOKIE))

    def _viewer(self, request: web.Request, allow_token: bool = False) -> Session | None:
        """The caller's session; None for a monitoring token or open access. Raises 401."""
        session = self._session(request)
        if session is not None:
            return session
        if allow_token and self.auth.token_ok(_bearer(request)):
            return None
        if self.auth.open_access and not self.config.token_hash:
            return None
        raise _refusal(web.HTTPUnauthorized, "log in first")

    # pages
    async def _page(self, request: web.Request) -> web.StreamResponse:
        session = self._session(request)
        if session is None and not self.auth.open_access:
            raise web.HTTPSeeOther("/login")
        response = web.FileResponse(PAGE / "index.html")
        if session is None:  # open access (127.0.0.1, no password): a session all the same, for its CSRF token
            self._set_cookie(response, self.auth.open_session("local", OPERATOR, _peer(request)))
        return response

    async def _login_page(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(PAGE / "login.html")

    async def _static(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name not in STATIC:  # a fixed list: no path from a request ever reaches the file system
            raise _refusal(web.HTTPNotFound, "no such file")
        return web.FileResponse(PAGE / name, headers={"Content-Type": STATIC[name]})

    async def _login(self, request: web.Request) -> web.StreamResponse:
        body = await _json_body(request)
        name, password = body.get("name"), body.get("password")
        if not isinstance(name, str) or not isinstance(password, str):
            raise _refusal(web.HTTPBadRequest, "expected {\"name\": ..., \"password\": ...}")
        loop = asyncio.get_running_loop()
        try:  # scrypt takes tens of ms: off the event loop, so other pages keep answering meanwhile
            session = await loop.run_in_executor(None, self.auth.login, name, password, _peer(request))
        except LoginRefused as error:
            log.warning("staff log-in refused for %r from %s: %s", name[:40], _peer(request), error)
            raise _refusal({400: web.HTTPBadRequest, 401: web.HTTPUnauthorized,
                            429: web.HTTPTooManyRequests}[error.status], str(error)) from None
        log.info("staff log-in: %s (%s) from %s", session.user, session.role, session.peer)
        response = web.json_response({"ok": True, "role": session.role})
        self._set_cookie(response, session)
        return response

    async def _logout(self, request: web.Request) -> web.StreamResponse:
        session = self._checked_session(request)
        self.auth.end(session.token)
        response = web.json_response({"ok": True})
        response.del_cookie(COOKIE, path="/")
        return response

    # figures
    async def _status(self, request: web.Request) -> web.StreamResponse:
        session = self._viewer(request, allow_token=True)
        snapshot = self.source.snapshot()
        if self._status_json[0] is not snapshot:  # serialised once per snapshot, not once per client
            self._status_json = (snapshot, json.dumps(snapshot))
        you = {"user": session.user, "role": session.role, "csrf": session.csrf} if session else None
        body = self._status_json[1][:-1] + ', "you": ' + json.dumps(you) + "}"
        return web.Response(text=body, content_type="application/json")

    async def _history(self, request: web.Request) -> web.StreamResponse:
        self._viewer(request)
        return web.json_response(self.source.history())

    async def _thumbnail(self, request: web.Request) -> web.StreamResponse:
        self._viewer(request)
        sequence, picture = self.source.thumbnail()
        if picture is None:
            raise _refusal(web.HTTPServiceUnavailable, "no picture yet")
        if self._jpeg[0] != sequence:  # encoded once per new picture, whoever asks; cv2 frees the GIL meanwhile
            ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(picture, cv2.COLOR_RGB2BGR),
                                       [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
            self._jpeg = (sequence, encoded.tobytes() if ok else None)
        if self._jpeg[1] is None:
            raise _refusal(web.HTTPServiceUnavailable, "the picture could not be encoded")
        return web.Response(body=self._jpeg[1], content_type="image/jpeg", headers={"X-Frame-Sequence": str(sequence)})

    async def _metrics(self, request: web.Request) -> web.StreamResponse:
        self._viewer(request, allow_token=True)
        return web.Response(body=metrics_text(self.registry), headers={"Content-Type": "text/plain; version=0.0.4"})

    # controls
    async def _control(self, request: web.Request) -> web.StreamResponse:
        session = self._checked_session(request)
        if not session.may_control:
            raise _refusal(web.HTTPForbidden, "viewers cannot use the controls")
        body = await _json_body(request)
        who = f"{session.user} ({session.role}) from {session.peer}"
        try:
            command = command_for(body, f"staff {session.user}@{session.peer}")
        except ControlRejected as error:
            raise _refusal(web.HTTPBadRequest, str(error)) from None
        why_not = self.source.restart(who) if command is None else self.source.send(command)
        action = body["action"] + (f" {body['value']!r}" if body.get("value") is not None else "")
        # the audit line: one per control, naming who did it, whatever came of it
        log.warning("staff: %s by %s%s", action, who, f": refused, {why_not}" if why_not else "")
        if why_not:
            raise _refusal(web.HTTPConflict, why_not)
        return web.json_response({"ok": True, "action": body["action"]}, status=202)

    def _checked_session(self, request: web.Request) -> Session:
        """A session whose CSRF token came back in the header; raises 401 or 403."""
        session = self._session(request)
        if session is None:
            raise _refusal(web.HTTPUnauthorized, "log in first")
        if not self.auth.csrf_ok(session, request.headers.get(CSRF_HEADER)):
            raise _refusal(web.HTTPForbidden, f"missing or wrong {CSRF_HEADER} header: reload the page")
        return session

    def _set_cookie(self, response: web.StreamResponse, session: Session) -> None:
        response.set_cookie(COOKIE, session.token, httponly=True, samesite="Strict", path="/",
                            max_age=int(self.config.session_hours * 3600))


async def _json_body(request: web.Request) -> dict:
    """The request's JSON object; 415 for another content type (a cross-site form cannot send
    JSON without the browser asking first), 400 for bad JSON, 413 (aiohttp) beyond MAX_BODY."""
    if request.content_type != "application/json":
        raise _refusal(web.HTTPUnsupportedMediaType, "send JSON (Content-Type: application/json)")
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise _refusal(web.HTTPBadRequest, "the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise _refusal(web.HTTPBadRequest, "expected a JSON object")
    return body


def _refusal(kind: type[web.HTTPException], message: str) -> web.HTTPException:
    return kind(text=json.dumps({"error": message}), content_type="application/json")


def _json_error(status: int, text: str) -> web.Response:
    return web.Response(status=status, text=text, content_type="application/json")


def _reason(status: int) -> str:
    return {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 409: "conflict",
            413: "too_large", 415: "not_json", 429: "rate_limited", 503: "unavailable"}.get(status, str(status))


def _peer(request: web.Request) -> str:
    return request.remote or "?"


def _bearer(request: web.Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def _lower_priority(nice: int) -> None:
    """Lower this thread's scheduling priority (Linux threads have their own nice value)."""
    if hasattr(os, "setpriority") and hasattr(threading, "get_native_id"):
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), os.getpriority(os.PRIO_PROCESS, 0) + nice)
        except OSError:  # not allowed here: the server runs at the loop's priority, which is only slower
            pass
