"""The command line as a person uses it: `python main.py` with no camera, and one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def main_py(*args: str, cwd: Path = PROJECT_ROOT) -> subprocess.CompletedProcess:
    env = dict(os.environ, SDL_VIDEODRIVER="dummy")
    return subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "main.py"), *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
    )


def test_no_camera_falls_back_to_the_demo_clip_and_runs(tmp_path):
    stats_path = tmp_path / "stats.json"
    result = main_py("--headless", "--frames", "15", "--stats", str(stats_path))
    assert result.returncode == 0, result.stderr
    fallback = [line for line in result.stderr.splitlines() if "demo clip" in line]
    assert len(fallback) == 1
    assert "camera 0 could not be opened" in fallback[0]
    assert "Traceback" not in result.stderr
    stats = json.loads(stats_path.read_text())
    assert stats["rendered_frames"] == 15
    assert stats["source"] == "video demo_asl.mp4"
    assert stats["frames_with_pose"] >= 14  # a real person is in the demo clip


def one_line_error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    return errors[0]


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[perception]\npose_model_complexity = 5\n", "perception.pose_model_complexity = 5: expected an integer in 1..1"),
        ("[display]\nwidht = 800\n", "unknown key 'display.widht'"),
        ("[generator]\nlatent_dim = 'big'\n", "generator.latent_dim = 'big': expected an integer"),
    ],
)
def test_bad_config_stops_start_up_with_one_message(tmp_path, toml, message):
    config = tmp_path / "bad.toml"
    config.write_text(toml)
    error = one_line_error(main_py("--config", str(config), "--headless", "--frames", "1"))
    assert message in error and "bad.toml" in error


def test_missing_video_file(tmp_path):
    error = one_line_error(main_py("--source", str(tmp_path / "missing.mp4"), "--headless"))
    assert error == f"error: video file not found: {tmp_path / 'missing.mp4'}"


def test_unreadable_video_file(tmp_path):
    broken = tmp_path / "broken.mkv"
    broken.write_bytes(os.urandom(4096))
    error = one_line_error(main_py("--source", str(broken), "--headless"))
    assert error == f"error: cannot read video: {broken} (OpenCV could not decode it)"


def test_unknown_camera():
    error = one_line_error(main_py("--source", "camera:57", "--headless", "--frames", "1"))
    assert error.startswith("error: camera 57 could not be opened")


def test_unknown_scene():
    error = one_line_error(main_py("--scene", "nope", "--headless", "--frames", "1"))
    assert "unknown scene 'nope'" in error


def test_bad_arguments_are_refused_by_the_parser():
    result = main_py("--frames", "zero")
    assert result.returncode == 2 and "expected a positive whole number" in result.stderr


def test_scenes_lists_every_scene_with_its_parameters():
    result = main_py("scenes")
    assert result.returncode == 0
    assert "body_latent:" in result.stdout and "dream_drift:" in result.stdout
    assert "gain = 1.2  (0..4)" in result.stdout


def test_models_lists_shipped_and_imported_generators(tmp_path):
    import torch

    class Tiny(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear = torch.nn.Linear(16, 3 * 8 * 8)  # 16: config.toml's generator.latent_dim

        def forward(self, z: torch.Tensor) -> torch.Tensor:
            return torch.tanh(self.linear(z)).reshape(-1, 3, 8, 8)

    exported = tmp_path / "tiny.pt"
    torch.jit.script(Tiny()).save(str(exported))
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not onnx")
    result = main_py("models", str(exported))
    assert result.returncode == 0, result.stderr
    assert "vae_art64: VAE 64px, latent 32" in result.stdout and "gan_art64: GAN 64px" in result.stdout
    assert f"{exported}: imported torchscript, 8x8px, latent 16" in result.stdout
    failed = main_py("models", str(broken))
    assert failed.returncode == 2 and f"{broken}: cannot be used" in failed.stdout


def test_staff_password_prints_a_hash_the_staff_page_accepts(monkeypatch, capsys):
    import getpass

    import main
    from installation.staff.auth import verify_secret

    answers = iter(["a long passphrase", "a long passphrase", "short", "a long passphrase", "another one"])
    monkeypatch.setattr(getpass, "getpass", lambda prompt="": next(answers))
    assert main.main(["staff-password"]) == 0
    printed = capsys.readouterr().out.strip()
    assert verify_secret("a long passphrase", printed) and not verify_secret("a long passphrasf", printed)
    assert main.main(["staff-password"]) == 2
    assert "at least 8 characters" in capsys.readouterr().err
    assert main.main(["staff-password"]) == 2
    assert "the two differ" in capsys.readouterr().err
