"""The staff page: a kiosk watched and steered from a browser, and /metrics for monitoring.

``serve_runtime`` starts it for the runtime in this process (``main.py run``); under
``main.py kiosk`` the supervisor serves it instead (``serve_supervisor``), so it stays up while
the runtime restarts. docs/kiosk.md describes the page, its security and its metrics.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

from installation.config import Config, load_config
from installation.staff.server import StaffError, StaffServer
from installation.staff.status import StatusSource

log = logging.getLogger(__name__)

__all__ = ["StaffError", "StaffServer", "StatusSource", "kiosk_page", "serve_runtime", "serve_supervisor"]


def serve_runtime(config: Config, runtime) -> StaffServer | None:
    """Start the page for ``runtime`` (an ``installation.runtime.Runtime``), its source among the
    loop's listeners (closing the loop stops the server). None when ``staff.listen`` is "" or the
    port cannot be had: the show goes on without its page, said in one warning."""
    if not config.staff.listen:
        return None
    from installation.staff.runtime_source import RuntimeSource

    source = RuntimeSource(runtime, config)
    server = StaffServer(config.staff, source)
    try:
        server.start()
    except StaffError as error:
        log.warning("%s; running without the staff page", error)
        source.close()
        runtime.telemetry.errors["staff_page"] += 1
        return None
    source.on_close.append(server.close)
    runtime.stages.listeners.append(source)
    return server


def serve_supervisor(config: Config, supervisor) -> StaffServer | None:
    """Start the page for a kiosk ``supervisor`` (``installation.supervisor.Supervisor``); the
    caller closes it. None when off or the port cannot be had (one warning)."""
    if not config.staff.listen:
        return None
    from installation.staff.supervised_source import SupervisedSource

    server = StaffServer(config.staff, SupervisedSource(supervisor, config))
    try:
        server.start()
    except StaffError as error:
        log.warning("%s; the kiosk runs without the staff page", error)
        return None
    return server


def kiosk_page(config_path: Path | None, supervisor) -> contextlib.AbstractContextManager:
    """``main.py kiosk``: the page served by ``supervisor`` for as long as the ``with`` lasts.
    Raises ConfigError at once for a bad configuration (a LAN bind without a password among
    them), before any runtime starts."""
    server = serve_supervisor(load_config(config_path), supervisor)
    return contextlib.closing(server) if server is not None else contextlib.nullcontext()
