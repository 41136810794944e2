"""What the loop tells the outside about itself: the /status snapshot, the run's mode, the
``--stats`` summary (``RunStats``) and the overlay's HUD. Read-only views of the stages; nothing here steers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from installation.overlay import Hud
from installation.report import RuntimeStatus
from installation.run_stats import AdaptiveResolution, PaintingStats, RunStats
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


def summary(runtime: Runtime) -> RunStats:
    """The run's statistics (``RunStats.to_json``: the ``--stats`` file)."""
    stages, telemetry = runtime.stages, runtime.telemetry
    hosts = stages.scenes.generators.hosts()
    reasons = [host.fallback_reason for host in hosts if host.fallback_reason is not None]
    quality, painter = stages.quality, stages.painter
    video_out = getattr(stages.display, "stats", None)  # video out: per target sent, dropped, errors
    return RunStats(
        frames=telemetry.frames, rendered_frames=telemetry.rendered_frames, frames_with_pose=telemetry.frames_with_pose,
        frames_with_hands=telemetry.frames_with_hands, dropped_frames=dropped_frames(runtime),
        errors=errors(runtime, fallbacks=len(reasons)), render_fps=round(telemetry.render_fps, 3),
        latency_ms=telemetry.latency(), stages_ms=telemetry.stage_times(), digests=telemetry.digests(),
        reused_frames=sum(host.reused_frames for host in hosts),
        adaptive_resolution=AdaptiveResolution(quality.resolution, quality.changes) if quality is not None else None,
        generator_fallback_reason="; ".join(reasons) if reasons else None,
        painting=PaintingStats(painter.paintings, painter.style, painter.size) if painter is not None else None,
        schedule="lockstep" if runtime.lockstep else "live", source=stages.source.description,
        video_out=video_out() if video_out is not None else None,
    )


def errors(runtime: Runtime, fallbacks: int) -> dict[str, int]:
    """The telemetry's error counts (sorted), then the stages' own, in the order the file has always
    listed them. ``fallbacks``: the generators on a stand-in, every model's, not only the configured one."""
    stages = runtime.stages
    perception = stages.perception
    counts = dict(sorted(runtime.telemetry.errors.items()))
    counts.setdefault("perception", perception.errors)
    counts["perception_restarts"] = perception.restarts
    counts.update(perception_counters(runtime))
    if stages.gestures is not None:
        counts["gestures"] = stages.gestures.errors
    counts.setdefault("generator_nan_frames", sum(host.nan_frames for host in stages.scenes.generators.hosts()))
    counts["generator_fallback"] = fallbacks
    counts.setdefault("skipped_images", int(getattr(stages.source, "skipped", 0)))  # image folders skip unreadable files
    if stages.recorder is not None:
        counts["recording_failures"] = stages.recorder.failures
    if stages.painter is not None:
        counts["painting"] = stages.painter.errors
    return counts


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
