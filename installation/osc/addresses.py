"""The OSC address table: the single source of truth for every address the runtime accepts or
sends, its arguments (types and ranges) and what it does.

``docs/osc.md`` is generated from this table (``python -m installation.osc.addresses``), and a
``/osc/list`` request returns it over OSC.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from installation.config import PROJECT_ROOT
from installation.contracts import POSE_LANDMARK_COUNT
from installation.errors import InstallationError
from installation.feature_specs import FEATURE_SPECS

DOCS_PATH = PROJECT_ROOT / "docs" / "osc.md"
TYPE_NAMES = {"f": "float", "i": "int", "s": "string", "switch": "switch"}


class OscArgumentError(InstallationError):
    """A message's arguments do not match its address: wrong count, type or range."""


@dataclass(frozen=True)
class Arg:
    name: str
    type: str  # f | i | s | switch (T/F, 0/1, on/off/toggle)
    low: float | None = None
    high: float | None = None
    repeat: tuple[int, int] | None = None  # a variadic last argument: (fewest, most) values

    def describe(self) -> str:
        text = f"{self.name}:{TYPE_NAMES[self.type]}"
        if self.low is not None:
            text += f" {self.low:g}..{self.high:g}"
        if self.repeat is not None:
            text += f" ×{self.repeat[0]}..{self.repeat[1]}"
        return text


@dataclass(frozen=True)
class Address:
    path: str
    direction: str  # "in" (control) | "query" (answered to the sender) | "out" (sent each frame)
    args: tuple[Arg, ...]
    description: str
    command: str | None = None  # the ControlCommand an "in" address becomes
    # writes files or records visitors: refused unless osc.allow is set and osc.privileged names it
    privileged: bool = False
    # "latest wins": of several waiting for the same frame, only the last runs (a flood of them
    # costs the loop one). The key is the address and this many leading arguments; None = every
    # message runs (toggles, taps, teaching steps)
    coalesce: int | None = None


SWITCH = (Arg("state", "switch"),)
WHEN = Arg("when", "s", repeat=(0, 1))  # now | beat | bar: a change that lands on the next beat or bar
LATEST, LATEST_PER_NAME = 0, 1  # Address.coalesce: one per address, one per address and first argument
FEATURE_COUNT = len(FEATURE_SPECS)

