"""The sound of a real collection: 5.1 kept, a downmix that keeps the dialogue, one loudness for every source.

The sources are made like the files fans own: E-AC-3 5.1 (side) at film level, AC-3 5.1 mixed quieter,
TrueHD 5.1, 7.1 (FLAC, as a lossless 7.1 track), an episode's AAC stereo at web loudness, and a mono AAC
film. Each channel carries a tone of its own, so where every channel lands in the part can be read
back, and at what level.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from media import make_collection_video

from megacut.cli import main
from megacut.ffmpeg import run_ffmpeg
from megacut.plan.channels import Layout, ORDERS, choose_layout, mapping_filter, matrix
from megacut.render.loudness import Gain, Loudness, parse_summary

LFE_HZ = 60
# name -> (layout, tones in ffmpeg's channel order, integrated loudness, codec, codec options)
SOURCES = {
    "Film A (2019).mkv": ("5.1(side)", [300, 500, 700, LFE_HZ, 900, 1100], -27, "eac3", ()),
    "Film B (2008).mkv": ("5.1", [320, 520, 720, LFE_HZ, 920, 1120], -31, "ac3", ()),
    "Film C (2012).mkv": ("5.1(side)", [340, 540, 740, LFE_HZ, 940, 1140], -25, "truehd", ("-strict", "-2")),
    "Film D (2021).mkv": ("7.1", [360, 560, 760, LFE_HZ, 960, 1160, 1360, 1560], -29, "flac", ()),
    "Show S01E01.mp4": ("stereo", [400, 600], -16, "aac", ()),
    "Mono Film (1936).mp4": ("mono", [800], -20, "aac", ()),
}
MINUS_3_DB = -3.01


@pytest.fixture(scope="module")
def collection(tmp_path_factory):
    folder = tmp_path_factory.mktemp("collection")
    movies = folder / "movies"
    movies.mkdir()
    rows = ["movie,start,end,overlay"]
    for name, (layout, tones, lufs, codec, options) in SOURCES.items():
        make_collection_video(movies / name, layout=layout, tones=tones, lufs=lufs, codec=codec, codec_args=options)
        rows.append(f"{Path(name).stem},0:00:00.4,0:00:02.4,")
    csv = folder / "scenes.csv"
    csv.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return csv, movies


def render(collection, output: Path, *options: str) -> dict:
    csv, movies = collection
    code = main(["process", "--csv", str(csv), "--movies", str(movies), "--output", str(output), "-q", *options])
    assert code == 0
    return json.loads((output / "megacut-report.json").read_text(encoding="utf-8"))


def decode(path: Path, stream: int, channels: int) -> np.ndarray:
    """Audio stream ``stream`` of ``path`` as floats, (samples, channels), its own channel order kept."""
    out = path.with_suffix(f".{stream}.f32")
    run_ffmpeg(["-y", "-v", "error", "-i", str(path), "-map", f"0:a:{stream}", "-f", "f32le", str(out)])
    data = np.fromfile(out, dtype="<f4")
    out.unlink()
    return data.reshape(-1, channels)


def tone_db(samples: np.ndarray, hz: float) -> float:
    """The level (dBFS of the amplitude) of the tone at ``hz`` in one channel."""
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples)))) / (len(samples) / 4)
    bin_hz = 48000 / len(samples)
    around = spectrum[max(0, int(hz / bin_hz) - 3): int(hz / bin_hz) + 4]
    return float(20 * np.log10(max(around.max(), 1e-9)))


def scene_window(report: dict, index: int) -> slice:
    """The middle of a scene in the part (its first and last 0.3 s left out), in samples."""
    scene = report["scenes"][index]
    start, end = scene["offset_s"] + 0.3, scene["offset_s"] + scene["duration_s"] - 0.3
    return slice(round(start * 48000), round(end * 48000))


def loudness_of(path: Path, stream: int, start_s: float | None = None, duration_s: float | None = None) -> Loudness:
    window = ["-ss", f"{start_s}", "-t", f"{duration_s}"] if start_s is not None else []
    completed = run_ffmpeg(["-nostats", *window, "-i", str(path), "-map", f"0:a:{stream}",
                            "-af", "ebur128=peak=true:framelog=quiet", "-f", "null", "-"])
    return parse_summary(completed.stderr)


def where_tones_are(part: Path, report: dict, stream: int, channels: int) -> dict[str, dict[str, dict[int, float]]]:
    """{source: {output channel: {tone Hz: level dB}}} for every tone of every source, in every channel."""
    audio = decode(part, stream, channels)
    names = ORDERS["5.1" if channels == 6 else "stereo"]
    found = {}
    for index, (name, (_, tones, *_)) in enumerate(SOURCES.items()):
        window = audio[scene_window(report, index)]
        found[name] = {channel: {hz: tone_db(window[:, n], hz) for hz in tones if hz}
                       for n, channel in enumerate(names)}
    return found


def loudest(levels: dict[int, float]) -> list[int]:
    """The tones of a channel that are really there (within 30 dB of its loudest)."""
    top = max(levels.values())
    return sorted(hz for hz, db in levels.items() if db > top - 30 and db > -80)


def test_a_mostly_surround_collection_gives_a_5_1_part_with_every_channel_in_its_place(collection, tmp_path):
    report = render(collection, tmp_path / "out")
    part = tmp_path / "out" / "mega_cut_part_1.mp4"
    streams = run_ffmpeg(["-i", str(part)], check=False).stderr
    audio = [line for line in streams.splitlines() if "Audio:" in line]
    assert len(audio) == 2 and ", 5.1," in audio[0] and "(default)" in audio[0]
    assert ", stereo," in audio[1] and "(default)" not in audio[1]
    assert "handler_name    : Stereo" in streams

    tones = where_tones_are(part, report, 0, 6)
    for name in ("Film A (2019).mkv", "Film B (2008).mkv", "Film C (2012).mkv"):
        fl, fr, fc, lfe, bl, br = SOURCES[name][1]
        assert {ch: loudest(levels) for ch, levels in tones[name].items()} == {
            "FL": [fl], "FR": [fr], "FC": [fc], "LFE": [lfe], "BL": [bl], "BR": [br]}, name
    fl, fr, fc, lfe, bl, br, sl, sr = SOURCES["Film D (2021).mkv"][1]
    film_d = tones["Film D (2021).mkv"]
    assert {ch: loudest(levels) for ch, levels in film_d.items()} == {
        "FL": [fl], "FR": [fr], "FC": [fc], "LFE": [lfe], "BL": sorted([bl, sl]), "BR": sorted([br, sr])}
    # 7.1's back and side surrounds fold into the surround pair at -3 dB each, the same level as each other
    assert film_d["BL"][bl] == pytest.approx(film_d["BL"][sl], abs=0.3)
    assert film_d["BL"][bl] - film_d["FL"][fl] == pytest.approx(MINUS_3_DB, abs=0.5)
    # stereo plays from the front pair, mono from the centre; nothing is invented elsewhere
    assert {ch: loudest(levels) for ch, levels in tones["Show S01E01.mp4"].items() if loudest(levels)} == {
        "FL": [400], "FR": [600]}
    assert all(max(levels.values()) < -80 for ch, levels in tones["Show S01E01.mp4"].items() if ch not in ("FL", "FR"))
    assert [ch for ch, levels in tones["Mono Film (1936).mp4"].items() if max(levels.values()) > -80] == ["FC"]

    # the stereo track: the dialogue (centre) and the surrounds at -3 dB of the front channels, LFE dropped
    stereo = where_tones_are(part, report, 1, 2)["Film A (2019).mkv"]
    fl, fr, fc, lfe, sl, sr = SOURCES["Film A (2019).mkv"][1]
    assert stereo["FL"][fc] - stereo["FL"][fl] == pytest.approx(MINUS_3_DB, abs=0.5)
    assert stereo["FR"][fc] - stereo["FR"][fr] == pytest.approx(MINUS_3_DB, abs=0.5)
    assert stereo["FL"][sl] - stereo["FL"][fl] == pytest.approx(MINUS_3_DB, abs=0.5)
    assert stereo["FL"][lfe] < stereo["FL"][fl] - 40 and stereo["FR"][sl] < stereo["FR"][fr] - 40

    assert_every_scene_at(part, report, 0, -27.0)
    assert report["settings"]["loudness"] == -27.0


def assert_every_scene_at(part: Path, report: dict, stream: int, target: float) -> None:
    """Every scene within 1 LU of ``target``; the track's true peak at most -1 dBTP."""
    for scene in report["scenes"]:
        measured = loudness_of(part, stream, scene["offset_s"] + 0.1, scene["duration_s"] - 0.2)
        assert measured.integrated_lufs == pytest.approx(target, abs=1.0), scene["movie"]
        assert scene["loudness"]["gain_db"] == pytest.approx(target - scene["loudness"]["integrated_lufs"], abs=0.01)
    assert loudness_of(part, stream).true_peak_dbtp <= -1.0


