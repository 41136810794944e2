"""Builds the stages from the configuration and runs the loop: what ``python main.py run`` does."""

from __future__ import annotations

import dataclasses
import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from calibration.venue import Venue
from installation.affinity import CorePlan, core_plan
from installation.audience import AudienceConfig, CrowdPerceiver, DetectorConfig, PrimaryConfig
from installation.clock import FixedStepClock, MonotonicClock
from installation.config import Config, load_config, override
from installation.decisions import DecisionProbe
from installation.display import Display, DisplayError, HeadlessDisplay, WindowDisplay, open_sink
from installation.errors import InstallationError, SourceError
from installation.features import FeatureExtractor
from installation.generator import GeneratorHost
from installation.generator_pool import GeneratorPool
from installation.gestures import GestureRecognizer
from installation.gestures.live import LiveTeacher
from installation.links import RunLinks, open_links
from installation.load_scheduler import LoadScheduler, free_cores, thread_plan, with_threads
from installation.native_logs import quiet_mediapipe
from installation.osc import OscBridge
from installation.osc.policy import ReceiverPolicy
from installation.painting import Painter, build_painter, check_styles, shared_networks
from installation.perceiver import Perceiver
from installation.perception import FramePerceiver, PerceptionSchedule, build_perception
from installation.perception_cache import cache_folder, cached, perception_salt
from installation.preflight import check_run, write_stats
from installation.quality import AdaptiveQuality
from installation.recorder import SessionRecorder
from installation.recovery import RecoveryPolicy
from installation.run_stats import RunStats
from installation.runtime import Runtime
from installation.scene_slot import SceneSlot
from installation.schedule import Playlist
from installation.show_plan import ShowPlan, plan_show, project_path
from installation.smoothing import BodySmoother
from installation.sources import (
    DEMO_CLIP,
    RealtimePlayback,
    Source,
    SourceSpec,
    is_live,
    open_source,
    parse_source_spec,
    spec_from_config,
)
from installation.stages import Stages
from installation.venue_stage import UndistortedSource, VenueStage, camera_zones
from models.style_networks import StyleNetworksUnavailable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunOptions:
    """The command line's choices; None means "as the configuration says"."""

    config_path: Path | None = None
    source: str | None = None
    loop: bool | None = None
    headless: bool = False
    realtime: bool = False  # headless but paced like a live run (benchmarks, soak tests)
    frames: int | None = None
    out: str | None = None
    stats: Path | None = None
    trace: Path | None = None
    fullscreen: bool | None = None
    overlay: bool | None = None
    schedule: str | None = None
    scene: str | None = None
    style: str | None = None  # the painting's style, overrides paint.style
    paint: bool | None = None  # painting on or off, overrides paint.enabled
    size: tuple[int, int] | None = None
    model: str | None = None  # generator name or file, overrides generator.model
    osc_in: str | None = None  # [HOST:]PORT, overrides osc.listen
    osc_out: tuple[str, ...] = ()  # HOST:PORT targets, override osc.targets
    video_out: tuple[str, ...] = ()  # more video_out.targets (virtualcam, ndi:NAME)
    health: Path | None = None  # JSON health file, rewritten every few seconds
    heartbeat: Path | None = None  # rewritten every tick (the kiosk supervisor's hang watch)
    wait_for_turn: Callable[[], object] | None = None  # a kiosk standby waits here (installation.lifeline)
    dev: bool = False  # development mode: saved scene files reload without a restart
    perception_cache: str | None = None  # replays' observations kept here; "" = off, None = $INSTALLATION_PERCEPTION_CACHE


def configure(options: RunOptions) -> Config:
    """The configuration file with the command line's overrides applied and validated."""
    config = load_config(options.config_path)
    if options.loop is not None:
        config = override(config, "source", loop=options.loop)
    if options.schedule is not None:
        config = override(config, "perception", schedule=options.schedule)
    if options.scene is not None:  # with a playlist: where it starts, if it is an entry (build_stages)
        config = override(config, "scene", name=options.scene)
    if options.fullscreen is not None:
        config = override(config, "display", fullscreen=options.fullscreen)
    if options.overlay is not None:
        config = override(config, "display", overlay=options.overlay)
    if options.model is not None:
        config = override(config, "generator", model=options.model)
    if options.dev:
        config = override(config, "scene", reload=True)
    if options.style is not None:
        config = override(config, "paint", style=options.style)
    if options.paint is not None:
        config = override(config, "paint", enabled=options.paint)
    cache = cache_folder(options.perception_cache)
    if cache is not None and options.headless and not options.realtime:  # replays only: a live run never reads it
        config = override(config, "perception", cache=str(cache))
    if options.size is not None:
        section = "headless" if options.headless else "display"
        config = override(config, section, width=options.size[0], height=options.size[1])
    return drawn_no_larger_than_shown(config, (config.headless.width, config.headless.height)) if options.headless else config


