from fractions import Fraction

import pytest

from megacut.plan.timecodes import (
    TimecodeError,
    format_seconds,
    parse_duration,
    parse_timecode,
)

NTSC = Fraction(30000, 1001)


@pytest.mark.parametrize(
    "text, seconds",
    [
        ("0", 0.0),
        ("90", 90.0),
        ("90.5", 90.5),
        ("7.250", 7.25),
        ("1:02", 62.0),
        ("01:02.5", 62.5),
        ("75:30", 4530.0),  # MM:SS may count more than an hour of minutes
        ("01:02:03", 3723.0),
        ("01:02:03.25", 3723.25),
        ("1:02:03.004", 3723.004),
        ("01:02:03,250", 3723.25),  # SRT style
        ("  00:00:05  ", 5.0),
    ],
)
def test_plain_forms(text, seconds):
    assert parse_timecode(text).to_seconds() == pytest.approx(seconds, abs=1e-9)


def test_frame_timecode_at_integer_rate():
    assert parse_timecode("00:01:02:12").to_seconds(Fraction(25)) == pytest.approx(62.48)
    assert parse_timecode("00:00:00:23").to_seconds(Fraction(24)) == pytest.approx(23 / 24)


def test_frame_timecode_at_ntsc_rate_counts_frames_like_an_editor():
    # SMPTE non-drop at 29.97: one hour of timecode is 108000 frames = 3603.6 s of real time
    assert parse_timecode("01:00:00:00").to_seconds(NTSC) == pytest.approx(3603.6)
    assert parse_timecode("00:00:01:15").to_seconds(NTSC) == pytest.approx(45 * 1001 / 30000)


def test_drop_frame_timecode_tracks_real_time():
    # drop-frame (;) keeps timecode within a frame of the clock at 29.97
    assert parse_timecode("00:10:00;00").to_seconds(NTSC) == pytest.approx(600.0, abs=1 / 29.97)
    assert parse_timecode("01:00:00;00").to_seconds(NTSC) == pytest.approx(3600.0, abs=1 / 29.97)


def test_frame_timecode_needs_rate_and_valid_frame():
    tc = parse_timecode("00:00:01:24")
    assert tc.needs_source
    with pytest.raises(TimecodeError, match="frame rate is unknown"):
        tc.to_seconds()
    with pytest.raises(TimecodeError, match="frame 24 does not exist at 24.000 fps"):
        tc.to_seconds(Fraction(24))
    assert tc.to_seconds(Fraction(25)) == pytest.approx(1.96)


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "empty"),
        ("-5", "negative"),
        ("-00:00:01", "negative"),
        ("nan", "not a time"),
        ("inf", "not a time"),
        ("1e3", "not a time"),
        ("abc", "not a time"),
        ("1:2:3:4:5", "not a time"),
        ("00:61", "seconds must be below 60"),
        ("01:75:00", "minutes must be below 60"),
        ("12,5", "comma"),
        ("1.2.3", "not a time"),
    ],
)
def test_bad_timecodes_say_why(text, message):
    with pytest.raises(TimecodeError, match=message):
        parse_timecode(text)


@pytest.mark.parametrize(
    "text, seconds",
    [("2h", 7200), ("90m", 5400), ("45s", 45), ("1h30m", 5400), ("5400", 5400), ("1:30:00", 5400), ("1.5h", 5400)],
)
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "0", "-5", "2x", "h", "nan", "0s"])
def test_bad_durations(text):
    with pytest.raises(TimecodeError):
        parse_duration(text)


def test_format_seconds():
    assert format_seconds(3723.4) == "1:02:03"
    assert format_seconds(59.6) == "0:01:00"
