"""The staff page without a browser: password hashes, sessions and the log-in limit, the config's
refusal of an open LAN bind, controls, events, the server's answers to good and bad requests, and
the kiosk's view of its child. Time is driven by fake clocks; nothing waits on the wall clock."""

from __future__ import annotations

import asyncio
import http.cookiejar
import json
import socket
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from aiohttp import web

from installation.config import StaffConfig, config_from_dict
from installation.control import ControlCommand
from installation.errors import ConfigError
from installation.staff.auth import FAILURES_PER_ADDRESS, LoginRefused, StaffAuth, hash_secret, verify_secret
from installation.staff.controls import ControlRejected, command_for
from installation.staff.server import StaffServer
from installation.staff.status import EMPTY_SNAPSHOT
from installation.staff.webhook import EventWatch, Webhook
from installation.test_pattern import alignment_grid

OPERATOR, VIEWER, TOKEN = "operator-secret-1", "viewer-secret-1", "monitoring-token-1"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# hashes, sessions, log-in limit
def test_a_hash_verifies_its_password_only_and_never_raises_on_junk():
    stored = hash_secret("correct horse")
    assert stored.startswith("scrypt$") and "correct" not in stored
    assert verify_secret("correct horse", stored)
    assert not verify_secret("correct hors", stored)
    assert hash_secret("correct horse") != stored  # a fresh salt each time
    for junk in ("", "scrypt$", "scrypt$x$8$1$zz$zz", "md5$abc", "pbkdf2_sha256$nope$00$00"):
        assert not verify_secret("anything", junk)


def test_pbkdf2_hashes_are_accepted_too():
    import hashlib

    digest = hashlib.pbkdf2_hmac("sha256", b"pw", b"salt", 1000).hex()
    assert verify_secret("pw", f"pbkdf2_sha256$1000${b'salt'.hex()}${digest}")


def auth_with(clock=None, **keys) -> StaffAuth:
    return StaffAuth(StaffConfig(**keys), clock or FakeClock())


def test_roles_come_from_which_password_matched():
    auth = auth_with(password_hash=hash_secret(OPERATOR), viewer_password_hash=hash_secret(VIEWER))
    assert auth.login("ada", OPERATOR, "10.0.0.2").may_control
    assert not auth.login("guard", VIEWER, "10.0.0.3").may_control
    with pytest.raises(LoginRefused) as wrong:
        auth.login("mallory", "guess", "10.0.0.4")
    assert wrong.value.status == 401
    with pytest.raises(LoginRefused) as nameless:
        auth.login("<script>", OPERATOR, "10.0.0.4")
    assert nameless.value.status == 400


def test_failed_log_ins_are_rate_limited_per_address_until_the_window_passes():
    clock = FakeClock()
    auth = auth_with(clock, password_hash=hash_secret(OPERATOR))
    for _ in range(FAILURES_PER_ADDRESS):
        with pytest.raises(LoginRefused):
            auth.login("mallory", "guess", "10.0.0.9")
    with pytest.raises(LoginRefused) as limited:
        auth.login("mallory", OPERATOR, "10.0.0.9")  # even the right password, while limited
    assert limited.value.status == 429
    assert auth.login("ada", OPERATOR, "10.0.0.2")  # another address is not punished
    clock.now += 61.0
    assert auth.login("ada", OPERATOR, "10.0.0.9")


def test_sessions_expire_and_csrf_tokens_are_compared_exactly():
    clock = FakeClock()
    auth = auth_with(clock, password_hash=hash_secret(OPERATOR), session_hours=1.0)
    session = auth.login("ada", OPERATOR, "127.0.0.1")
    assert auth.session(session.token) == session
    assert auth.csrf_ok(session, session.csrf) and not auth.csrf_ok(session, None)
    assert not auth.csrf_ok(session, session.csrf[:-1] + "x")
    clock.now += 3601.0
    assert auth.session(session.token) is None


def test_a_bearer_token_is_checked_against_its_hash():
    auth = auth_with(token_hash=hash_secret(TOKEN))
    assert auth.token_ok(TOKEN) and auth.token_ok(TOKEN)  # the second from the cache
    assert not auth.token_ok("other") and not auth.token_ok(None)


