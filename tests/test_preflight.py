"""Bad input is refused before the work, in one line: output paths that cannot be written, an
explicit model that does not exist, an export with no end, an ``osc.allow`` entry that is no
address, a ``scene.folders`` entry that is no folder. And the statistics are written even when
the run ends in an error."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from installation import runtime as runtime_module
from installation.app import RunOptions, run
from installation.config import config_from_dict
from installation.errors import ConfigError, InstallationError, ModelError, SceneError
from installation.preflight import (
    check_model_exists,
    check_out,
    check_output_file,
    check_output_folder,
    check_run,
    write_stats,
)
from installation.replay import ReplayOptions, replay_session
from installation.run_stats import Percentiles, RunStats
from installation.show_plan import scene_library
from installation.telemetry import Telemetry

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# a folder nobody may create files in, root included (permissions do not stop root)
UNWRITABLE = Path("/proc")
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /proc as an unwritable folder")


# output files and folders
def test_an_output_file_in_a_missing_folder_is_refused(tmp_path):
    with pytest.raises(InstallationError, match=r"cannot write --stats .*: the folder .*missing does not exist"):
        check_output_file(tmp_path / "missing" / "stats.json", "--stats")


def test_an_output_file_that_is_a_folder_is_refused(tmp_path):
    with pytest.raises(InstallationError, match="it is a folder"):
        check_output_file(tmp_path, "--trace")


@linux_only
def test_an_output_file_in_an_unwritable_folder_is_refused():
    with pytest.raises(InstallationError, match=r"^cannot write --stats /proc/stats.json: "):
        check_output_file(UNWRITABLE / "stats.json", "--stats")


def test_checking_an_existing_file_leaves_it_as_it_was(tmp_path):
    existing = tmp_path / "stats.json"
    existing.write_text("kept")
    check_output_file(existing, "--stats")
    assert existing.read_text() == "kept"
    assert sorted(tmp_path.iterdir()) == [existing]  # the probe left nothing behind


def test_an_output_folder_may_be_missing_but_not_under_a_file(tmp_path):
    check_output_folder(tmp_path / "new" / "deeper", "--out")  # made when the run writes
    assert not (tmp_path / "new").exists()  # ... not by the check
    (tmp_path / "a_file").write_text("")
    with pytest.raises(InstallationError, match="is a file, not a folder"):
        check_output_folder(tmp_path / "a_file" / "frames", "record.folder")


@linux_only
def test_out_is_a_video_file_or_a_folder_and_either_must_be_writable(tmp_path):
    check_out(str(tmp_path / "piece.mp4"))
    check_out(str(tmp_path / "pngs"))
    with pytest.raises(InstallationError, match="cannot write --out /proc/frames"):
        check_out("/proc/frames")


# what run is asked to do
def options(**values) -> RunOptions:
    return RunOptions(headless=True, **values)


@pytest.mark.parametrize("source, loop", [("camera", None), ("camera:2", None), ("clip.mp4", True)])
def test_an_export_from_an_endless_source_needs_frames(tmp_path, source, loop):
    config = config_from_dict({"source": {"loop": bool(loop)}})
    with pytest.raises(InstallationError, match="with an endless source .* needs --frames N"):
        check_run(options(source=source, out=str(tmp_path / "pngs"), loop=loop), config, tmp_path)
    check_run(options(source=source, out=str(tmp_path / "pngs"), frames=300), config, tmp_path)


def test_an_export_of_a_clip_ends_with_the_clip(tmp_path):
    check_run(options(source="clip.mp4", out=str(tmp_path / "pngs")), config_from_dict({}), tmp_path)


@linux_only
def test_an_unwritable_record_folder_is_refused_when_recording_is_on(tmp_path):
    recording = config_from_dict({"record": {"enabled": True}})
    with pytest.raises(InstallationError, match="cannot write record.folder /proc/sessions"):
        check_run(options(source="clip.mp4"), recording, UNWRITABLE / "sessions")
    check_run(options(source="clip.mp4"), config_from_dict({}), UNWRITABLE / "sessions")  # off: not checked


def test_an_explicit_model_must_exist(tmp_path):
    check_model_exists("cppn")
    with pytest.raises(ModelError, match=r"--model cpnn: no such model \(known: cppn, "):
        check_model_exists("cpnn")
    with pytest.raises(ModelError, match="file not found"):
        check_model_exists(str(tmp_path / "missing.safetensors"))


# the statistics, whichever way the run ends
def early_stats(rendered_frames: int = 0) -> RunStats:
    """The statistics of a run that broke early: nothing timed yet."""
    return RunStats(frames=rendered_frames, rendered_frames=rendered_frames, frames_with_pose=0, frames_with_hands=0,
                    dropped_frames=0, errors={}, render_fps=0.0, latency_ms=Percentiles.of(()), stages_ms={},
                    digests=Telemetry().digests(), reused_frames=0, schedule="lockstep", source="test")


def test_stats_note_the_error_the_run_ended_with(tmp_path):
    path = tmp_path / "stats.json"
    stats = early_stats(rendered_frames=3)
    write_stats(path, stats, ended_by=RuntimeError("the generator broke"))
    saved = json.loads(path.read_text())
    assert saved == {**stats.to_json(), "ended_by": "RuntimeError: the generator broke"}
    assert saved["rendered_frames"] == 3 and list(saved)[-1] == "ended_by"


def test_a_stats_file_that_cannot_be_written_does_not_hide_the_runs_own_error(tmp_path, caplog):
    path = tmp_path / "gone" / "stats.json"
    write_stats(path, early_stats(), ended_by=RuntimeError("first"))  # logged, not raised
    assert "cannot write the statistics" in caplog.text
    with pytest.raises(InstallationError, match="cannot write the statistics"):
        write_stats(path, early_stats())


def test_the_statistics_are_written_when_the_run_fails_mid_way(media, tmp_path, monkeypatch):
    step = runtime_module.Runtime.step

    def failing_step(self):
        if self.telemetry.rendered_frames == 4:
            raise RuntimeError("a stage broke")
        step(self)

    monkeypatch.setattr(runtime_module.Runtime, "step", failing_step)
    stats_path = tmp_path / "stats.json"
    config = tmp_path / "config.toml"
    config.write_text('[osc]\nlisten = ""\n[paint]\nenabled = false\n')
    with pytest.raises(RuntimeError, match="a stage broke"):
        run(RunOptions(config_path=config, source=str(media / "video" / "intel_asl" / "yes.mkv"), headless=True,
                       frames=20, stats=stats_path))
    stats = json.loads(stats_path.read_text())
    assert stats["rendered_frames"] == 4 and stats["ended_by"] == "RuntimeError: a stage broke"


def test_a_replay_refuses_an_unwritable_output_before_replaying(tmp_path):
    session = tmp_path / "20260101-000000"
    session.mkdir()
    (session / "config.json").write_text("{}")
    (session / "observations.jsonl").write_text("")
    with pytest.raises(InstallationError, match="cannot write --stats"):
        replay_session(ReplayOptions(session, stats=tmp_path / "missing" / "stats.json", progress=False))
    with pytest.raises(InstallationError, match="cannot write --out"):
        replay_session(ReplayOptions(session, out=str(tmp_path / "missing" / "piece.mp4"), progress=False))


# configuration
@pytest.mark.parametrize("entry", ["not-an-ip", "192.168.1.300", "example.org"])
def test_osc_allow_entries_must_be_addresses_or_networks(entry):
    with pytest.raises(ConfigError, match=rf"osc.allow = .*: expected IP addresses or subnets.*{entry!r} is not one"):
        config_from_dict({"osc": {"allow": ["127.0.0.1", entry]}})


def test_osc_allow_takes_addresses_and_networks_of_both_families():
    allow = ["192.168.1.20", "192.168.1.0/24", "::1", "fd00::/8"]
    assert config_from_dict({"osc": {"allow": allow}}).osc.allow == tuple(allow)


def test_scene_folders_must_exist(tmp_path):
    scene_library(config_from_dict({"scene": {"folders": [str(tmp_path)]}}))
    missing = tmp_path / "my-scenes"
    with pytest.raises(SceneError, match=rf"scene.folders: {str(missing)!r} does not exist"):
        scene_library(config_from_dict({"scene": {"folders": [str(missing)]}}))


# the command line: one line on stderr, exit 2, before anything is loaded
def main_py(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, SDL_VIDEODRIVER="dummy")
    return subprocess.run([sys.executable, str(PROJECT_ROOT / "main.py"), *args], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("args, message", [
    (("--stats", "/nonexistent-folder/stats.json"), "error: cannot write --stats /nonexistent-folder/stats.json: "
                                                    "the folder /nonexistent-folder does not exist"),
    (("--model", "cpnn"), "error: --model cpnn: no such model"),
    (("--source", "camera", "--out", "pngs"), "error: --out pngs with an endless source (a camera) needs --frames N"),
])
def test_the_command_line_refuses_in_one_line_before_any_work(args, message):
    result = main_py("--headless", *args)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith(message), result.stderr
    assert "warmed up" not in result.stderr and "listening" not in result.stderr  # nothing was loaded or opened
