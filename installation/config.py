"""``config.toml`` -> frozen dataclasses, validated before a window opens.

Every key is declared once below, with its type and its allowed range or choices; the loader
rejects unknown keys, wrong types and out-of-range values with one message naming the key, the
value and what was expected.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import tomllib
import types
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Union, get_args, get_origin, get_type_hints

from installation.errors import ConfigError
from installation.gestures.config import GesturesConfig
from installation.lights.config import LightsConfig
from installation.load_scheduler import LoadConfig

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG_PATH = PROJECT_ROOT / "config.toml"


def _range(low: float | None = None, high: float | None = None) -> dict[str, Any]:
    return {"range": (low, high)}


def _choices(*options: str) -> dict[str, Any]:
    return {"choices": options}


def _each(check: Callable[[str], bool], expected: str) -> dict[str, Any]:
    """An array whose every item must pass ``check``; ``expected`` says what they should be."""
    return {"each": (check, expected)}


def _is_network(text: str) -> bool:
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class SourceConfig:
    kind: str = field(default="camera", metadata=_choices("camera", "video", "images", "demo", "ndi"))
    camera: int | str = 0  # an index, or a device path such as /dev/video2
    path: str = ""  # a video file or a folder of images, for kind = video | images; the source's name for ndi
    ndi_extra_ips: str = ""  # kind = ndi: machines to ask directly where multicast discovery is blocked
    width: int = field(default=1280, metadata=_range(16, 7680))  # requested camera size
    height: int = field(default=720, metadata=_range(16, 4320))
    fps: float = field(default=30.0, metadata=_range(1, 240))  # requested camera rate
    images_fps: float = field(default=30.0, metadata=_range(0.1, 240))  # media clock of an image folder
    loop: bool = False
    mirror: bool = True  # flip left-right, so a visitor facing the camera sees a mirror
    fallback_to_demo: bool = True  # no camera -> say so and play the bundled demo clip
    stall_s: float = field(default=2.0, metadata=_range(0.1, 600.0))  # no frame this long -> attract scene


@dataclass(frozen=True)
class PerceptionConfig:
    schedule: str = field(default="threaded", metadata=_choices("inline", "threaded"))
    # 1 only: mediapipe 0.10.21 ships the full pose model; 0 (lite) and 2 (heavy) would be downloaded
    # at run time, which an offline installation cannot do
    pose_model_complexity: int = field(default=1, metadata=_range(1, 1))
    hands: bool = True
    max_hands: int = field(default=2, metadata=_range(1, 2))
    hand_model_complexity: int = field(default=1, metadata=_range(0, 1))
    hand_regions: str = field(default="pose", metadata=_choices("pose", "palm_detector"))  # where hands are looked for
    hand_visibility: float = field(default=0.5, metadata=_range(0.0, 1.0))  # pose regions: least visibility of a hand
    hand_refresh_frames: int = field(default=10, metadata=_range(1, 30))  # pose regions: hand model at least every N frames
    hand_refresh_change: float = field(default=4.0, metadata=_range(0.0, 100.0))  # ... sooner once the hand changed shape this much (%)
    hand_fast_motion: float = field(default=1.5, metadata=_range(0.0, 100.0))  # ... or its wrist moved this much; 0 = off
    min_detection_confidence: float = field(default=0.5, metadata=_range(0.0, 1.0))
    min_tracking_confidence: float = field(default=0.5, metadata=_range(0.0, 1.0))
    input_width: int = field(default=640, metadata=_range(0, 4096))  # 0 = the camera's own size
    hang_timeout_s: float = field(default=5.0, metadata=_range(0.5, 600.0))  # threaded: restart a hung worker
    restart_after_errors: int = field(default=10, metadata=_range(1, 10_000))  # threaded: failures in a row
    pin_cores: bool = True  # threaded (Linux, 2+ cores): the loop and MediaPipe on separate cores (installation/affinity.py)
    # threaded: an older waiting frame waits for the next; 0 = off
    max_frame_age_ms: float = field(default=20.0, metadata=_range(0.0, 1000.0))
    faces: bool = False  # close range: MediaPipe FaceMesh reads the face (installation/faces.py)
    cache: str = ""  # replays: a folder keeping their observations (installation/perception_cache.py); "" = off


@dataclass(frozen=True)
class SmoothingConfig:
    min_cutoff_hz: float = field(default=1.5, metadata=_range(0.01, 100.0))
    beta: float = field(default=5.0, metadata=_range(0.0, 1000.0))
    derivative_cutoff_hz: float = field(default=1.0, metadata=_range(0.01, 100.0))
    hold_s: float = field(default=0.5, metadata=_range(0.0, 60.0))
    fade_s: float = field(default=1.0, metadata=_range(0.0, 60.0))


@dataclass(frozen=True)
class SceneConfig:
    name: str = "body_latent"
    fallback: str = "dream_drift"  # shown when the scene raises
    attract: str = "dream_drift"  # shown while nobody is there, or the camera delivers nothing
    attract_after_s: float = field(default=30.0, metadata=_range(0.0, 86400.0))  # nobody this long; 0 = never
    next_gesture: str = ""  # a gesture (docs/gestures.md) that switches to the next scene, e.g. "swipe_left"
    previous_gesture: str = ""  # ... and to the previous one; "" = off
    crossfade_s: float = field(default=2.0, metadata=_range(0.0, 600.0))  # scene changes blend this long; 0 = cut
    folders: tuple[str, ...] = ()  # more folders of scene files (an artist's own), after scenes/
    reload: bool = False  # development mode: a saved scene file is loaded again without a restart
    params: tuple[str, ...] = ()  # scene parameter values, "scene.parameter=value" (python main.py scenes lists them)


@dataclass(frozen=True)
class CalibrationConfig:
    venue: str = ""  # calibration/<venue>.toml (or a path): lens, screen mapping, zones, several visitors; "" = none


@dataclass(frozen=True)
class ShowConfig:
    playlist: tuple[str, ...] = ()  # "scene:seconds" entries shown in turn, forever; empty = scene.name only
    hours: tuple[str, ...] = ()  # opening hours, local time, e.g. "mon-fri 10:00-18:00"; empty = always open


@dataclass(frozen=True)
class GeneratorConfig:
    model: str = "cppn"
    resolution: int = field(default=256, metadata=_range(16, 2048))
    latent_dim: int = field(default=16, metadata=_range(2, 1024))
    seed: int = field(default=7, metadata=_range(0, 2**31 - 1))
    device: str = field(default="auto", metadata=_choices("auto", "cpu", "cuda"))
    torch_threads: int = field(default=1, metadata=_range(0, 256))  # 0 = torch's own choice
    adaptive: bool = True  # lower the resolution when the loop falls behind display.target_fps, raise it with headroom
    min_resolution: int = field(default=96, metadata=_range(16, 2048))  # adaptive quality goes no lower
    reuse_below: float = field(default=1e-3, metadata=_range(0.0, 10.0))  # latent moved less (max |dz|): reuse the last frame
    steps: int = field(default=0, metadata=_range(0, 50))  # diffusion models: sampling steps a picture (0 = the model's own)


@dataclass(frozen=True)
class PaintConfig:
    enabled: bool = True  # build the painting stage (scenes turn it on with their "paint" parameter)
    style: str = "starry_night"  # a painting in styles/ (by stem), an image path, or builtin:0 .. builtin:25
    styles: tuple[str, ...] = ("starry_night", "wave", "the_scream", "udnie", "the_shipwreck_of_the_minotaur")  # a scene's glide
    folder: str = ""  # another folder of style images (searched after styles/)
    strength: float = field(default=1.0, metadata=_range(0.0, 1.0))  # 0 = unpainted, 1 = painted only
    preserve_colors: bool = False  # the painting's light and texture, the picture's own colours
    size: int = field(default=512, metadata=_range(32, 4096))  # long side of the painting, pixels
    min_size: int = field(default=320, metadata=_range(32, 4096))  # live: adaptive sizes go no lower
    adaptive: bool = True  # live: the size adapts to hold target_fps paintings a second
    target_fps: float = field(default=2.0, metadata=_range(0.1, 240.0))  # live: new paintings a second (carried along the flow between)
    steady: float = field(default=0.7, metadata=_range(0.0, 0.98))  # share of the carried painting where the flow holds; 0 = per frame
    schedule: str = field(default="threaded", metadata=_choices("inline", "threaded"))  # live runs; replays paint inline
    replay_every: int = field(default=1, metadata=_range(1, 120))  # replays: a new painting every N frames, carried between
    threads: int = field(default=1, metadata=_range(0, 256))  # onnxruntime threads; 0 = its own choice
    device: str = field(default="auto", metadata=_choices("auto", "cpu", "cuda"))  # cuda: onnxruntime's CUDA provider


@dataclass(frozen=True)
class DisplayConfig:
    width: int = field(default=1280, metadata=_range(16, 7680))
    height: int = field(default=720, metadata=_range(16, 4320))
    fullscreen: bool = False
    display_index: int = field(default=0, metadata=_range(0, 16))
    fit: str = field(default="cover", metadata=_choices("cover", "contain", "stretch"))
    target_fps: float = field(default=60.0, metadata=_range(1, 500))
    overlay: bool = False
    quit_key: bool = True  # Esc quits; turn off for a kiosk
    title: str = "installation"


@dataclass(frozen=True)
class HeadlessConfig:
    width: int = field(default=640, metadata=_range(16, 7680))
    height: int = field(default=360, metadata=_range(16, 4320))
    video_fps: float = field(default=30.0, metadata=_range(1, 240))  # frame rate of --out FILE.mp4


@dataclass(frozen=True)
class VideoOutConfig:
    # virtualcam[:/dev/videoN] | ndi[:NAME] | file:PATH.mkv (installation/outputs/video_out.py); --video-out adds
    targets: tuple[str, ...] = ()
    ndi_name: str = "installation"  # the NDI source's name when a target says only "ndi"


@dataclass(frozen=True)
class OscConfig:
    listen: str = "127.0.0.1:9000"  # [HOST:]PORT for control; "" = off; "0.0.0.0:9000" opens it to the LAN
    # sender addresses or subnets allowed; empty = anyone who can reach the port
    allow: tuple[str, ...] = field(default=(), metadata=_each(_is_network, 'IP addresses or subnets, e.g. "192.168.1.0/24"'))
    sender_rate: float = field(default=500.0, metadata=_range(1.0, 1e6))  # messages/s per sender
    total_rate: float = field(default=2000.0, metadata=_range(1.0, 1e6))  # messages/s from all senders together
    scene_switch_rate: float = field(default=4.0, metadata=_range(0.1, 1000.0))  # commanded scene switches/s; the latest waits
    reply_rate: float = field(default=200.0, metadata=_range(1.0, 1e6))  # reply messages/s to all senders together
    reply_factor: float = field(default=2.0, metadata=_range(1.0, 1000.0))  # replies to untrusted senders: at most x the request
    privileged: tuple[str, ...] = ()  # privileged addresses enabled (need allow), e.g. ["/record/*", "/gestures/*"]
    targets: tuple[str, ...] = ()  # HOST:PORT for the per-frame bundle (unicast, broadcast or multicast)
    max_rate_hz: float = field(default=60.0, metadata=_range(0.1, 1000.0))
    send_presence: bool = True
    send_pose: bool = True
    send_hands: bool = True
    send_features: bool = True
    send_gestures: bool = True
    send_scene: bool = True
    send_latent: bool = True
    send_beat: bool = True
    send_audio: bool = True  # /audio/level, /bands, /onset, /tempo while [audio] is on
    lead: bool = False  # also send /follow/* so other instances can follow this one
    send_mapped: bool = True  # /mapped/<name>/<output>: the taught mappings' outputs
    wekinator: str = ""  # the Wekinator profile: HOST:PORT for /wek/inputs, e.g. "127.0.0.1:6448"; "" = off
    wekinator_listen: str = "127.0.0.1:12000"  # with wekinator set: where its /wek/outputs arrive; "" = not
    mediapipe_osc: str = ""  # HOST:PORT for cansik/mediapipe-osc's /mediapipe/pose and /hands, e.g. "127.0.0.1:7500"
    send_face: bool = True  # /face with each new observation, while perception.faces is on
    faceosc: str = ""  # HOST:PORT for the FaceOSC profile (/found, /pose/*, /gesture/*), e.g. "127.0.0.1:8338"


@dataclass(frozen=True)
class SyncConfig:
    """Keeping time with the music (docs/sync.md): when changes land, and the display's latency."""

    quantize: str = field(default="now", metadata=_choices("now", "beat", "bar"))  # changes that do not say when
    beats_per_bar: int = field(default=4, metadata=_range(1, 16))
    display_latency_ms: float = field(default=0.0, metadata=_range(0.0, 500.0))  # drawn -> seen: changes go early by it
    link: bool = False  # join the Ableton Link session: its tempo, beat and bars (quantum = beats_per_bar)
    link_start_bpm: float = field(default=120.0, metadata=_range(20.0, 400.0))  # a session this starts (none to join)
    link_sets_tempo: bool = False  # tempo set here (OSC /tempo, MIDI clock) goes to every Link peer


