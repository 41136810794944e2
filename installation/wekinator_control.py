"""Wekinator's ``/wekinator/control/*`` set, carried out at a frame boundary by ``ShowControl``.

Wekinator's own control receiver (wekimini's ``OSCControlReceiver``) knows record / stop, DTW
record / stop, train / cancel, run / stop, delete examples (all, or one output's), per-output
run and record switches, input and output names and per-output input selection. The teaching
commands (record, stop, train, run) are ShowControl's own ``gesture_*`` handlers; this mixin
adds the rest. What has no counterpart here (per-output recording, input selection: one
mapping is fitted to every output from every feature) is acknowledged in the log and counted as
``wekinator_unsupported``, so a Wekinator patch driving the piece never sees an error for it.
"""

from __future__ import annotations

import logging
import shutil

from installation.feature_specs import FEATURE_SPECS
from installation.gestures.store import check_name

log = logging.getLogger(__name__)


class WekinatorCommands:
    """Mixed into ShowControl: uses its ``state``, ``errors`` and ``_teacher()``."""

    def _do_gesture_cancel_train(self, now: float) -> None:
        # training runs to completion inside one frame boundary: no training can be under way here
        log.info("Wekinator cancelTrain: no training is under way (training here finishes at once)")

    def _do_gesture_delete(self, now: float, output: int | None = None) -> None:
        """Delete every stored example, or those of gesture ``wek_gesture_<output>``; the running
        model stays until the next train, as in Wekinator."""
        store = self._teacher().store
        if output is None:
            for path in store.example_paths():
                path.unlink(missing_ok=True)
            log.info("deleted every stored gesture example in %s", store.examples_dir)
            return
        folder = store.examples_dir / check_name(f"wek_gesture_{int(output)}")
        if folder.is_dir():
            shutil.rmtree(folder)
        log.info("deleted the stored examples of wek_gesture_%d", int(output))

    def _do_wekinator_run_outputs(self, now: float, enable: bool, *outputs: int) -> None:
        """Per-output run switch (outputs numbered from 1): a switched-off output's value no longer
        reaches scenes, ``/mapped/*`` or ``SceneInputs.external``."""
        names = {self.output_name(int(n) - 1) for n in outputs}
        muted = self.state.muted_outputs - names if enable else self.state.muted_outputs | names
        self.state.muted_outputs = frozenset(muted)
        log.info("Wekinator outputs muted: %s", ", ".join(sorted(muted)) or "none")

    def _do_wekinator_output_names(self, now: float, *names: str) -> None:
        self.state.output_names = tuple(str(name) for name in names)
        teacher = self.teacher
        if teacher is not None and teacher.outputs:  # targets already sent keep their values, renamed
            values = list(teacher.outputs.values())
            teacher.outputs = {self.output_name(i): v for i, v in enumerate(values)}
        log.info("Wekinator output names: %s", ", ".join(self.state.output_names))

    def _do_wekinator_input_names(self, now: float, *names: str) -> None:
        if len(names) != len(FEATURE_SPECS):
            raise ValueError(f"setInputNames names {len(names)} inputs; /wek/inputs sends {len(FEATURE_SPECS)}")
        log.info("Wekinator input names received; inputs keep the feature names of docs/features.md")

    def _do_wekinator_unsupported(self, now: float, what: str, *values: int) -> None:
        self.errors["wekinator_unsupported"] += 1
        if self.errors["wekinator_unsupported"] <= 5:
            log.info("Wekinator %s %s acknowledged: every output is recorded and learns from every feature here",
                     what, list(values))

    def output_name(self, index: int) -> str:
        """The name of output ``index`` (from 0): Wekinator's setOutputNames, else ``out<index>``."""
        names = self.state.output_names
        return names[index] if 0 <= index < len(names) else f"out{index}"