IN_ADDRESSES = (
    Address("/scene/set", "in", (Arg("name", "s"), WHEN), "Switch to the scene called name (see `python main.py scenes`); "
            "with when = beat or bar, on the next one (see docs/sync.md).", "scene", coalesce=LATEST),
    Address("/scene/next", "in", (WHEN,), "Switch to the next scene: along the playlist (`show.playlist`), else in name order.", "scene"),
    Address("/scene/previous", "in", (WHEN,), "Switch to the previous scene (playlist, else name order).", "scene"),
    Address("/scene/param", "in", (Arg("name", "s"), Arg("value", "f"), WHEN),
            "Set a parameter of the current scene; its range is the scene's own (out of range: rejected, counted).",
            "scene_param", coalesce=LATEST_PER_NAME),
    Address("/latent/seed", "in", (Arg("seed", "i", 0, 2**31 - 1),),
            "Re-seed the scene's latent directions and drift: a different piece from the same body.", "seed", coalesce=LATEST),
    Address("/blackout", "in", SWITCH, "Black screen (perception keeps running). 1/0, T/F, on/off or toggle.", "blackout"),
    Address("/freeze", "in", SWITCH, "Hold the current picture and latent.", "freeze"),
    Address("/overlay", "in", SWITCH, "The camera inset, skeleton and timings overlay (key H).", "overlay"),
    Address("/record/start", "in", (), "Start recording a session (camera frames, observations, OSC): see README.",
            "record", privileged=True),
    Address("/record/stop", "in", (), "Stop recording; every file of the session is complete.", "record", privileged=True),
    Address("/gestures/record", "in", (Arg("name", "s"), Arg("kind", "s"), Arg("targets", "f", repeat=(0, 64))),
            "Record a gesture example from the visitor until /gestures/stop: kind static (a hand shape), "
            "dynamic (a movement) or mapping (the pose -> the target values that follow).", "gesture_record", privileged=True),
    Address("/gestures/stop", "in", (), "Stop recording and store the example in the gesture folder.", "gesture_stop", privileged=True),
    Address("/gestures/train", "in", (), "Train on every stored example; the result runs at once.", "gesture_train", privileged=True),
    Address("/gestures/run", "in", SWITCH, "Run (or pause) the taught gestures and mappings.", "gesture_run"),
    Address("/wekinator/control/outputs", "in", (Arg("values", "f", repeat=(1, 64)),),
            "Wekinator's control: the target values for the next mapping examples.", "gesture_outputs", coalesce=LATEST),
    Address("/wekinator/control/startRecording", "in", (),
            "Wekinator's control: record a mapping example called 'wekinator' toward the current outputs.",
            "gesture_record", privileged=True),
    Address("/wekinator/control/stopRecording", "in", (), "Wekinator's control: as /gestures/stop.", "gesture_stop", privileged=True),
    Address("/wekinator/control/train", "in", (), "Wekinator's control: as /gestures/train.", "gesture_train", privileged=True),
    Address("/wekinator/control/startRunning", "in", (), "Wekinator's control: run the taught mappings.", "gesture_run"),
    Address("/wekinator/control/stopRunning", "in", (), "Wekinator's control: pause them.", "gesture_run"),
    Address("/wekinator/control/startDtwRecording", "in", (Arg("gesture", "i", 1, 64),),
            "Wekinator's control: record a movement example of gesture number n (stored as `wek_gesture_<n>`).",
            "gesture_record", privileged=True),
    Address("/wekinator/control/stopDtwRecording", "in", (), "Wekinator's control: as /gestures/stop.",
            "gesture_stop", privileged=True),
    Address("/wekinator/control/cancelTrain", "in", (),
            "Wekinator's control: training here finishes within one frame boundary, so there is never one to "
            "cancel; acknowledged in the log.", "gesture_cancel_train"),
    Address("/wekinator/control/deleteAllExamples", "in", (),
            "Wekinator's control: delete every stored example (the running model stays until the next train).",
            "gesture_delete", privileged=True),
    Address("/wekinator/control/deleteExamplesForOutput", "in", (Arg("output", "i", 1, 64),),
            "Wekinator's control: delete the stored examples of gesture n (`wek_gesture_<n>`, from startDtwRecording).",
            "gesture_delete", privileged=True),
    Address("/wekinator/control/enableModelRunning", "in", (Arg("outputs", "i", 1, 64, repeat=(1, 64)),),
            "Wekinator's control: these outputs (from 1) reach the piece again.", "wekinator_run_outputs"),
    Address("/wekinator/control/disableModelRunning", "in", (Arg("outputs", "i", 1, 64, repeat=(1, 64)),),
            "Wekinator's control: these outputs (from 1) stop reaching the piece (`/mapped/*`, scenes).",
            "wekinator_run_outputs"),
    Address("/wekinator/control/enableModelRecording", "in", (Arg("outputs", "i", 1, 64, repeat=(1, 64)),),
            "Wekinator's control: acknowledged (logged, `wekinator_unsupported`): each example here records every "
            "output, since one mapping is fitted to them all.", "wekinator_unsupported"),
    Address("/wekinator/control/disableModelRecording", "in", (Arg("outputs", "i", 1, 64, repeat=(1, 64)),),
            "Wekinator's control: acknowledged, as enableModelRecording.", "wekinator_unsupported"),
    Address("/wekinator/control/setInputNames", "in", (Arg("names", "s", repeat=(1, 64)),),
            "Wekinator's control: accepted when it names as many inputs as /wek/inputs sends; our inputs keep "
            "the feature names of docs/features.md (logged).", "wekinator_input_names"),
    Address("/wekinator/control/setOutputNames", "in", (Arg("names", "s", repeat=(1, 64)),),
            "Wekinator's control: names for the outputs (instead of out0, out1...), used by examples recorded "
            "from now on and by `/mapped/<name>/<output>`.", "wekinator_output_names", coalesce=LATEST),
    Address("/wekinator/control/selectInputsForOutput", "in", (Arg("ids", "i", 1, 1024, repeat=(2, 65)),),
            "Wekinator's control: acknowledged, as enableModelRecording: every output learns from every feature.",
            "wekinator_unsupported"),
    Address("/style/set", "in", (Arg("style", "s"), WHEN),
            "Paint in this style: a painting in `styles/` by name (`starry_night`), an image path, or `builtin:0`..`builtin:25`. "
            "A bad one is rejected and the style stays.", "style_set", coalesce=LATEST),
    Address("/style/mix", "in", (Arg("mix", "s"), WHEN),
            "Paint in a mix of styles, `name:weight,name:weight` (e.g. `starry_night:0.7,wave:0.3`); weights are normalised.",
            "style_mix", coalesce=LATEST),
    Address("/style/glide", "in", (Arg("position", "f", 0, 64),),
            "Paint at a point along `paint.styles`: 0 = the first, 1 = the second, 0.5 = halfway between (wraps).",
            "style_glide", coalesce=LATEST),
    Address("/style/strength", "in", (Arg("strength", "f", 0, 1),),
            "How painted the picture is: 0 = unpainted, 1 = painted only.", "style_strength", coalesce=LATEST),
    Address("/beat", "in", (), "A beat happens now: sets the beat phase to 0 (with a tempo known).", "beat"),
    Address("/midi/learn", "in", (Arg("action", "s"), Arg("target", "s"), WHEN),
            "MIDI-learn: the next MIDI control moved is bound to action (param | scene | style) target (a parameter "
            "of the current scene, over its whole range; a scene, next or previous; a style), landing when; "
            "stored in `midi.bindings`.", "midi_learn", privileged=True),
    Address("/tempo", "in", (Arg("bpm", "f", 0, 400),), "Tempo in beats per minute, 20..400; 0 forgets it.", "tempo", coalesce=LATEST),
    Address("/wek/outputs", "in", (Arg("values", "f", repeat=(1, 64)),),
            "Wekinator's outputs: values a scene can map to its latent or parameters.", "external", coalesce=LATEST),
    Address("/follow/scene", "in", (Arg("name", "s"),), "Follow a leader instance: its scene.", "follow_scene", coalesce=LATEST),
    Address("/follow/latent", "in", (Arg("z", "f", repeat=(2, 1024)),),
            "Follow a leader instance: its latent (must match this generator's latent size).", "follow_latent", coalesce=LATEST),
    Address("/follow/beat", "in", (Arg("phase", "f", -1, 1),), "Follow a leader instance: its beat phase (-1 = none).",
            "follow_beat", coalesce=LATEST),
    Address("/status", "query", (), "Replies `/status` to the sender (see Replies)."),
    Address("/ping", "query", (Arg("any", "s", repeat=(0, 16)),), "Replies `/pong` with the same arguments."),
    Address("/osc/list", "query", (), "Replies one `/osc/address` message per entry of this table."),
)

