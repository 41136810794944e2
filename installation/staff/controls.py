"""The staff page's controls, validated into the same ``ControlCommand``s OSC and the keys send.

A control request is ``{"action": ..., "value": ...}``; ``command_for`` checks it against the
table below and returns the command, which goes through the runtime's one command inbox (applied
at a frame boundary by ``ShowControl``, exactly like OSC's ``/scene/next``). Anything else is a
``ControlRejected`` with a one-line reason the page shows (HTTP 400).
"""

from __future__ import annotations

import re

from installation.control import ControlCommand
from installation.errors import InstallationError

SWITCH_ACTIONS = ("blackout", "freeze", "sleep", "test_pattern")  # ShowState switches
SCENE_ACTIONS = ("scene_next", "scene_previous", "scene_set")
ACTIONS = (*SCENE_ACTIONS, "style_set", *SWITCH_ACTIONS, "restart")
NAME = re.compile(r"^[\w.:-]{1,80}$")  # scene names, style names, builtin:N


class ControlRejected(InstallationError):
    """A control request the page should not have sent (unknown action, bad value)."""


def command_for(request: object, origin: str) -> ControlCommand | None:
    """The command for a decoded JSON request, with ``origin`` (who, from where) for the logs;
    None for ``restart``, which the source carries out itself. Raises ControlRejected."""
    if not isinstance(request, dict):
        raise ControlRejected("expected a JSON object such as {\"action\": \"scene_next\"}")
    action, value = request.get("action"), request.get("value")
    if action not in ACTIONS:
        raise ControlRejected(f"unknown action {str(action)[:40]!r} (expected one of: {', '.join(ACTIONS)})")
    if action == "restart":
        return None
    if action in ("scene_next", "scene_previous"):
        return ControlCommand("scene", (action.removeprefix("scene_"),), origin)
    if action == "scene_set":
        return ControlCommand("scene", ("set", _name(value, "scene")), origin, key="scene")
    if action == "style_set":
        return ControlCommand("style_set", (_name(value, "style"),), origin, key="style")
    return ControlCommand(action, (_switch(value),), origin)


def _name(value: object, what: str) -> str:
    if not isinstance(value, str) or not NAME.match(value):
        raise ControlRejected(f"expected a {what} name, got {str(value)[:40]!r}")
    return value


def _switch(value: object) -> str:
    """on / off / toggle (the default), as ShowControl's switches take them."""
    if value is None:
        return "toggle"
    if isinstance(value, bool):
        return "on" if value else "off"
    if value in ("on", "off", "toggle"):
        return value
    raise ControlRejected(f"expected true, false, \"on\", \"off\" or \"toggle\", got {str(value)[:40]!r}")
