"""DMX out (installation/lights): exact Art-Net and sACN bytes received on a loopback socket,
channel mapping, the 44 Hz limit in media time, blackout on sleep, and a replayed clip."""

from __future__ import annotations

import dataclasses
import socket

import numpy as np
import pytest

from installation.app import build_stages
from installation.audience.zones import ZoneEvent
from installation.clock import FixedStepClock
from installation.config import config_from_dict, load_config
from installation.contracts import LatentState, TrackedBody
from installation.display import HeadlessDisplay, NullSink
from installation.errors import ConfigError
from installation.feature_specs import Features
from installation.file_sources import VideoFileSource
from installation.lights.channels import region_colour
from installation.lights.config import LightsConfig
from installation.lights.output import DmxOutput
from installation.lights.packets import DmxPacketError, artdmx_packet, sacn_cid, sacn_packet
from installation.report import FrameReport
from installation.runtime import Runtime

CHANNELS = ("1 = presence", "2 = beat", "3 = feature:body_x", "4 = zone:door", "5-7 = region:0,0,0.5,1",
            "8 = const:200")


@pytest.fixture
def listener():
    """A UDP socket on 127.0.0.1 standing in for an Art-Net node or an sACN receiver."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(2.0)  # only a safety net against a hang: loopback datagrams are already queued
    yield sock
    sock.close()


def received(sock: socket.socket) -> list[bytes]:
    """Every datagram waiting on ``sock``, without waiting for more."""
    sock.setblocking(False)
    packets = []
    while True:
        try:
            packets.append(sock.recv(2048))
        except BlockingIOError:
            sock.settimeout(2.0)
            return packets


def lights(sock: socket.socket, protocol: str = "artnet", **values) -> DmxOutput:
    port = sock.getsockname()[1]
    universe = values.pop("universe", 3)
    return DmxOutput(LightsConfig(enabled=True, protocol=protocol, target=f"127.0.0.1:{port}", universe=universe,
                                  channels=values.pop("channels", CHANNELS), **values))


def picture() -> np.ndarray:
    """(36, 64, 3): red on the left half, blue on the right."""
    image = np.zeros((36, 64, 3), np.uint8)
    image[:, :32] = (200, 10, 0)
    image[:, 32:] = (0, 0, 255)
    return image


def report(t: float, presence: float = 1.0, beat_phase: float | None = 0.25, zone_events: tuple = ()) -> FrameReport:
    features = dataclasses.replace(Features.neutral(), presence=presence, body_x=0.5)
    state = LatentState(np.zeros(4, np.float32))
    return FrameReport(t, None, TrackedBody.nobody(t), features, state, "s", beat_phase=beat_phase,
                       zone_events=zone_events, picture=picture())


EXPECTED_LEVELS = bytes((255, 191, 191, 0, 200, 10, 0, 200))  # channels 1-8 of report(t)


def test_artdmx_header_and_levels_byte_for_byte(listener):
    output = lights(listener)
    for index in range(5):
        output.on_frame(report(index / 30.0))  # 30 fps: under the 44 Hz limit, every frame goes
    packets = received(listener)
    output.close()
    assert len(packets) == 5
    for sequence, packet in enumerate(packets, start=1):
        assert packet[:18] == (b"Art-Net\x00" + b"\x00\x50" + b"\x00\x0e" + bytes((sequence, 0))
                               + b"\x03\x00" + b"\x02\x00")  # OpDmx, version 14, port-address 3, 512 channels
        assert packet[18:26] == EXPECTED_LEVELS
        assert packet[26:] == bytes(512 - 8) and len(packet) == 18 + 512


def test_sacn_header_and_levels_byte_for_byte(listener):
    output = lights(listener, "sacn", universe=7, source_name="gallery")
    for index in range(4):
        output.on_frame(report(index / 30.0))
    packets = received(listener)
    output.close()
    assert len(packets) == 4
    cid = sacn_cid("gallery")
    for sequence, packet in enumerate(packets, start=1):
        assert len(packet) == 638
        assert packet[:22] == b"\x00\x10\x00\x00ASC-E1.17\x00\x00\x00\x72\x6e\x00\x00\x00\x04"  # root layer
        assert packet[22:38] == cid
        assert packet[38:44] == b"\x72\x58\x00\x00\x00\x02"  # framing layer: length 600, data vector
        assert packet[44:108] == b"gallery".ljust(64, b"\x00")
        assert packet[108:115] == bytes((100, 0, 0, sequence, 0, 0, 7))  # priority, sync, seq, options, universe
        assert packet[115:126] == b"\x72\x0b\x02\xa1\x00\x00\x00\x01\x02\x01\x00"  # DMP, 513 values, START 0
        assert packet[126:134] == EXPECTED_LEVELS


def test_sacn_close_sends_dark_then_three_terminated_packets(listener):
    output = lights(listener, "sacn")
    output.on_frame(report(0.0))
    output.close()
    packets = received(listener)
    assert len(packets) == 1 + 1 + 3
    assert all(p[126:] == bytes(512) for p in packets[1:])
    assert [p[112] & 0x40 for p in packets[1:]] == [0, 0x40, 0x40, 0x40]  # options: stream terminated


def test_rate_is_limited_to_44_hz_in_media_time(listener):
    output = lights(listener)
    for index in range(60):  # one second at 60 fps: a packet every other frame (33 ms >= 1/44 s)
        output.on_frame(report(index / 60.0))
    assert len(received(listener)) == 30
    assert output.counters["dmx_frames_skipped"] == 30
    output.close()


def test_blackout_on_sleep_and_back_on_waking(listener):
    output = lights(listener)
    output.on_frame(report(0.0))
    output.on_sleep(0.1)
    output.on_sleep(0.11)  # under the rate limit: not sent
    output.on_frame(report(0.2))
    packets = received(listener)
    output.close()
    assert [p[18:26] for p in packets] == [EXPECTED_LEVELS, bytes(8), EXPECTED_LEVELS]


def test_zone_channel_follows_enter_and_leave(listener):
    output = lights(listener)
    output.on_frame(report(0.0, zone_events=(ZoneEvent("door", 1, "enter", 0.0), ZoneEvent("door", 2, "enter", 0.0))))
    output.on_frame(report(0.1, zone_events=(ZoneEvent("door", 1, "leave", 0.1),)))
    output.on_frame(report(0.2, zone_events=(ZoneEvent("door", 2, "leave", 0.2),)))
    levels = [p[18 + 3] for p in received(listener)]
    output.close()
    assert levels == [255, 255, 0]


def test_no_tempo_leaves_the_beat_channel_dark_and_presence_scales(listener):
    output = lights(listener)
    output.on_frame(report(0.0, presence=0.5, beat_phase=None))
    packet = received(listener)[0]
    output.close()
    assert packet[18] == 128 and packet[19] == 0


def test_a_failed_send_is_counted_not_raised():
    output = DmxOutput(LightsConfig(enabled=True, target="127.0.0.1:1", channels=CHANNELS))
    output._socket.close()  # every send now fails with OSError (a bad file descriptor)
    output.on_frame(report(0.0))
    assert output.counters["dmx_send_failed"] == 1 and output.errors["dmx_send_failed"] == 1


def test_region_colour_is_the_mean_of_the_region():
    image = picture()
    assert region_colour(image, (0.0, 0.0, 0.5, 1.0)).tolist() == [200.0, 10.0, 0.0]
    assert region_colour(image, (0.0, 0.0, 1.0, 1.0)).tolist() == [100.0, 5.0, 127.5]


@pytest.mark.parametrize("entry, message", [
    ("1 = sparkle", "a source among"),
    ("1-2 = region:0,0,1,1", "3 channel(s) for region"),
    ("3 = region:0,0,1,1", "3 channel(s) for region"),
    ("510-512 = region:0.5,0,0.2,1", "0 <= X0 < X1 <= 1"),
    ("1 = feature:wingspan", "a feature of docs/features.md"),
    ("513 = presence", "channels within 1..512"),
    ("1 = const:256", "a level 0..255"),
    ("one = presence", '"CHANNEL = SOURCE"'),
])
def test_bad_channel_entries_are_config_errors_naming_them(entry, message):
    with pytest.raises(ConfigError, match="lights.channels") as error:
        config_from_dict({"lights": {"channels": [entry]}})
    assert message in str(error.value) and entry in str(error.value)


def test_overlapping_channels_and_bad_universes_are_config_errors():
    with pytest.raises(ConfigError, match="both drive channel 3"):
        config_from_dict({"lights": {"channels": ["3 = presence", "2-4 = region:0,0,1,1"]}})
    with pytest.raises(ConfigError, match="sACN"):
        config_from_dict({"lights": {"protocol": "sacn", "universe": 0}})
    with pytest.raises(ConfigError, match="Art-Net"):
        config_from_dict({"lights": {"universe": 40000}})
    with pytest.raises(ConfigError, match="lights.max_rate_hz"):
        config_from_dict({"lights": {"max_rate_hz": 60.0}})


def test_encoders_reject_what_a_node_could_not_read():
    with pytest.raises(DmxPacketError, match="513 channels"):
        artdmx_packet(bytes(513), 0, 1)
    with pytest.raises(DmxPacketError, match="port-address"):
        artdmx_packet(bytes(2), 0x8000, 1)
    with pytest.raises(DmxPacketError, match="universe 0"):
        sacn_packet(bytes(2), 0, 0, sacn_cid("x"), "x")
    assert len(artdmx_packet(bytes(3), 0, 1)) == 18 + 4  # padded to an even length


def test_a_replayed_clip_sends_one_packet_per_frame_with_its_picture_and_presence(media, listener):
    port = listener.getsockname()[1]
    config = load_config()
    config = dataclasses.replace(config, lights=LightsConfig(
        enabled=True, target=f"127.0.0.1:{port}", universe=0, channels=("1 = presence", "2-4 = region:0,0,1,1")))
    source = VideoFileSource(media / "video" / "intel_asl" / "yes.mkv")
    stages = build_stages(config, source, HeadlessDisplay((64, 36), "cover", NullSink()))
    seen: list[FrameReport] = []
    stages.listeners += [DmxOutput(config.lights), type("Keep", (), {"on_frame": lambda _, r: seen.append(r),
                                                                      "close": lambda _: None})()]
    Runtime(stages, FixedStepClock(), lockstep=True).run(max_frames=8)
    packets = received(listener)
    assert len(packets) == 8 + 1  # one per frame at 30 fps, and the blackout at the end
    for packet, frame in zip(packets, seen):
        assert packet[:12] == b"Art-Net\x00\x00\x50\x00\x0e" and packet[14:18] == b"\x00\x00\x02\x00"
        colour = np.round(region_colour(frame.picture, (0.0, 0.0, 1.0, 1.0)))
        assert packet[18] == round(frame.features.presence * 255) == 255  # the signer is there throughout
        assert list(packet[19:22]) == colour.astype(int).tolist()
    assert packets[-1][18:] == bytes(512)


def test_the_loop_tells_listeners_when_it_sleeps(media, listener):
    source = VideoFileSource(media / "video" / "intel_asl" / "yes.mkv")
    stages = build_stages(load_config(), source, HeadlessDisplay((64, 36), "cover", NullSink()))
    output = lights(listener)
    stages.listeners.append(output)
    runtime = Runtime(stages, FixedStepClock(), lockstep=False)
    runtime.show.sleep = True  # the staff page's sleep
    assert runtime.director.closed()
    runtime._sleep_step()
    runtime.close()
    packets = received(listener)
    assert packets[0][18:] == bytes(512) and output.counters["dmx_packets_sent"] == 2  # dark, and dark at close