# configuration
def test_a_lan_bind_without_a_hash_is_refused_at_start_in_one_line():
    with pytest.raises(ConfigError, match="opens the staff page to the network") as refused:
        config_from_dict({"staff": {"listen": "0.0.0.0:8765"}})
    assert "\n" not in str(refused.value)
    assert config_from_dict({"staff": {"listen": "0.0.0.0:8765", "password_hash": hash_secret("pw")}})
    assert config_from_dict({"staff": {"listen": "localhost:8765"}}).staff.listen == "localhost:8765"
    assert config_from_dict({"staff": {"listen": ""}}).staff.listen == ""


@pytest.mark.parametrize("staff, wrong", [({"password_hash": "hunter22"}, "password_hash"),
                                          ({"listen": "8765x"}, "listen"), ({"webhook": "ftp://x"}, "webhook"),
                                          ({"thumbnail_fps": 0}, "thumbnail_fps")])
def test_bad_staff_keys_name_the_key_and_never_echo_a_password(staff, wrong):
    with pytest.raises(ConfigError, match=f"staff.{wrong}") as refused:
        config_from_dict({"staff": staff})
    assert "hunter22" not in str(refused.value)


# controls and events
def test_controls_become_the_commands_osc_sends():
    origin = "staff ada@127.0.0.1"
    assert command_for({"action": "scene_next"}, origin) == ControlCommand("scene", ("next",), origin)
    assert command_for({"action": "scene_set", "value": "dream_drift"}, origin).args == ("set", "dream_drift")
    assert command_for({"action": "blackout", "value": True}, origin) == ControlCommand("blackout", ("on",), origin)
    assert command_for({"action": "freeze"}, origin).args == ("toggle",)
    assert command_for({"action": "restart"}, origin) is None
    for bad in ([], {"action": "quit"}, {"action": "scene_set", "value": "../x"}, {"action": "sleep", "value": 3}):
        with pytest.raises(ControlRejected):
            command_for(bad, origin)


def snapshot(**changes) -> dict:
    return {**EMPTY_SNAPSHOT, "state": "running", "scene": "body_latent", **changes}


def test_events_are_found_between_snapshots():
    watch = EventWatch()
    assert watch.update(snapshot()) == []
    events = watch.update(snapshot(state="fallback", restarts=1, last_restart_reason="hung",
                                   errors={"source_stalls": 1}))
    assert [e["event"] for e in events] == ["fallback", "restart", "camera_lost"]
    assert events[1]["message"] == "the runtime restarted (#1): hung" and events[0]["scene"] == "body_latent"
    assert watch.update(snapshot(state="fallback", restarts=1, errors={"source_stalls": 1})) == []