@dataclass(frozen=True)
class AudioConfig:
    """Audio in (installation/audio_in.py, docs/sync.md): the music's level, bands, onsets, tempo."""

    enabled: bool = False  # on: a missing device or file stops the start with one line (exit 2)
    file: str = ""  # a WAV or FLAC file instead of the input (headless runs: read in step with media time)
    device: str = ""  # part of the input device's name, "" = the system's default input
    sample_rate: int = field(default=44100, metadata=_range(8000, 192000))


@dataclass(frozen=True)
class MidiConfig:
    """MIDI controllers and clock in (installation/midi.py, docs/sync.md)."""

    enabled: bool = False  # on: a missing port stops the start with one line (exit 2)
    input: str = ""  # part of the input port's name ("" = the first port); `aconnect -l` lists them
    clock: bool = True  # follow MIDI clock: tempo and beat (and bars from Start)
    bindings: str = "midi_bindings.json"  # controls -> actions, written by MIDI-learn; relative to the project


@dataclass(frozen=True)
class RecordConfig:
    enabled: bool = False  # start recording at start-up (off by default: visitors' privacy)
    folder: str = "sessions"  # sessions go in sub-folders named by start time; relative to the project
    segment_s: float = field(default=10.0, metadata=_range(0.1, 3600.0))  # video segment length