OUT_ADDRESSES = (
    Address("/frame", "out", (Arg("render_index", "i"), Arg("source_frame", "i"), Arg("media_time", "f"),
                              Arg("capture_time", "f")),
            "First in every bundle: the rendered frame's index, the source frame whose observation arrived "
            "(-1: none new), media time and the capture time of that frame (seconds)."),
    Address("/presence", "out", (Arg("presence", "f", 0, 1), Arg("persons", "i", 0, 16)),
            "How present the visitor is (fades after they leave) and the number of people tracked: with "
            "several visitors (the venue's [people]) everyone with an id, coasting ones included; else 1 "
            "while the visitor's pose is seen, 0 otherwise."),
    Address("/pose", "out", (Arg("landmarks", "f", repeat=(4 * POSE_LANDMARK_COUNT, 4 * POSE_LANDMARK_COUNT)),),
            "33 pose landmarks × (x, y, z, visibility), flat, MediaPipe order; x, y in 0..1 of the image. "
            "Sent only while a pose is tracked."),
    Address("/hand/left", "out", (Arg("presence", "f", 0, 1), Arg("landmarks", "f", repeat=(63, 63))),
            "The visitor's left hand: presence, then 21 landmarks × (x, y, z), flat. Sent while tracked."),
    Address("/hand/right", "out", (Arg("presence", "f", 0, 1), Arg("landmarks", "f", repeat=(63, 63))),
            "The visitor's right hand, as /hand/left."),
    Address("/feature/<name>", "out", (Arg("value", "f"),),
            "One message per named feature (docs/features.md gives names and ranges)."),
    Address("/features", "out", (Arg("values", "f", repeat=(FEATURE_COUNT, FEATURE_COUNT)),),
            "All features in one message, in docs/features.md order."),
    Address("/gesture", "out", (Arg("name", "s"), Arg("phase", "s"), Arg("side", "s"), Arg("confidence", "f", 0, 1)),
            "A gesture event as it happens (phase start | hold | end)."),
    Address("/zone", "out", (Arg("zone", "s"), Arg("person", "i"), Arg("event", "s")),
            "A visitor entered or left a zone of the venue (event enter | leave); person is the visitor's id "
            "(0 when one visitor is followed). See docs/calibration.md."),
    Address("/person/<slot>/id", "out", (Arg("id", "i"),),
            "With several visitors (the venue's [people]): slots 0..max_people-1, each held by one visitor "
            "for as long as they are tracked (a newcomer takes the lowest free slot); -1 = empty."),
    Address("/person/<slot>/x", "out", (Arg("x", "f", 0, 1),),
            "Where the slot's visitor stands, 0..1 across the screen when the venue maps the camera to it, else across the image."),
    Address("/person/<slot>/y", "out", (Arg("y", "f", 0, 1),), "... and how far down the image."),
    Address("/person/<slot>/present", "out", (Arg("present", "i", 0, 1),), "1 while the slot holds a visitor."),
    Address("/audience/primary", "out", (Arg("slot", "i"),),
            "The slot of the primary participant (the one the piece answers to), -1 = none."),
    Address("/scene", "out", (Arg("name", "s"),), "The scene showing."),
    Address("/latent", "out", (Arg("norm", "f"), Arg("head", "f", repeat=(4, 4))),
            "A short summary of the latent: its length and its first four values."),
    Address("/beat", "out", (Arg("phase", "f", 0, 1), Arg("bpm", "f")), "Beat phase and tempo, while a tempo is known."),
    Address("/audio/level", "out", (Arg("level", "f", 0, 1),),
            "With `[audio]` on (`osc.send_audio`): the music's loudness, 0 at -60 dBFS or below, 1 at full scale."),
    Address("/audio/bands", "out", (Arg("energy", "f", 0, 1, repeat=(4, 4)),),
            "With `[audio]` on: energy in bass (20-150 Hz), low-mid (-800), high-mid (-4k), treble (-16k), 0..1 like level."),
    Address("/audio/onset", "out", (Arg("strength", "f", 0, 1),),
            "With `[audio]` on: in the bundle of a frame when an onset (a hit, a note's attack) was heard."),
    Address("/audio/tempo", "out", (Arg("bpm", "f"),), "With `[audio]` on: the music's tempo estimate, once known."),
    Address("/follow/scene", "out", (Arg("name", "s"),), "With `osc.lead`: for instances that follow this one."),
    Address("/follow/latent", "out", (Arg("z", "f", repeat=(2, 1024)),), "With `osc.lead`: the full latent."),
    Address("/follow/beat", "out", (Arg("phase", "f", -1, 1),), "With `osc.lead`: the beat phase (-1 = none)."),
    Address("/wek/inputs", "out", (Arg("features", "f", repeat=(FEATURE_COUNT, FEATURE_COUNT)),),
            "Wekinator profile (`osc.wekinator`, Wekinator's input port 6448): the feature vector, one message "
            "per frame; Wekinator's `/wek/outputs` come back on `osc.wekinator_listen` (12000)."),
    Address("/mapped/<name>/<output>", "out", (Arg("value", "f"),),
            "A taught mapping's output (`/gestures/record name mapping`, or Wekinator's outputs, called "
            "`wekinator`), one message per output, while taught mappings run (`osc.send_mapped`)."),
    Address("/mediapipe/pose", "out", (Arg("count", "i", 0, 1), Arg("landmarks", "f", repeat=(0, 132))),
            "mediapipe-osc profile (`osc.mediapipe_osc`), as cansik/mediapipe-osc sends it, every frame: the "
            "number of poses (int 0 or 1), then 33 × (x, y, z, visibility); just `0` when nobody is there."),
    Address("/mediapipe/hands", "out", (Arg("count", "i", 0, 2), Arg("landmarks", "f", repeat=(0, 168))),
            "mediapipe-osc profile: the number of hands (int), then 21 × (x, y, z, visibility) per hand, left "
            "first (visibility 0, as MediaPipe Hands reports it); just `0` when no hand is seen."),
    Address("/face", "out", (Arg("found", "i", 0, 1), Arg("x", "f", 0, 1), Arg("y", "f", 0, 1), Arg("size", "f", 0, 1),
                             Arg("mouth_open", "f", 0, 1), Arg("smile", "f", 0, 1), Arg("brows_raised", "f", 0, 1),
                             Arg("eyes_open", "f", 0, 1), Arg("yaw", "f", -90, 90), Arg("pitch", "f", -90, 90),
                             Arg("roll", "f", -180, 180)),
            "With `perception.faces` (and `osc.send_face`), with each new observation: the face read by FaceMesh "
            "(docs/features.md, \"Face\"); found 0 and the rest at rest when none is read. Angles in degrees."),
    *(Address(path, "out", args, "FaceOSC profile (`osc.faceosc`, FaceOSC's port 8338), one bundle per camera frame: "
              + text) for path, args, text in (
        ("/found", (Arg("found", "i", 0, 1),), "1 while a face is read; alone (`0`) when none is."),
        ("/pose/scale", (Arg("scale", "f"),), "Face size: its width in pixels of a 640 × 480 image / 40."),
        ("/pose/position", (Arg("x", "f"), Arg("y", "f")), "Face centre in pixels of a 640 × 480 image."),
        ("/pose/orientation", (Arg("x", "f"), Arg("y", "f"), Arg("z", "f")),
         "Head rotation in radians about x, y, z: pitch (+ up), yaw (+ toward the image's right), roll."),
        ("/gesture/mouth/width", (Arg("width", "f"),), "Mouth corner to corner, in face units (the face 40 wide)."),
        ("/gesture/mouth/height", (Arg("height", "f"),), "Inner lip gap, in face units."),
        ("/gesture/eyebrow/left", (Arg("height", "f"),), "The visitor's left brow over the upper eyelid, in face units."),
        ("/gesture/eyebrow/right", (Arg("height", "f"),), "... and the right."),
        ("/gesture/eye/left", (Arg("openness", "f"),), "The visitor's left eyelid gap, in face units."),
        ("/gesture/eye/right", (Arg("openness", "f"),), "... and the right."),
        ("/gesture/jaw", (Arg("openness", "f"),), "Nose tip to chin, in face units."),
        ("/gesture/nostrils", (Arg("flare", "f"),), "Nostril width, in face units."),
    )),
)