def drawn_no_larger_than_shown(config: Config, size: tuple[int, int]) -> Config:
    """A headless run's generator draws no larger than the output's long side: a square picture
    never covers more than that, so more pixels only cost time (a 160 x 90 preview or test replay
    draws the CPPN at 160, not 256). Models of a fixed size are not changed by it."""
    longest = max(size)
    if config.generator.resolution <= longest:
        return config
    return override(config, "generator", resolution=longest, min_resolution=min(config.generator.min_resolution, longest))


def run(options: RunOptions) -> RunStats:
    """Build everything, run the loop, write the stats file; returns the stats."""
    if options.out is not None and not options.headless:
        raise InstallationError("--out needs --headless (the window shows the frames instead)")
    config = configure(options)
    if config.load.threads == "auto" and (options.realtime or not options.headless):  # replays keep theirs
        config = with_threads(config, thread_plan(free_cores()))  # torch and onnxruntime share the free cores
    check_run(options, config, project_path(config.record.folder))  # paths and names, before any work
    ReceiverPolicy.from_config(config.osc)  # ... and who may send OSC what (osc.allow, osc.privileged)
    plan = plan_show(config)  # ... and scenes, playlist, hours, venue, scene parameters: parsed once
    if config.paint.enabled:
        check_styles(config.paint)  # ... or a style image that is missing, unreadable or too small
    generator = GeneratorHost(config.generator)
    if options.wait_for_turn is not None:  # a kiosk's warm standby: the slow part done, camera, window, port not taken
        _preload(config, generator)
        options.wait_for_turn()
    live_clock = MonotonicClock()  # one origin for camera timestamps and the loop's time
    source, replayable = _open_source(config, options, live_clock)
    lockstep = options.headless and replayable and not options.realtime
    clock = FixedStepClock() if lockstep else live_clock
    if not lockstep and replayable:
        source = RealtimePlayback(source, live_clock)
    stages = _build_all(config, options, plan, source, generator, lockstep)
    log.info("running %s on %s (%s, %s perception)", stages.scenes.scene.name, source.description,
             "replay" if lockstep else "live", config.perception.schedule)
    runtime = Runtime(stages, clock, lockstep, overlay=config.display.overlay)
    if config.record.enabled:
        stages.recorder.start()
    if config.staff.listen and options.wait_for_turn is None:  # a kiosk's child: its supervisor serves the page
        from installation.staff import serve_runtime  # aiohttp is imported only when the page is on

        serve_runtime(config, runtime)  # stops when the loop closes its listeners
    osc = stages.links.osc
    try:
        stats = _run_stats(runtime.run(max_frames=options.frames), osc, config)
    except Exception as error:  # the statistics so far are kept, with what ended the run
        write_stats(options.stats, _run_stats(runtime.summary(), osc, config), ended_by=error)
        raise
    write_stats(options.stats, stats)
    return stats


def _build_all(config: Config, options: RunOptions, plan: ShowPlan, source: Source, generator: GeneratorHost,
               lockstep: bool) -> Stages:
    """The links (OSC, MIDI, Link...), the display and the stages around the open source; on any
    failure, whatever was opened is closed again."""
    venue = plan.venue
    slots = venue.people.max_people if venue is not None and venue.people.enabled else 0
    try:
        links = open_links(config, options.osc_in, options.osc_out, options.trace, options.health,
                           options.heartbeat, lockstep, slots, project_path)
    except BaseException:
        source.close()
        raise
    try:
        return build_stages(config, source, _open_display(config, options, lockstep), plan, generator, lockstep, links)
    except BaseException:
        links.close()
        source.close()
        raise


