"""Opening the display stage with what the venue and the config ask for: the single window (or
headless sink), or the venue file's several outputs; then video out around either."""

from __future__ import annotations

import logging
from collections.abc import Callable

from installation.config import Config
from installation.display import DisplayError
from installation.outputs.layout import Layout
from installation.outputs.multi_display import LayoutDisplay, LayoutSinks, LayoutWindow
from installation.outputs.video_out import VideoOutDisplay, VideoOutError, open_sender, parse_target
from installation.venue_stage import load_configured_venue

log = logging.getLogger(__name__)


def open_outputs(config: Config, options, lockstep: bool, open_main: Callable) -> object:
    """The Display for this run. ``open_main(config, options, lockstep)`` opens the single window
    or headless sink. Raises VideoOutError (a bad or unavailable target) or DisplayError."""
    targets = [parse_target(text) for text in (*config.video_out.targets, *options.video_out)]  # fail before a window
    venue = load_configured_venue(config.calibration.venue)
    if venue is not None and venue.outputs:
        display = _open_layout(config, options, lockstep, Layout(venue.outputs))
    else:
        display = open_main(config, options, lockstep)
    if not targets:
        return display
    size = display.compositor.size
    fps = config.headless.video_fps if lockstep else config.display.target_fps
    senders = []
    try:
        for target in targets:
            senders.append(open_sender(target, size, fps, config.video_out.ndi_name))
    except VideoOutError:
        for sender in senders:
            sender.close()
        display.close()
        raise
    log.info("video out: %s at %dx%d, %g fps", ", ".join(s.name for s in senders), size[0], size[1], fps)
    return VideoOutDisplay(display, senders)


def _open_layout(config: Config, options, lockstep: bool, layout: Layout) -> LayoutDisplay:
    names = ", ".join(f"{spec.name} {spec.size[0]}x{spec.size[1]}" for spec in layout.specs)
    log.info("%d outputs (%s) from a %dx%d picture", len(layout.specs), names, *layout.picture_size)
    pace = None if lockstep else config.display.target_fps
    if options.headless:
        return LayoutDisplay(layout, config.display.fit, LayoutSinks(layout, options.out, config.headless.video_fps), pace)
    try:
        return LayoutDisplay(layout, config.display.fit, LayoutWindow(config.display, layout.window_size), pace)
    except DisplayError as error:
        log.warning("%s; running the outputs headless without a window", error)
        return LayoutDisplay(layout, config.display.fit, LayoutSinks(layout, None, 1.0), pace)