REPLIES = (
    Address("/status", "out", (Arg("key", "s"), Arg("value", "f")),
            "Reply to /status, as key/value pairs: fps, latency_ms, presence, uptime_s, frames, then every "
            "error counter; the scene's name comes as a separate `/status/scene s` message."),
    Address("/pong", "out", (Arg("any", "s", repeat=(0, 16)),), "Reply to /ping, echoing its arguments."),
    Address("/osc/address", "out", (Arg("path", "s"), Arg("direction", "s"), Arg("arguments", "s"), Arg("description", "s")),
            "Reply to /osc/list: one per address."),
)

ADDRESS_TABLE = IN_ADDRESSES + OUT_ADDRESSES + REPLIES
ACCEPTED = {address.path: address for address in IN_ADDRESSES}
# What another instance sends (a leader's bundle to its followers): understood and set aside, not
# counted as errors. ``<name>``/``<slot>`` parts of a path match one path segment.
_SENT = tuple(re.compile("^" + re.sub(r"<[a-z]+>", "[^/]+", re.escape(a.path).replace(r"\<", "<").replace(r"\>", ">")) + "$")
              for a in OUT_ADDRESSES)


def is_sent_by_us(path: str) -> bool:
    """True when ``path`` is one of the addresses this runtime sends (``OUT_ADDRESSES``): a
    follower receives the leader's whole bundle and needs only its ``/follow/*`` messages."""
    return any(pattern.match(path) for pattern in _SENT)