def _run_stats(stats: RunStats, osc: OscBridge | None, config: Config) -> RunStats:
    """The loop's statistics with what only the command holds: the OSC bridge's counters (listed
    with the errors: a flood shows there) and the configuration the run had."""
    errors = {**stats.errors, **osc.counters()} if osc is not None else stats.errors
    return dataclasses.replace(stats, errors=errors, perception_schedule=config.perception.schedule, config=config)


def _preload(config: Config, generator: GeneratorHost) -> None:
    """What a kiosk standby does before its turn, beyond loading the model: warm it, import
    MediaPipe (perception imports it when built, 0.6 s) and load the painting's networks (0.6 s)."""
    generator.warm_up()
    quiet_mediapipe()
    importlib.import_module("mediapipe")
    if config.paint.enabled:
        try:
            shared_networks(config.paint.threads, config.paint.device)
        except StyleNetworksUnavailable as error:  # build_painter warns once when the stages are built
            log.debug("painting networks not preloaded: %s", error)


def build_stages(config: Config, source: Source, display: Display, plan: ShowPlan | None = None,
                 generator: GeneratorHost | None = None, lockstep: bool = True, links: RunLinks | None = None) -> Stages:
    """The loop's stages around an open source and display, finished: every listener in its
    declared place. ``plan`` (the parsed scenes, playlist, hours and venue) and the generator are
    made from the configuration unless given; ``links`` (OSC, MIDI, Link...) default to none.
    ``lockstep``: a replay, which paints inline to stay reproducible; live runs paint as
    ``paint.schedule`` says."""
    plan = plan if plan is not None else plan_show(config)
    links = links if links is not None else RunLinks()
    generators = GeneratorPool(config.generator, generator)
    playlist = Playlist(plan.playlist)
    if plan.scene.name in playlist.names():
        playlist.index = playlist.names().index(plan.scene.name)
    show_scenes = [plan.scene] + [plan.library.load(name) for name in
                                  dict.fromkeys([*playlist.names(), config.scene.attract, config.scene.fallback])]
    for each in show_scenes[1:]:
        generators.host_for(each.MODEL)  # load every model the show needs now, not mid-show
    if not config.perception.faces and any(each.NEEDS_FACES for each in show_scenes):
        log.info("reading faces (MediaPipe FaceMesh): a scene of the show answers the visitor's face")
        config = override(config, "perception", faces=True)
    slot = SceneSlot(plan.scene, generators, config.generator.seed, plan.library, config.scene.crossfade_s,
                     config.scene.reload, plan.scene_params, config.scene.fallback, links.errors)
    venue = plan.venue
    if venue is not None and venue.lens is not None:
        source = UndistortedSource(source, venue)
    width, height = source.frame_size
    threaded = config.perception.schedule == "threaded"
    cores = core_plan(config.perception.pin_cores) if threaded else None
    if venue is not None and venue.screen is not None:  # landmarks arrive in screen coordinates
        width, height = config.display.width, config.display.height
    painter = _painter(config, display, lockstep, cores.loop if cores is not None else None)
    recorder = SessionRecorder(project_path(config.record.folder), config, config.record.segment_s, source.fps,
                               osc_out=links.osc_out, live_decisions=DecisionProbe(generators, painter))
    gestures = (GestureRecognizer.from_config(config.gestures, width / height, config.source.mirror)
                if config.gestures.enabled else None)
    teacher = (LiveTeacher(config.gestures, gestures, project_path(config.gestures.folder),
                           source.frame_size[0] / source.frame_size[1], config.source.mirror)
               if gestures is not None else None)
    # The listeners' order: the teacher, the links told before the recorder (it logs what OSC
    # sent for the frame), the recorder, then the links closed last (RunLinks.front and back).
    listeners = [*([teacher] if teacher is not None else []), *links.front(), recorder, *links.back()]
    return Stages(
        source=source,
        perception=_perception(config, venue, cores, lockstep),
        smoother=BodySmoother(config.smoothing),
        features=FeatureExtractor(image_aspect=width / height),
        scenes=slot,
        generator=generators.default,
        display=display,
        listeners=listeners,
        recorder=recorder,
        recovery=RecoveryPolicy(config.scene.fallback, config.scene.attract, config.source.stall_s,
                                attract_after_s=config.scene.attract_after_s,
                                next_gesture=config.scene.next_gesture,
                                previous_gesture=config.scene.previous_gesture),
        gestures=gestures,
        playlist=playlist,
        hours=plan.hours,
        quality=_adaptive_quality(config, generators.default),
        venue=VenueStage(venue) if venue is not None else None,
        loop_cores=cores.loop if cores is not None else None,
        painter=painter,
        screen_aspect=_screen_aspect(config, display),
        scene_switch_rate=config.osc.scene_switch_rate,
        links=links,
        teacher=teacher,
        load=(LoadScheduler.from_config(config.load, config.display.target_fps, free_cores(),
                                        len(cores.perception) if cores is not None else None)
              if config.load.enabled and not lockstep else None),
    )