_SECRET_HASH_PREFIXES = ("scrypt$", "pbkdf2_sha256$")  # installation/staff/auth.py writes these


@dataclass(frozen=True)
class StaffConfig:
    """The staff page and /metrics (installation/staff, docs/kiosk.md)."""

    listen: str = "127.0.0.1:8765"  # [HOST:]PORT; "" = off; a LAN address needs a password or token hash
    password_hash: str = ""  # operators (controls); make one with: python main.py staff-password
    viewer_password_hash: str = ""  # viewers: the page without its controls
    token_hash: str = ""  # a bearer token for /metrics and /api/status (a venue's monitoring)
    thumbnail_fps: float = field(default=4.0, metadata=_range(0.2, 30.0))  # pictures a second, while watched
    thumbnail_width: int = field(default=320, metadata=_range(64, 1920))
    webhook: str = ""  # URL told (JSON POST) when the piece falls back, restarts or loses the camera
    session_hours: float = field(default=12.0, metadata=_range(0.1, 720.0))  # a log-in lasts this long

    def __post_init__(self) -> None:
        # checked here, not at the first request: a kiosk open to the LAN without a password must not start
        for key in ("password_hash", "viewer_password_hash", "token_hash"):
            value = getattr(self, key)
            if value and not value.startswith(_SECRET_HASH_PREFIXES):
                raise ConfigError(f"staff.{key}: expected a hash made by python main.py staff-password "
                                  "(never the password itself, which is not repeated here)")
        if self.webhook and not self.webhook.startswith(("http://", "https://")):
            raise ConfigError(f"staff.webhook = {self.webhook!r}: expected an http:// or https:// URL, or \"\"")
        if not self.listen:
            return
        host, _, port = self.listen.rpartition(":")
        if not port.isdigit() or int(port) > 65535:
            raise ConfigError(f"staff.listen = {self.listen!r}: expected [HOST:]PORT, e.g. \"127.0.0.1:8765\"")
        if not _is_loopback(host or "127.0.0.1") and not (self.password_hash or self.token_hash):
            raise ConfigError(f"staff.listen = {self.listen!r} opens the staff page to the network: set "
                              "staff.password_hash (python main.py staff-password) or listen on 127.0.0.1")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