def validate(address: Address, params: list[Any]) -> tuple[Any, ...]:
    """Check and convert a message's arguments. Returns them as Python values (ints allowed where
    floats are expected, as Max and Pd often send). Raises OscArgumentError."""
    args, fixed = list(params), address.args
    variadic = fixed[-1] if fixed and fixed[-1].repeat else None
    head = fixed[:-1] if variadic else fixed
    if len(args) < len(head) or (variadic is None and len(args) != len(head)):
        raise OscArgumentError(f"{address.path} takes {_count(address)} arguments, got {len(args)}")
    values = [_convert(spec, value, address.path) for spec, value in zip(head, args)]
    if variadic is not None:
        rest = args[len(head):]
        fewest, most = variadic.repeat
        if not fewest <= len(rest) <= most:
            raise OscArgumentError(f"{address.path} takes {_count(address)} arguments, got {len(args)}")
        values.extend(_convert(variadic, value, address.path) for value in rest)
    return tuple(values)


def _count(address: Address) -> str:
    fixed = [a for a in address.args if not a.repeat]
    if address.args and address.args[-1].repeat:
        fewest, most = address.args[-1].repeat
        return f"{len(fixed) + fewest}..{len(fixed) + most}"
    return str(len(fixed))


def _convert(spec: Arg, value: Any, path: str) -> Any:
    def fail() -> OscArgumentError:
        return OscArgumentError(f"{path}: {spec.name} = {value!r}: expected {spec.describe()}")

    if spec.type == "switch":
        if isinstance(value, (bool, int, float)) and not (isinstance(value, float) and math.isnan(value)):
            return bool(value)
        if isinstance(value, str) and value.lower() in ("on", "off", "true", "false", "1", "0", "toggle"):
            return "toggle" if value.lower() == "toggle" else value.lower() in ("on", "true", "1")
        raise fail()
    if spec.type == "s":
        if not isinstance(value, str):
            raise fail()
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise fail()
    if spec.type == "i":
        if isinstance(value, float) and not value.is_integer():
            raise fail()
        value = int(value)
    else:
        value = float(value)
        if not math.isfinite(value):
            raise fail()
    if spec.low is not None and not spec.low <= value <= spec.high:
        raise fail()
    return value


