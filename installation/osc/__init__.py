"""OSC: performer control in (``receiver``), sound-system sync out (``sender``), one address
table (``addresses``). ``OscBridge`` ties them to the frame loop as a frame listener."""

from __future__ import annotations

import logging

from installation.config import OscConfig
from installation.control import CommandInbox
from installation.osc.receiver import OscError, OscReceiver, parse_allow_list, parse_endpoint
from installation.osc.sender import OscSender
from installation.report import FrameReport, RuntimeStatus

log = logging.getLogger(__name__)

ERROR_COUNTERS = ("malformed", "unknown_address", "bad_arguments", "rate_limited", "not_allowed", "inbox_full")


class OscBridge:
    """Listens for control (when ``listen`` is set) and sends each frame (when there are targets).

    ``listen`` and ``targets`` override the configuration (the command line's ``--osc-in`` and
    ``--osc-out``). A port that can't be opened is an OscError when asked for on the command line,
    and a logged warning when it comes from the configuration: the show goes on without control.
    """

    def __init__(self, config: OscConfig, inbox: CommandInbox, listen: str | None = None,
                 targets: tuple[str, ...] | None = None, person_slots: int = 0) -> None:
        """``person_slots``: with several visitors, how many ``/person/<slot>`` slots each bundle has."""
        self._status: RuntimeStatus | None = None
        self.receiver: OscReceiver | None = None
        endpoint = listen if listen is not None else config.listen
        if endpoint:
            host, port = parse_endpoint(endpoint, listening=True)
            receiver = OscReceiver(host, port, inbox, lambda: self._status, parse_allow_list(config.allow),
                                   config.sender_rate)
            try:
                self.receiver = receiver.start()
            except OscError as error:
                if listen is not None:
                    raise
                log.warning("%s; running without OSC control", error)
        targets = targets if targets else config.targets
        wanted = targets or config.wekinator or config.mediapipe_osc
        self.sender = OscSender(config, targets, person_slots) if wanted else None

    def on_frame(self, report: FrameReport) -> None:
        self._status = report.status  # immutable snapshot, read by the receiver's thread
        if self.sender is not None:
            self.sender.on_frame(report)

    def counters(self) -> dict[str, int]:
        """Error counters for the run's stats, prefixed ``osc_``."""
        counts = {}
        if self.receiver is not None:
            counts.update({f"osc_{name}": self.receiver.counters[name] for name in ERROR_COUNTERS})
        if self.sender is not None:
            counts["osc_send_failed"] = self.sender.counters["send_failed"]
        return counts

    def close(self) -> None:
        if self.receiver is not None:
            self.receiver.close()
        if self.sender is not None:
            self.sender.close()


__all__ = ["OscBridge", "OscError", "OscReceiver", "OscSender", "parse_endpoint"]