def _screen_size(config: Config, display: Display) -> tuple[int, int]:
    return getattr(getattr(display, "compositor", None), "size", (config.display.width, config.display.height))


def _screen_aspect(config: Config, display: Display) -> float | None:
    """The screen's width / height when the display crops pictures to fill it ("cover"), else None."""
    size = _screen_size(config, display)
    return size[0] / size[1] if config.display.fit == "cover" else None


def _painter(config: Config, display: Display, lockstep: bool, cores: frozenset[int] | None) -> Painter | None:
    """The painting stage, painting pictures cropped to the screen's shape when the display covers it."""
    return build_painter(config.paint, _screen_aspect(config, display),
                         threaded=not lockstep and config.paint.schedule == "threaded",
                         screen_side=max(_screen_size(config, display)), cores=cores)


def _perception(config: Config, venue: Venue | None, cores: CorePlan | None, lockstep: bool) -> PerceptionSchedule:
    """One visitor's perception, or the audience stage when the venue follows several; a replay's
    read from and kept in ``perception.cache`` when that names a folder."""
    make: Callable[[], FramePerceiver] = lambda: Perceiver(config.perception)  # noqa: E731
    salt = ""
    if venue is not None and venue.people.enabled:
        audience = AudienceConfig(detector=DetectorConfig(max_people=venue.people.max_people),
                                  primary=PrimaryConfig(policy=venue.people.primary))
        zones = camera_zones(venue)
        make, salt = (lambda: CrowdPerceiver(config.perception, audience, zones)), repr((audience, zones))
    if lockstep and config.perception.cache:
        make = cached(make, Path(config.perception.cache), perception_salt(config.perception, salt))
    return build_perception(config.perception, make, cores.perception if cores is not None else None)


def _adaptive_quality(config: Config, generator: GeneratorHost) -> AdaptiveQuality | None:
    if not (config.generator.adaptive and generator.adjustable):
        return None
    return AdaptiveQuality(config.display.target_fps, generator.resolution, config.generator.min_resolution,
                           max(config.generator.resolution, generator.resolution))


def _open_source(config: Config, options: RunOptions, clock: MonotonicClock) -> tuple[Source, bool]:
    """The source, and whether it is a recording (which can be replayed in lockstep).

    With no ``--source``, the configured camera; if it can't be opened and the configuration
    allows it, say so in one line and play the bundled demo clip in a loop instead.
    """
    spec = parse_source_spec(options.source) if options.source else spec_from_config(config.source)
    try:
        return open_source(spec, config.source, clock), not is_live(spec.kind)
    except SourceError as error:
        if spec.kind != "camera" or options.source or not config.source.fallback_to_demo:
            raise
        log.warning("%s; playing the bundled demo clip instead", error)
    demo = SourceSpec("video", str(DEMO_CLIP))
    looping = dataclasses.replace(config.source, loop=True)
    return open_source(demo, looping, clock), True


def _open_display(config: Config, options: RunOptions, lockstep: bool) -> Display:
    """The window (or headless sink), or the venue's several outputs, with video out around it."""
    from installation.outputs.setup import open_outputs  # pyvirtualcam and NDI load only when asked for

    return open_outputs(config, options, lockstep, _open_main_display)


def _open_main_display(config: Config, options: RunOptions, lockstep: bool) -> Display:
    size = options.size or (config.headless.width, config.headless.height)
    if options.headless:
        sink = open_sink(options.out, size, config.headless.video_fps)
        return HeadlessDisplay(size, config.display.fit, sink, None if lockstep else config.display.target_fps)
    try:
        return WindowDisplay(config.display, config.display.fullscreen)
    except DisplayError as error:
        log.warning("%s; running headless without output", error)
        return HeadlessDisplay(size, config.display.fit, open_sink(None, size, 1.0), config.display.target_fps)