@dataclass(frozen=True)
class Config:
    source: SourceConfig = SourceConfig()
    perception: PerceptionConfig = PerceptionConfig()
    smoothing: SmoothingConfig = SmoothingConfig()
    scene: SceneConfig = SceneConfig()
    show: ShowConfig = ShowConfig()
    calibration: CalibrationConfig = CalibrationConfig()
    generator: GeneratorConfig = GeneratorConfig()
    paint: PaintConfig = PaintConfig()
    load: LoadConfig = LoadConfig()  # what live runs skip on few cores (installation/load_scheduler.py)
    display: DisplayConfig = DisplayConfig()
    headless: HeadlessConfig = HeadlessConfig()
    video_out: VideoOutConfig = VideoOutConfig()
    osc: OscConfig = OscConfig()
    sync: SyncConfig = SyncConfig()
    midi: MidiConfig = MidiConfig()
    audio: AudioConfig = AudioConfig()
    record: RecordConfig = RecordConfig()
    gestures: GesturesConfig = GesturesConfig()
    lights: LightsConfig = LightsConfig()  # DMX out: Art-Net or sACN (installation/lights)
    staff: StaffConfig = StaffConfig()


def load_config(path: Path | str | None = None) -> Config:
    """Read and validate a TOML file; returns the Config. Raises ConfigError."""
    path = Path(path) if path is not None else DEFAULT_CONFIG_PATH
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path.name}: not valid TOML: {error}") from None
    return config_from_dict(data, source_name=path.name)


