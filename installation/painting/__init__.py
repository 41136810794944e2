"""The painting stage: neural style transfer of the picture, steady along the flow.

``build_painter`` makes the stage from ``[paint]``; ``Painter`` (painter.py) is the stage,
``StyleLibrary`` (styles.py) names the styles, ``FlowCarry`` (steady.py) keeps the texture still.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

from installation.config import PROJECT_ROOT, PaintConfig
from installation.painting.painter import STYLE_POSITION, Painter
from installation.painting.styles import StyleError, StyleLibrary
from models.style_networks import StyleNetworks, StyleNetworksUnavailable

log = logging.getLogger(__name__)

__all__ = ["STYLE_POSITION", "Painter", "StyleError", "StyleLibrary", "build_painter", "check_styles", "shared_networks"]


def _folders(config: PaintConfig) -> tuple[Path, ...]:
    if not config.folder:
        return ()
    folder = Path(config.folder).expanduser()
    return (folder if folder.is_absolute() else PROJECT_ROOT / folder,)


def check_styles(config: PaintConfig) -> None:
    """Fail before any work (StyleError, one line) on a style that names no usable picture."""
    library = StyleLibrary(None, _folders(config))  # checking needs no network
    for spec in (config.style, *config.styles):
        library.check(spec)


@functools.lru_cache(maxsize=4)
def shared_networks(threads: int, device: str) -> StyleNetworks:
    """The style networks for these settings, loaded once per process (they hold no state after
    loading): a kiosk's warm standby loads them before its turn. Raises StyleNetworksUnavailable."""
    return StyleNetworks(threads, device)


def build_painter(config: PaintConfig, aspect: float | None, threaded: bool,
                  screen_side: int | None = None, cores: frozenset[int] | None = None) -> Painter | None:
    """The painting stage, or None when painting is off in config, or its networks can't be loaded
    (said in one log line: the show goes on unpainted). Raises StyleError for a bad style."""
    if not config.enabled:
        return None
    check_styles(config)
    try:
        networks = shared_networks(config.threads, config.device)
    except StyleNetworksUnavailable as error:
        log.warning("painting is off: %s", error)
        return None
    painter = Painter(config, StyleLibrary(networks, _folders(config)), aspect, threaded, screen_side, cores)
    log.info("painting in %s on the %s, at most %d px, %s", config.style, networks.device, painter.size,
             "on its own thread" if threaded else f"every {config.replay_every} frame(s)")
    return painter