def test_a_stereo_part_downmixes_with_the_dialogue_at_minus_3_db_and_levels_every_source(collection, tmp_path):
    report = render(collection, tmp_path / "out", "--channels", "stereo", "--loudness", "-23")
    part = tmp_path / "out" / "mega_cut_part_1.mp4"
    streams = run_ffmpeg(["-i", str(part)], check=False).stderr
    assert [", stereo," in line for line in streams.splitlines() if "Audio:" in line] == [True]
    tones = where_tones_are(part, report, 0, 2)
    for name in ("Film A (2019).mkv", "Film B (2008).mkv", "Film C (2012).mkv"):
        fl, fr, fc, lfe, sl, sr = SOURCES[name][1]
        left, right = tones[name]["FL"], tones[name]["FR"]
        assert loudest(left) == sorted([fl, fc, sl]) and loudest(right) == sorted([fr, fc, sr]), name
        assert left[fc] - left[fl] == pytest.approx(MINUS_3_DB, abs=0.5)
        assert right[sr] - right[fr] == pytest.approx(MINUS_3_DB, abs=0.5)
    fl, fr, fc, lfe, bl, br, sl, sr = SOURCES["Film D (2021).mkv"][1]
    left = tones["Film D (2021).mkv"]["FL"]
    assert loudest(left) == sorted([fl, fc, bl, sl])
    assert left[bl] - left[fl] == pytest.approx(2 * MINUS_3_DB, abs=0.5)  # folded into 5.1, then downmixed
    assert loudest(tones["Show S01E01.mp4"]["FL"]) == [400] and loudest(tones["Show S01E01.mp4"]["FR"]) == [600]
    mono = tones["Mono Film (1936).mp4"]
    assert mono["FL"][800] == pytest.approx(mono["FR"][800], abs=0.1)
    assert_every_scene_at(part, report, 0, -23.0)