def config_from_dict(data: dict[str, Any], source_name: str = "config") -> Config:
    """Build a Config from nested dicts (TOML tables). Raises ConfigError."""
    return _build(Config, data, prefix="", source_name=source_name)


def override(config: Config, section: str, **values: Any) -> Config:
    """A copy of ``config`` with some keys of one section replaced, validated like the file."""
    current = dataclasses.asdict(getattr(config, section))
    current.update(values)
    new_section = _build(type(getattr(config, section)), current, f"{section}.", "command line")
    return dataclasses.replace(config, **{section: new_section})


def _build(cls: type, data: Any, prefix: str, source_name: str) -> Any:
    where = prefix.rstrip(".") or "the top level"
    if not isinstance(data, dict):
        raise ConfigError(f"{source_name}: [{where}] must be a table, got {data!r}")
    hints = get_type_hints(cls)
    known = {f.name: f for f in fields(cls)}
    for key in data:
        if key not in known:
            raise ConfigError(
                f"{source_name}: unknown key '{prefix}{key}' (expected one of: {', '.join(known)})"
            )
    kwargs = {}
    for name, value in data.items():
        kind = hints[name]
        if dataclasses.is_dataclass(kind):
            kwargs[name] = _build(kind, value, f"{prefix}{name}.", source_name)
        else:
            kwargs[name] = _check_value(f"{prefix}{name}", value, kind, known[name].metadata, source_name)
    return cls(**kwargs)


def _check_value(key: str, value: Any, kind: Any, meta: Any, source_name: str) -> Any:
    def fail(expected: str) -> ConfigError:
        return ConfigError(f"{source_name}: {key} = {value!r}: expected {expected}")

    if get_origin(kind) is tuple:  # a TOML array of strings
        if not isinstance(value, (list, tuple)) or not all(isinstance(item, str) for item in value):
            raise fail("an array of strings")
        check, expected = meta.get("each", (lambda item: True, ""))
        bad = [item for item in value if not check(item)]
        if bad:
            raise fail(f"{expected} ({bad[0]!r} is not one)")
        return tuple(value)
    allowed = get_args(kind) if get_origin(kind) in (Union, types.UnionType) else (kind,)  # X | Y is a UnionType
    if isinstance(value, bool) and bool not in allowed:
        raise fail(_describe(allowed))
    if float in allowed and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, allowed):
        raise fail(_describe(allowed))
    if "choices" in meta and value not in meta["choices"]:
        raise fail("one of " + ", ".join(repr(c) for c in meta["choices"]))
    if "range" in meta:
        low, high = meta["range"]
        if (low is not None and value < low) or (high is not None and value > high):
            raise fail(f"{_describe(allowed)} in {low}..{high}")
    return value


def _describe(allowed: tuple[type, ...]) -> str:
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    return " or ".join(names.get(t, t.__name__) for t in allowed)