def test_the_webhook_retries_with_back_off_until_delivered():
    received, answers = [], [500, 503, 200]

    async def endpoint(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.Response(status=answers[len(received) - 1])

    async def scenario() -> Webhook:
        app = web.Application()
        app.router.add_post("/hook", endpoint)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        hook = Webhook(f"http://127.0.0.1:{runner.addresses[0][1]}/hook", delays_s=(0.01, 0.01, 0.01))
        task = asyncio.create_task(hook.run())
        hook.send({"event": "restart", "message": "the runtime restarted (#1): hung"})
        for _ in range(500):  # a failure guard, polled: ends as soon as the third attempt is answered
            if hook.sent:
                break
            await asyncio.sleep(0.01)
        task.cancel()
        await runner.cleanup()
        return hook

    hook = asyncio.run(scenario())
    assert hook.sent == 1 and hook.failed_attempts == 2 and len(received) == 3
    assert received[-1]["event"] == "restart"


def test_the_test_pattern_is_drawn_once_and_cannot_be_drawn_on():
    grid = alignment_grid(128)
    assert grid.shape == (128, 128, 3) and grid is alignment_grid(128)
    assert not grid.flags.writeable and grid[0, 64].tolist() == [255, 255, 255]


# the server, with a source that records what it is sent
@dataclass
class FakeSource:
    sent: list = field(default_factory=list)
    picture: np.ndarray | None = None

    def snapshot(self) -> dict:
        return snapshot(fps=29.5, errors={"scene": 2}, stage_ms={"generate": 4.0}, controls=["scene_next"])

    def history(self) -> list:
        return [[1.0, 30.0, 40.0, 10.0]]

    def thumbnail(self):
        return (1, self.picture)

    def send(self, command):
        self.sent.append(command)
        return None

    def restart(self, who):
        return "restart needs the kiosk supervisor"

    def close(self) -> None:
        pass


@pytest.fixture
def served():
    source = FakeSource()
    config = StaffConfig(listen="127.0.0.1:0", password_hash=hash_secret(OPERATOR),
                         viewer_password_hash=hash_secret(VIEWER), token_hash=hash_secret(TOKEN))
    server = StaffServer(config, source)
    server.start()
    yield server, source
    server.close()


class Client:
    """urllib with a cookie jar: what a browser keeps between requests."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def call(self, path: str, body=None, headers=None, raw: bytes | None = None) -> tuple[int, bytes, dict]:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        sent = {"Content-Type": "application/json", **(headers or {})} if data is not None else dict(headers or {})
        request = urllib.request.Request(self.base + path, data=data, headers=sent)
        try:
            with self.opener.open(request, timeout=30) as response:
                return response.status, response.read(), dict(response.headers)
        except urllib.error.HTTPError as error:
            return error.code, error.read(), dict(error.headers)

    def log_in(self, password: str, name: str = "ada") -> str:
        status, body, _ = self.call("/login", {"name": name, "password": password})
        assert status == 200, body
        return json.loads(self.call("/api/status")[1])["you"]["csrf"]


def test_the_server_answers_a_logged_in_operator(served):
    server, source = served
    client = Client(server.url)
    csrf = client.log_in(OPERATOR)
    status, body, headers = client.call("/api/status")
    figures = json.loads(body)
    assert status == 200 and figures["fps"] == 29.5 and figures["you"]["role"] == "operator"
    assert headers["X-Content-Type-Options"] == "nosniff" and "default-src 'self'" in headers["Content-Security-Policy"]
    assert json.loads(client.call("/api/history")[1]) == [[1.0, 30.0, 40.0, 10.0]]
    status, body, _ = client.call("/api/control", {"action": "scene_next"}, {"X-CSRF-Token": csrf})
    assert status == 202 and source.sent == [ControlCommand("scene", ("next",), "staff ada@127.0.0.1")]
    status, body, _ = client.call("/api/control", {"action": "restart"}, {"X-CSRF-Token": csrf})
    assert status == 409 and b"kiosk supervisor" in body
    assert client.call("/", headers={})[0] == 200
    assert b"staff.js" in client.call("/")[1]


def test_bad_requests_get_a_clear_4xx_never_a_traceback(served):
    server, source = served
    client = Client(server.url)
    assert client.call("/")[0] == 200 and "/login" in client.opener.open(server.url + "/").url  # sent to log in
    assert client.call("/api/status")[0] == 401
    assert client.call("/login", {"name": "ada", "password": "guess"})[0] == 401
    csrf = client.log_in(OPERATOR)
    cases = [
        ("/api/control", {"action": "scene_next"}, {}, None, 403),  # no CSRF token
        ("/api/control", {"action": "scene_next"}, {"X-CSRF-Token": "forged"}, None, 403),
        ("/api/control", None, {"X-CSRF-Token": csrf}, b"{not json", 400),
        ("/api/control", {"action": "format_disk"}, {"X-CSRF-Token": csrf}, None, 400),
        ("/api/control", None, {"X-CSRF-Token": csrf, "Content-Type": "text/plain"}, b"action=x", 415),
        ("/api/control", None, {"X-CSRF-Token": csrf}, b"[" * 100_000, 413),
        ("/static/..%2Fauth.py", None, {}, None, 404),
        ("/nowhere", None, {}, None, 404),
    ]
    for path, body, headers, raw, expected in cases:
        status, answer, _ = client.call(path, body, headers, raw)
        assert status == expected, (path, headers, answer)
        assert b"Traceback" not in answer and "error" in json.loads(answer)
    assert source.sent == []
    metrics = client.call("/metrics")[1].decode()
    assert 'installation_staff_refused_total{reason="forbidden"} 2.0' in metrics


def test_a_viewer_cannot_use_the_controls(served):
    server, source = served
    client = Client(server.url)
    csrf = client.log_in(VIEWER, name="guard")
    status, body, _ = client.call("/api/control", {"action": "scene_next"}, {"X-CSRF-Token": csrf})
    assert status == 403 and source.sent == []


def test_metrics_need_the_token_and_carry_the_documented_names(served):
    server, _ = served
    client = Client(server.url)
    assert client.call("/metrics")[0] == 401
    status, body, headers = client.call("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    text = body.decode()
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    documented = (Path(__file__).resolve().parents[1] / "docs" / "kiosk.md").read_text()
    for name in ("installation_up", "installation_fps", "installation_latency_milliseconds",
                 "installation_stage_milliseconds", "installation_restarts_total", "installation_errors_total",
                 "installation_presence", "installation_visitors", "installation_frames_dropped_total"):
        assert f"\n{name}" in text and f"`{name}`" in documented
    assert 'installation_errors_total{kind="scene"} 2.0' in text


def test_the_thumbnail_is_a_jpeg_once_there_is_a_picture(served):
    server, source = served
    client = Client(server.url)
    client.log_in(OPERATOR)
    assert client.call("/api/thumbnail.jpg")[0] == 503
    source.picture = np.full((90, 160, 3), 200, np.uint8)
    status, body, headers = client.call("/api/thumbnail.jpg")
    assert status == 200 and body[:2] == b"\xff\xd8" and headers["X-Frame-Sequence"] == "1"


def test_a_taken_port_is_a_staff_error_not_a_crash():
    from installation.staff import StaffError

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        server = StaffServer(StaffConfig(listen=f"127.0.0.1:{taken.getsockname()[1]}"), FakeSource())
        with pytest.raises(StaffError, match="staff.listen"):
            server.start()


# the kiosk: the supervisor's view of its child
@dataclass
class FakeWatch:
    first_frame_at: float | None = 1.0


@dataclass
class FakePopen:
    killed: bool = False

    def kill(self) -> None:
        self.killed = True


@dataclass
class FakeChild:
    pid: int = 4242
    watch: FakeWatch = field(default_factory=FakeWatch)
    popen: FakePopen = field(default_factory=FakePopen)
    last_lines: tuple = ("installation: 30.0 fps, latency 40 ms",)


@dataclass
class FakeSupervisor:
    settings: object
    active: FakeChild | None = field(default_factory=FakeChild)
    restarts: int = 1
    reasons: list = field(default_factory=lambda: ["exited with code 1"])


def test_the_kiosk_view_reads_the_health_file_and_steers_the_child_over_osc(tmp_path):
    from pythonosc.osc_message import OscMessage

    from installation.staff.supervised_source import SupervisedSource

    health = tmp_path / "health.json"
    health.write_text(json.dumps({"fps": 29.0, "latency_ms": 41.0, "frames": 900, "scene": "dream_drift",
                                  "state": "attract", "presence": 0.0, "errors": {"scene": 1}, "pid": 4242}))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as child_osc:
        child_osc.bind(("127.0.0.1", 0))
        child_osc.settimeout(10.0)  # a failure guard: the datagram is sent before we read
        config = config_from_dict({"osc": {"listen": f"127.0.0.1:{child_osc.getsockname()[1]}"}})
        supervisor = FakeSupervisor(settings=type("Settings", (), {"health": health})())
        clock = FakeClock()
        source = SupervisedSource(supervisor, config, clock=clock)
        seen = source.snapshot()
        assert (seen["state"], seen["scene"], seen["fps"], seen["restarts"]) == ("attract", "dream_drift", 29.0, 1)
        assert seen["last_restart_reason"] == "exited with code 1" and "body_latent" in seen["scenes"]
        assert len(source.history()) == 1

        assert source.send(ControlCommand("scene", ("set", "themes"), "staff ada")) is None
        message = OscMessage(child_osc.recv(1024))
        assert (message.address, message.params) == ("/scene/set", ["themes"])
        assert source.send(ControlCommand("blackout", ("on",), "staff ada")) is None
        assert OscMessage(child_osc.recv(1024)).params == ["on"]
        assert "not available" in source.send(ControlCommand("sleep", ("on",), "staff ada"))

    assert source.restart("ada") is None and supervisor.active.popen.killed
    supervisor.active = None
    clock.now += 2.0
    assert source.snapshot()["state"] == "restarting" and source.snapshot()["fps"] == 0.0
    assert source.thumbnail() == (0, None)
    source.close()
