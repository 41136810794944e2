"""What the loop tells the outside about itself: the /status snapshot, the run's mode, the
``--stats`` summary and the overlay's HUD. Read-only views of the stages; nothing here steers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from installation.overlay import Hud
from installation.report import RuntimeStatus
from installation.telemetry import STAGES

if TYPE_CHECKING:
    from installation.runtime import Runtime


def status(runtime: Runtime) -> RuntimeStatus:
    """A cheap snapshot for /status replies and health checks."""
    telemetry = runtime.telemetry
    return RuntimeStatus(
        fps=telemetry.recent_fps,
        latency_ms=telemetry.recent_ms("latency"),
        scene=runtime.stages.scenes.scene.name,
        presence=runtime.body.pose_presence,
        uptime_s=runtime.clock.wall() - runtime.started_wall,
        frames=telemetry.rendered_frames,
        errors={**telemetry.errors, **perception_counters(runtime)},
        state=mode(runtime),
    )


def mode(runtime: Runtime) -> str:
    """What the piece is doing, for the staff page and the health file: "asleep" (closed or put
    to sleep), "attract" (nobody there, camera silent), "fallback" (a model or a scene failed and
    another stands in) or "running"."""
    if runtime.director.asleep:
        return "asleep"
    if runtime.director.attracting:
        return "attract"
    scenes = runtime.stages.scenes
    if scenes.on_fallback or any(host.fallback_reason for host in scenes.generators.hosts()):
        return "fallback"
    return "running"


def perception_counters(runtime: Runtime) -> dict[str, int]:
    """Perception's counts of what it threw away (hands on another body's wrist, poses that jumped
    to another body, ghosts...), shown with the errors; none from a stand-in without any."""
    counters = getattr(runtime.stages.perception, "counters", None)  # optional: test stand-ins lack it
    return counters() if counters is not None else {}


def dropped_frames(runtime: Runtime) -> int:
    """Camera frames never perceived: dropped by the source (live) or by perception (busy)."""
    return int(getattr(runtime.stages.source, "dropped", 0)) + int(runtime.stages.perception.dropped)


def summary(runtime: Runtime) -> dict:
    """The run's statistics as a JSON-ready dict (the ``--stats`` file)."""
    stages = runtime.stages
    source, perception = stages.source, stages.perception
    stats = runtime.telemetry.summary(dropped_frames(runtime))
    errors = stats["errors"]
    errors.setdefault("perception", perception.errors)
    errors["perception_restarts"] = perception.restarts
    errors.update(perception_counters(runtime))
    if stages.gestures is not None:
        errors["gestures"] = stages.gestures.errors
    hosts = stages.scenes.generators.hosts()
    errors.setdefault("generator_nan_frames", sum(host.nan_frames for host in hosts))
    stats["reused_frames"] = sum(host.reused_frames for host in hosts)
    if stages.quality is not None:
        stats["adaptive_resolution"] = {"final": stages.quality.resolution, "changes": stages.quality.changes}
    reasons = [host.fallback_reason for host in hosts if host.fallback_reason is not None]
    errors["generator_fallback"] = len(reasons)  # every model's generator, not only the configured one
    stats["generator_fallback_reason"] = "; ".join(reasons) if reasons else None
    errors.setdefault("skipped_images", int(getattr(source, "skipped", 0)))  # image folders skip unreadable files
    if stages.recorder is not None:
        errors["recording_failures"] = stages.recorder.failures
    if stages.painter is not None:
        painter = stages.painter
        stats["painting"] = {"paintings": painter.paintings, "style": painter.style, "size": painter.size}
        errors["painting"] = painter.errors
    stats["schedule"] = "lockstep" if runtime.lockstep else "live"
    stats["source"] = source.description
    video_out = getattr(stages.display, "stats", None)  # video out: per target sent, dropped, errors
    if video_out is not None:
        stats["video_out"] = video_out()
    return stats


def hud(runtime: Runtime) -> Hud:
    """The overlay: the camera picture, the skeleton, rates and stage times."""
    stages, telemetry = runtime.stages, runtime.telemetry
    venue = stages.venue
    frame = runtime.last_frame
    return Hud(
        camera_bgr=frame.image_bgr if frame is not None else None,
        body=runtime.body,
        fps=telemetry.recent_fps,
        latency_ms=telemetry.recent_ms("latency"),
        stage_ms={name: telemetry.recent_ms(name) for name in STAGES},
        source=stages.source.description,
        zones=venue.zones if venue is not None else (),
        audience=runtime.audience,
        to_camera=venue.venue.screen.to_camera if venue is not None and venue.venue.screen is not None else None,
    )