def docs_markdown() -> str:
    """docs/osc.md, generated from the table."""
    sections = (("Control (in)", "in"), ("Queries (answered to the sender)", "query"))
    lines = [
        "# OSC",
        "",
        "Generated from `installation/osc/addresses.py` (`python -m installation.osc.addresses`); a test",
        "checks that it matches. Send `/osc/list` to get this table over OSC.",
        "",
        "Types: `float` (ints are accepted), `int`, `string`, `switch` (T/F, 1/0, \"on\"/\"off\" or \"toggle\").",
        "`×a..b` marks a variable number of values. Control messages take effect at the next frame boundary.",
        "",
        "**privileged**: it records visitors or writes files, so it is refused (and counted) unless `osc.allow`",
        "is set and `osc.privileged` names it. *latest wins*: of several arriving before the same frame, only",
        "the last runs (by address, and by parameter name for `/scene/param`).",
        "",
    ]
    for title, direction in sections:
        lines += _table(title, [a for a in IN_ADDRESSES if a.direction == direction])
    lines += _table("Output (one bundle per frame)", list(OUT_ADDRESSES))
    lines += _table("Replies", list(REPLIES))
    return "\n".join(lines) + "\n" + (Path(__file__).with_name("osc_notes.md")).read_text(encoding="utf-8")


def _table(title: str, addresses: list[Address]) -> list[str]:
    lines = [f"## {title}", "", "| address | arguments | what it does |", "|---|---|---|"]
    for address in addresses:
        arguments = ", ".join(arg.describe() for arg in address.args) or "—"
        marks = ["**privileged**"] * address.privileged + ["*latest wins*"] * (address.coalesce is not None)
        description = " ".join([address.description, *(f"({mark})" for mark in marks)])
        lines.append(f"| `{address.path}` | {arguments} | {description} |")
    return lines + [""]


def write_docs(path: Path = DOCS_PATH) -> Path:
    path.write_text(docs_markdown(), encoding="utf-8")
    return path


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger(__name__).info("wrote %s", write_docs())
