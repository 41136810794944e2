"""Events out: when the piece falls back, restarts, gives up or loses the camera, one log line and,
if ``staff.webhook`` is set, a JSON POST with the same fields, retried with back-off.

``EventWatch`` compares successive snapshots (the server looks once a second), so it works alike
for the runtime in this process and for the kiosk supervisor's view of its child. ``Webhook``
runs on the staff server's event loop, never on the frame loop; its queue is bounded (the oldest
event is dropped, and counted, when a dead endpoint lets them pile up).
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import logging
import socket

import aiohttp

log = logging.getLogger(__name__)

RETRY_DELAYS_S = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0)  # then the event is given up (and counted)
MAX_PENDING = 100
TIMEOUT_S = 5.0


class EventWatch:
    """Turns changes between two snapshots into events (dicts with ``event`` and ``message``)."""

    def __init__(self) -> None:
        self._last: dict | None = None

    def update(self, snapshot: dict) -> list[dict]:
        last, self._last = self._last, snapshot
        if last is None:
            return []
        found = []
        if snapshot["state"] != last["state"] and snapshot["state"] in ("fallback", "given up"):
            found.append(("fallback" if snapshot["state"] == "fallback" else "given_up",
                          f"the piece is now {snapshot['state']} (was {last['state']})"))
        if snapshot["restarts"] > last["restarts"]:
            reason = snapshot.get("last_restart_reason") or "unknown"
            found.append(("restart", f"the runtime restarted (#{snapshot['restarts']}): {reason}"))
        stalls, before = snapshot["errors"].get("source_stalls", 0), last["errors"].get("source_stalls", 0)
        if stalls > before:
            found.append(("camera_lost", f"no camera frames (stall #{stalls})"))
        return [self._event(name, message, snapshot) for name, message in found]

    @staticmethod
    def _event(name: str, message: str, snapshot: dict) -> dict:
        event = {"event": name, "message": message, "state": snapshot["state"], "scene": snapshot["scene"],
                 "restarts": snapshot["restarts"], "host": socket.gethostname(),
                 "time": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
        log.warning("event %s: %s (state %s, scene %s, restarts %d)", name, message, event["state"],
                    event["scene"], event["restarts"])
        return event


class Webhook:
    """Posts events to ``url`` in order, each retried after ``delays_s`` until one attempt gets a 2xx."""

    def __init__(self, url: str, delays_s: tuple[float, ...] = RETRY_DELAYS_S, max_pending: int = MAX_PENDING) -> None:
        self.url, self.delays_s = url, delays_s
        self._pending: collections.deque[dict] = collections.deque(maxlen=max_pending)
        self._wake = asyncio.Event()
        self.sent = self.failed_attempts = self.given_up = self.dropped = 0

    def send(self, event: dict) -> None:
        """Queue ``event`` (on the server's event loop); the oldest is dropped when full."""
        if len(self._pending) == self._pending.maxlen:
            self.dropped += 1
        self._pending.append(event)
        self._wake.set()

    async def run(self) -> None:
        """Deliver queued events until cancelled."""
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT_S)) as session:
            while True:
                if not self._pending:
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                event = self._pending.popleft()
                await self._deliver(session, event)

    async def _deliver(self, session: aiohttp.ClientSession, event: dict) -> None:
        for attempt, delay in enumerate((0.0, *self.delays_s)):
            if delay:
                await asyncio.sleep(delay)  # back-off: a venue's endpoint that is down is not hammered
            try:
                async with session.post(self.url, json=event) as response:
                    if 200 <= response.status < 300:
                        self.sent += 1
                        return
                    why = f"HTTP {response.status}"
            except (TimeoutError, aiohttp.ClientError, OSError) as error:
                why = str(error) or type(error).__name__
            self.failed_attempts += 1
            if attempt == 0:
                log.warning("webhook %s: %s; retrying with back-off", self.url, why)
        self.given_up += 1
        log.error("webhook %s: event %s not delivered after %d attempts", self.url, event["event"],
                  len(self.delays_s) + 1)
