"""Stand-ins for a stage, where a test measures another one and this one must cost nothing."""

from __future__ import annotations


class NoPerception:
    """Perception that finds nobody, at no cost, and has no wake-up of its own (the loop then
    idles on its clock, which a test drives)."""

    dropped = errors = restarts = 0

    def submit(self, frame) -> None:
        pass

    def poll(self):
        return None

    def wait(self):
        return None

    def close(self) -> None:
        pass