def test_loudness_is_measured_once_and_a_new_target_re_encodes_only_the_sound(collection, tmp_path):
    output = tmp_path / "out"
    first = render(collection, output)
    assert all(scene["loudness"]["measured_in_this_run"] for scene in first["scenes"])
    measured = sorted((output / ".megacut-cache" / "loudness").glob("*.json"))
    assert len(measured) == len(SOURCES)
    stamps = [path.stat().st_mtime_ns for path in measured]
    report = render(collection, output, "--loudness", "-20", "--stereo-track", "off")
    assert [path.stat().st_mtime_ns for path in measured] == stamps  # nothing measured again
    assert not any(scene["loudness"]["measured_in_this_run"] for scene in report["scenes"])
    assert {scene["status"] for scene in report["scenes"]} == {"cached"}  # no segment rendered again
    part = output / "mega_cut_part_1.mp4"
    streams = run_ffmpeg(["-i", str(part)], check=False).stderr
    assert [", 5.1," in line for line in streams.splitlines() if "Audio:" in line] == [True]
    capped = [s for s in report["scenes"] if s["loudness"]["gain_db"] < -20 - s["loudness"]["integrated_lufs"] - 0.01]
    assert not capped  # tones this quiet have room for any gain: none is capped
    assert_every_scene_at(part, report, 0, -20.0)


