"""`megacut sections`: several specs share one pool; each video comes out in section order."""

import json

import numpy as np
from framecode import decode_frames
from media import make_audio
from PIL import Image

from megacut.cli import main

COLOURS = {"red": (220, 30, 30), "green": (30, 200, 30), "blue": (30, 30, 220), "yellow": (230, 220, 20)}


def write_spec(folder, name, sections, output):
    for section in sections:
        if "image" in section:
            Image.new("RGB", (64, 36), COLOURS[section["image"][:-4]]).save(folder / section["image"])
    spec = folder / name
    spec.write_text(json.dumps({"output": output, "resolution": "160x90", "fps": 25, "sections": sections}))
    return spec


def section_colour(frame):
    middle = frame[30:60, 60:100].reshape(-1, 3).mean(axis=0)
    return min(COLOURS, key=lambda name: np.abs(np.array(COLOURS[name]) - middle).sum())


def test_two_specs_in_one_pool_each_video_in_order(tmp_path, capsys):
    a = write_spec(tmp_path, "a.json", [{"image": "red.png", "duration": 1.0}, {"image": "green.png", "duration": 0.4},
                                        {"image": "blue.png", "duration": 0.8}], "a.mp4")
    b = write_spec(tmp_path, "b.json", [{"image": "yellow.png", "duration": 0.6}, {"image": "red.png", "duration": 0.5},
                                        {"image": "blue.png", "duration": 0.3}], "videos/b.mp4")
    output = tmp_path / "out"
    args = ["sections", str(a), str(b), "--output", str(output), "--preset", "ultrafast", "--encoder-threads", "1",
            "--max-workers", "2", "-q"]
    assert main(args) == 0
    expected = {"a.mp4": [("red", 25), ("green", 10), ("blue", 20)],
                "videos/b.mp4": [("yellow", 15), ("red", 12), ("blue", 8)]}
    for name, sections in expected.items():
        frames = decode_frames(output / name, 160, 90, tmp_path)
        assert len(frames) == sum(n for _, n in sections), name
        at = 0
        for colour, count in sections:
            assert section_colour(frames[at + count // 2]) == colour, (name, colour)
            at += count
    report = json.loads((output / "megacut-report.json").read_text())
    assert [v["status"] for v in report["videos"]] == ["written", "written"]
    assert [s["section"] for s in report["sections"]] == [1, 2, 3, 1, 2, 3]
    out = capsys.readouterr().out
    assert "sections: 6 ok, 0 failed" in out and f"video 2: written -> {output / 'videos' / 'b.mp4'}" in out
    assert main(args) == 0  # rerun: both videos current
    report = json.loads((output / "megacut-report.json").read_text())
    assert [v["status"] for v in report["videos"]] == ["current", "current"]


def test_a_bad_spec_names_file_and_section_and_renders_nothing(tmp_path, capsys):
    spec = write_spec(tmp_path, "talk.json", [{"image": "red.png", "duration": 1}, {"audio": "missing.mp3"}],
                      "talk.mp4")
    output = tmp_path / "out"
    assert main(["sections", str(spec), "--output", str(output)]) == 2
    err = capsys.readouterr().err
    assert "talk.json" in err and "section 2" in err and "missing.mp3" in err
    assert not output.exists()


def test_a_duration_that_would_cut_the_narration_is_refused_before_rendering(tmp_path, capsys):
    make_audio(tmp_path / "voice.wav", duration_s=8.3)
    spec = write_spec(tmp_path, "talk.json", [{"text": "Hello", "audio": "voice.wav", "duration": 2}], "talk.mp4")
    output = tmp_path / "out"
    assert main(["sections", str(spec), "--output", str(output)]) == 2
    err = capsys.readouterr().err
    assert (f"{spec}: section 1: the narration 'voice.wav' lasts 8.30 s, longer than its \"duration\" of 2 s: "
            "it would be cut; raise \"duration\" to at least 8.30 or remove it") in err
    assert not output.exists()


def test_each_video_keeps_its_report_when_another_spec_renders_into_the_same_folder(tmp_path, capsys):
    a = write_spec(tmp_path, "a.json", [{"text": "A", "duration": 0.2}], "a.mp4")
    b = write_spec(tmp_path, "b.json", [{"text": "B", "duration": 0.2}], "videos/b.mp4")
    output = tmp_path / "out"
    common = ["--output", str(output), "--preset", "ultrafast", "--encoder-threads", "1", "--no-threading", "-q"]
    assert main(["sections", str(a), *common]) == 0
    assert main(["sections", str(b), *common]) == 0
    for spec, report_path in ((a, output / "a.report.json"), (b, output / "videos" / "b.report.json")):
        report = json.loads(report_path.read_text())
        assert [(v["spec"], v["status"]) for v in report["videos"]] == [(str(spec), "written")]
        assert [s["name"] for s in report["sections"]] == [f"{spec.name} section 1"]
    run_report = json.loads((output / "megacut-report.json").read_text())
    assert [v["spec"] for v in run_report["videos"]] == [str(b)]  # the latest run's, as a whole
    assert f"report: {output / 'videos' / 'b.report.json'}" in capsys.readouterr().out

def test_sections_help_lists_only_the_options_that_apply_to_slides(capsys):
    import pytest

    with pytest.raises(SystemExit):
        main(["sections", "--help"])
    out = capsys.readouterr().out
    for option in ("--resolution", "--fps", "--crf", "--video-codec", "--font", "--font-size", "--backend",
                   "--max-workers", "--retries", "--force"):
        assert option in out, option
    for option in ("--section-cards", "--chunks", "--chunk-duration", "--effect", "--overlay-duration",
                   "--transition", "--fit", "--skip-invalid", "--dry-run"):
        assert option not in out, option


def test_slide_text_no_font_can_draw_is_warned_about_before_rendering(tmp_path, capsys, monkeypatch):
    import pytest

    import megacut.run.engine
    from megacut.plan.fonts import uncovered_chars
    from megacut.plan.settings import Settings

    text = "ꦲꦤ"  # Javanese
    if not uncovered_chars(text, Settings()):
        pytest.skip("this machine has a font covering the test characters")
    seen = []

    def stop_before_rendering(*args, **kwargs):
        seen.append(capsys.readouterr().err)  # what was said before rendering started
        raise KeyboardInterrupt

    monkeypatch.setattr(megacut.run.engine, "render_groups", stop_before_rendering)
    spec = write_spec(tmp_path, "talk.json", [{"image": "red.png", "duration": 1}, {"text": "fine", "duration": 1},
                                              {"image": "blue.png", "text": f"caption {text}", "duration": 1}],
                      "talk.mp4")
    data = json.loads(spec.read_text())
    spec.write_text(json.dumps({**data, "title": f"Title {text}"}))
    assert main(["sections", str(spec), "--output", str(tmp_path / "out")]) == 130
    warnings = [line for line in seen[0].splitlines() if "no installed font can draw" in line]
    assert len(warnings) == 2, seen[0]
    assert "talk.json: warning: title: no installed font can draw 'ꦲꦤ' in the title" in warnings[0]
    assert "talk.json: warning: section 3: no installed font can draw 'ꦲꦤ' in the caption" in warnings[1]
