"""OSC: performer control in (``receiver``), sound-system sync out (``sender``), one address
table (``addresses``). ``OscBridge`` ties them to the frame loop as a frame listener."""

from __future__ import annotations

import logging

from installation.config import OscConfig
from installation.control import CommandInbox
from installation.osc.policy import ReceiverPolicy
from installation.osc.receiver import OscError, OscReceiver, parse_endpoint
from installation.osc.sender import OscSender
from installation.report import FrameReport, RuntimeStatus

log = logging.getLogger(__name__)

ERROR_COUNTERS = ("malformed", "unknown_address", "bad_arguments", "rate_limited", "rate_limited_total",
                  "kernel_dropped", "not_allowed", "privileged", "inbox_full", "reply_limited", "hung", "restarts")


class OscBridge:
    """Listens for control (when ``listen`` is set) and sends each frame (when there are targets).

    ``listen`` and ``targets`` override the configuration (the command line's ``--osc-in`` and
    ``--osc-out``). A port that can't be opened is an OscError when asked for on the command line,
    and a logged warning when it comes from the configuration: the show goes on without control.
    A bad ``osc.allow`` or ``osc.privileged`` is an OscError either way (``app.run`` checks it
    before anything loads). Each frame, ``on_frame`` runs the receiver's watchdog.
    """

    def __init__(self, config: OscConfig, inbox: CommandInbox, listen: str | None = None,
                 targets: tuple[str, ...] | None = None, person_slots: int = 0) -> None:
        """``person_slots``: with several visitors, how many ``/person/<slot>`` slots each bundle has."""
        self._status: RuntimeStatus | None = None
        self.receiver: OscReceiver | None = None
        self.inbox = inbox
        endpoint = listen if listen is not None else config.listen
        if endpoint:
            self.receiver = self._listen(config, endpoint, strict=listen is not None, what="OSC control")
        # the Wekinator profile: Wekinator sends /wek/outputs (and its control) to port 12000
        self.wekinator_receiver: OscReceiver | None = None
        if config.wekinator and config.wekinator_listen:
            self.wekinator_receiver = self._listen(config, config.wekinator_listen, strict=False,
                                                   what="Wekinator's outputs")
        targets = targets if targets else config.targets
        wanted = targets or config.wekinator or config.mediapipe_osc or config.faceosc
        self.sender = OscSender(config, targets, person_slots) if wanted else None

    def _listen(self, config: OscConfig, endpoint: str, strict: bool, what: str) -> OscReceiver | None:
        """A started receiver on ``endpoint``; None (logged) when the port can't be opened, unless
        ``strict`` (asked for on the command line): then OscError."""
        host, port = parse_endpoint(endpoint, listening=True)
        receiver = OscReceiver(host, port, self.inbox, lambda: self._status, ReceiverPolicy.from_config(config))
        try:
            return receiver.start()
        except OscError as error:
            if strict:
                raise
            log.warning("%s; running without %s", error, what)
            return None

    @property
    def receivers(self) -> list[OscReceiver]:
        return [r for r in (self.receiver, self.wekinator_receiver) if r is not None]

    def on_frame(self, report: FrameReport) -> None:
        self._status = report.status  # immutable snapshot, read by the receiver's thread
        for receiver in self.receivers:
            receiver.watch()
        if self.sender is not None:
            self.sender.on_frame(report)

    def counters(self) -> dict[str, int]:
        """Error counters for the run's stats, prefixed ``osc_``."""
        counts = {}
        if self.receivers:
            counts.update({f"osc_{name}": sum(r.counters[name] for r in self.receivers) for name in ERROR_COUNTERS})
            counts["osc_coalesced"] = self.inbox.replaced  # waiting values replaced by a newer one
        if self.sender is not None:
            counts["osc_send_failed"] = self.sender.counters["send_failed"]
        return counts

    def receiver_health(self) -> dict | None:
        """The health file's ``osc_receiver``: None when not listening, else ``alive``,
        ``restarts`` and ``hung`` (see ``OscReceiver.health``)."""
        return self.receiver.health() if self.receiver is not None else None

    def receiver_alive(self) -> bool:
        """True unless OSC control listens and its receive thread is down (the kiosk's heartbeat)."""
        return self.receiver is None or self.receiver.alive

    def close(self) -> None:
        for receiver in self.receivers:
            receiver.close()
        if self.sender is not None:
            self.sender.close()


__all__ = ["OscBridge", "OscError", "OscReceiver", "OscSender", "parse_endpoint"]
