"""``/metrics`` in Prometheus's text format, for a venue's monitoring (Prometheus, Grafana).

A collector reads the source's newest snapshot when scraped: nothing is counted per frame for
it, and a scrape never touches the loop. Each server has its own registry (not the library's
global one), so two servers in one process, or in tests, never mix their figures. The metric
names are listed for Grafana in docs/kiosk.md; keep the two in step.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from installation.staff.status import STATES, StatusSource

SHOWING = ("running", "attract", "asleep", "fallback")  # states in which a runtime is up


class SnapshotCollector(Collector):
    """Turns one snapshot (installation.staff.status.EMPTY_SNAPSHOT's keys) into metric families."""

    def __init__(self, source: StatusSource, extra: Callable[[], dict[str, int]] = dict) -> None:
        """``extra``: the server's own counters (refused log-ins, rejected requests)."""
        self.source, self.extra = source, extra

    def collect(self) -> Iterator[Metric]:
        s = self.source.snapshot()
        yield _gauge("installation_up", "1 while a runtime shows frames (any state but starting, restarting, given up)",
                     float(s["state"] in SHOWING))
        state = GaugeMetricFamily("installation_state", "1 for the piece's current state", labels=["state"])
        for name in STATES:
            state.add_metric([name], float(s["state"] == name))
        yield state
        yield _gauge("installation_uptime_seconds", "seconds since the runtime showing now started", s["uptime_s"])
        yield _counter("installation_restarts", "restarts of the runtime by the kiosk supervisor", s["restarts"])
        yield _gauge("installation_fps", "rendered frames a second over the last 10 s", s["fps"])
        latency = GaugeMetricFamily("installation_latency_milliseconds",
                                    "end-to-end latency, camera capture to picture shown, newest 300 frames",
                                    labels=["quantile"])
        for quantile, key in (("0.5", "p50"), ("0.95", "p95")):
            latency.add_metric([quantile], s["latency_ms"].get(key, 0.0))
        yield latency
        yield _gauge("installation_perception_milliseconds", "MediaPipe time a frame, median of the newest 300",
                     s["perception_ms"])
        stages = GaugeMetricFamily("installation_stage_milliseconds", "newest time of each stage of the loop",
                                   labels=["stage"])
        for name, value in s["stage_ms"].items():
            stages.add_metric([name], value)
        yield stages
        yield _counter("installation_frames", "frames rendered by the runtime showing now", s["frames"])
        yield _counter("installation_frames_dropped", "camera frames never perceived (newer ones came first)",
                       s["dropped_frames"])
        errors = CounterMetricFamily("installation_errors", "the runtime's error counters, by kind", labels=["kind"])
        for kind, count in sorted(s["errors"].items()):
            errors.add_metric([kind], count)
        yield errors
        yield _gauge("installation_presence", "how surely someone is there, 0..1", s["presence"])
        yield _gauge("installation_visitors", "people seen now", s["visitors"])
        info = GaugeMetricFamily("installation_info", "what is showing (always 1)", labels=["scene", "model", "style"])
        info.add_metric([s["scene"], s["model"] or "", s["style"] or ""], 1.0)
        yield info
        staff = CounterMetricFamily("installation_staff_refused", "staff page requests refused, by reason",
                                    labels=["reason"])
        for reason, count in sorted(self.extra().items()):
            staff.add_metric([reason], count)
        yield staff


def metrics_text(registry: CollectorRegistry) -> bytes:
    """The registry's metrics in the text format (``text/plain; version=0.0.4``)."""
    return generate_latest(registry)


def registry_for(source: StatusSource, extra: Callable[[], dict[str, int]] = dict) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(source, extra))
    return registry


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=float(value))


def _counter(name: str, documentation: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, documentation, value=float(value))