def test_off_keeps_each_sources_level(collection, tmp_path):
    report = render(collection, tmp_path / "out", "--loudness", "off", "--channels", "stereo")
    part = tmp_path / "out" / "mega_cut_part_1.mp4"
    episode = next(i for i, s in enumerate(report["scenes"]) if s["movie"] == "Show S01E01")
    scene = report["scenes"][episode]
    assert loudness_of(part, 0, scene["offset_s"] + 0.1, scene["duration_s"] - 0.2).integrated_lufs == \
        pytest.approx(-16, abs=1.0)
    assert not (tmp_path / "out" / ".megacut-cache" / "loudness").exists()


# ---------------------------------------------------------------- the rules, without rendering


def test_the_downmix_matrix_keeps_the_centre_at_minus_3_db_and_drops_the_lfe_without_renormalising():
    side = Layout("5.1(side)", ORDERS["5.1(side)"])
    assert matrix(side, 2) == {"FL": {"FL": 1.0, "FC": 0.7071, "SL": 0.7071},
                               "FR": {"FR": 1.0, "FC": 0.7071, "SR": 0.7071}}
    seven = Layout("7.1", ORDERS["7.1"])
    assert matrix(seven, 6)["BL"] == {"BL": 0.7071, "SL": 0.7071}
    assert matrix(Layout("stereo", ORDERS["stereo"]), 6) == {
        "FL": {"FL": 1.0}, "FR": {"FR": 1.0}, "FC": {}, "LFE": {}, "BL": {}, "BR": {}}
    # a track already in the output's layout passes untouched; a downmix is limited, an upmix is not
    assert mapping_filter(Layout("5.1", ORDERS["5.1"]), 6) == ""
    assert "alimiter" in mapping_filter(side, 2) and "alimiter" not in mapping_filter(Layout("mono", ("FC",)), 6)
    assert re.search(r"pan=stereo\|FL=1\.0000\*c0\+0\.7071\*c2\+0\.7071\*c4\|", mapping_filter(side, 2))


def test_the_layout_is_what_covers_most_of_the_planned_time():
    assert choose_layout([(6, 100.0), (2, 50.0), (1, 10.0)]) == (6, "5.1 sound covers 62%")
    assert choose_layout([(8, 10.0), (2, 50.0)]) == (2, "stereo sound covers 83%")
    assert choose_layout([(6, 100.0)], "stereo") == (2, "stereo sound from --channels")
    assert choose_layout([]) == (2, "stereo sound")


def test_a_gain_never_pushes_the_true_peak_over_minus_1_dbtp():
    film = Loudness(integrated_lufs=-31.0, true_peak_dbtp=-2.5)
    assert film.gain_db(-27.0) == 1.5  # capped: -29.5 LUFS, peak -1 dBTP
    assert "capped by its peak" in film.describe(-27.0)
    episode = Loudness(integrated_lufs=-16.0, true_peak_dbtp=-0.3)
    assert episode.gain_db(-27.0) == -11.0
    assert Loudness(-70.0, -90.0).gain_db(-27.0) == 0.0  # silence stays silence
    assert episode.gain_db(None) == 0.0


def test_a_gain_applies_to_pcm_cut_anywhere_even_inside_a_sample():
    samples = (np.sin(np.arange(4800) / 7) * 20000).astype("<i2")
    data = samples.tobytes()
    gain = Gain(-6.0)
    halved = b"".join(gain(data[n:n + 333]) for n in range(0, len(data), 333))
    result = np.frombuffer(halved, dtype="<i2")
    assert len(result) == len(samples)
    assert np.abs(result - np.rint(samples * 10 ** (-6 / 20))).max() <= 1
    assert Gain(0.0)(data) is data
