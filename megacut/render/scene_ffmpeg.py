"""The ffmpeg scene renderer: one ffmpeg run per scene turns a source range into a normalised segment.

A segment has exactly ``scene.frames`` video frames in the output format
(final codec, square pixels, yuv420p, fixed encoder threads) and exactly
``format.samples_for(frames)`` samples of 48 kHz PCM in the output's channel layout (stereo or 5.1, each
track's channels placed by plan/channels.py), both starting at
0, so segments join by stream copy without drift (notes/ffmpeg-guide.md §0-§3).

Timestamps: ``-copyts -start_at_zero`` keeps the source's own timestamps, counted
from the file's start time (content time, as ``SourceInfo.start_s`` defines
it), whatever the seek: ``-ss`` without it moves them by the seek time rounded
to each stream's time base (40 ms in an AVI at 25 fps), a different error for
every seek. The graphs alone move them, in fine units: the picture at the
microsecond (``settb=AVTB``), the sound in whole ticks of its decoder's time
base (a sample).

Seeking: ``-ss`` before ``-i`` decodes from the keyframe before the seek point
and drops frames that *start* before it, including the frame on screen at that
instant when the time falls inside a frame (as times read off a player do). So
the seek goes a little earlier (``START_LEAD_S``; ``PREROLL_S`` for containers
with no seek index, which can land after the last keyframe before the start),
and ``fps=...:round=up`` gives each output frame the source frame on screen at
its instant: the scene starts on the requested frame.

Sound: every job of a scene, whole or a segment, rendered with its picture or
alone, reads its sound from a second input of the same file that seeks where
the whole scene's does, with the picture not read (``-vn``). Decoding then
starts on the same packet with the same timestamp every time, so the samples
are the whole scene's bit for bit, on any codec and container: a decoder that
starts elsewhere gives other samples for a while (MP3's bit reservoir, the
first AAC frame), and a container with millisecond timestamps (Matroska)
places them up to half a millisecond apart.
"""

from __future__ import annotations

import re
import time
from fractions import Fraction
from pathlib import Path

from megacut.ffmpeg import input_file, output_file, run_ffmpeg
from megacut.plan.build import OutputFormat, Scene
from megacut.plan.channels import LAYOUT_NAMES, mapping_filter, track_layout
from megacut.plan.probe import AudioTrack
from megacut.plan.settings import Settings
from megacut.plan.timecodes import START_SLACK_S
from megacut.render.colour import MASTER_DISPLAY, hdr_output, output_tags, overlay_to_output, picture_conversion
from megacut.render.jobs import JobResult, SceneJob
from megacut.render.overlay import OverlayTiming, render_overlay_png
from megacut.render.segment import job_result, process_cpu_s, writing_segment
from megacut.render.subtitles import DrawnCue, burned_in, write_cue_images

DEINTERLACE = "bwdif=mode=send_frame:parity=auto:deint=interlaced"
INPUT_MARGIN_S = 1.0  # read this much source beyond the scene's end
START_LEAD_S = 0.5  # decode from this much before the start: longer than a frame of any common rate
# Demuxers that seek by timestamp search, not to a keyframe: seek earlier and decode a pre-roll.
INDEXLESS_CONTAINERS = ("mpegts", "mpeg", "mpegvideo", "h264", "hevc", "m4v")
PREROLL_S = 12.0  # longer than x264's default GOP (250 frames) at 23.976 fps
TIMESTAMPS = ["-copyts", "-start_at_zero"]  # the source's own, from its start time (see the module's doc)
# The first samples are placed when their timestamp is off by more than this (seconds): under a sample.
PLACEMENT_S = 0.00001


def video_timescale(fps: Fraction) -> int:
    """A MOV time scale in which one frame is a whole number of ticks (about 90 kHz):
    90000 at 25 and 29.97 fps, 96000 at 23.976, so frame times never round."""
    return fps.numerator * -(-90000 // fps.numerator)


def frame_ticks(fps: Fraction) -> int:
    """One frame's duration in :func:`video_timescale` ticks (3600 at 25 fps, 4004 at 23.976)."""
    return video_timescale(fps) * fps.denominator // fps.numerator


def _rate(fps: Fraction) -> str:
    """A frame rate for ffmpeg, exact: 25 or 30000/1001."""
    fps = Fraction(fps)
    return str(fps.numerator) if fps.denominator == 1 else f"{fps.numerator}/{fps.denominator}"


def _num(value: float | Fraction) -> str:
    """Seconds for ffmpeg, in decimal with microsecond precision."""
    text = f"{float(value):.6f}".rstrip("0").rstrip(".")
    return text if text not in ("", "-0") else "0"


def seek_plan(job: SceneJob, at_s: float | Fraction | None = None) -> tuple[float, float]:
    """(input seek time, lead): the source is read from ``lead`` seconds before ``at_s`` (default: the job's
    first instant, the scene's start or a segment's), in content time."""
    scene = job.scene
    at_s = scene.start_s + float(job.offset_s) if at_s is None else float(at_s)
    family = scene.source.container.split(",")
    lead_s = min(at_s, PREROLL_S if any(n in INDEXLESS_CONTAINERS for n in family) else START_LEAD_S)
    return at_s - lead_s, lead_s


def fit_filters(fmt: OutputFormat, fit: str, colour: str = "", convert: tuple[str, ...] = ()) -> str:
    """Square pixels and fit into W x H: scale to fit and pad (``pad``), or scale to cover and crop;
    ``colour``, more options for the scale filter (the colour conversion); ``convert``, filters between the
    scaling and the padding or cropping (a tone map, on the scaled picture)."""
    width, height = fmt.width, fmt.height
    ratio = f"{width}/{height}"
    wide = f"gte(dar,{ratio})"  # the source is wider than the output
    fitted_w, fitted_h = f"trunc({height}*dar/2+0.5)*2", f"trunc({width}/dar/2+0.5)*2"
    if fit == "crop":
        scale = f"scale=w='if({wide},{fitted_w},{width})':h='if({wide},{height},{fitted_h})'"
        return ",".join([f"{scale}{':' if colour else ''}{colour}", *convert, f"crop={width}:{height}"])
    scale = f"scale=w='if({wide},{width},{fitted_w})':h='if({wide},{fitted_h},{height})'"
    return ",".join([f"{scale}{':' if colour else ''}{colour}", *convert,
                     f"pad={width}:{height}:(ow-iw)/2:(oh-ih)/2:black"])


def scene_fades(scene: Scene, fmt: OutputFormat) -> tuple[list[str], list[str]]:
    """(video, audio) fade filters: through black, the last frame fully black after a fade-out."""
    duration_s = Fraction(scene.frames) / fmt.fps
    video, audio = [], []
    if scene.fade_in_s > 0:
        video.append(f"fade=t=in:st=0:d={_num(scene.fade_in_s)}")
        audio.append(f"afade=t=in:st=0:d={_num(scene.fade_in_s)}")
    if scene.fade_out_s > 0:
        last_frame_s = duration_s - 1 / fmt.fps
        start_s = max(0.0, float(last_frame_s) - scene.fade_out_s)
        video.append(f"fade=t=out:st={_num(start_s)}:d={_num(scene.fade_out_s)}")
        audio_start_s = max(0.0, float(duration_s) - scene.fade_out_s)
        audio.append(f"afade=t=out:st={_num(audio_start_s)}:d={_num(scene.fade_out_s)}")
    return video, audio


def graph_value(text: str) -> str:
    """``text`` as one filter option's value in a filter graph: escaped for the option (``\\ ' :``), then for
    the graph (``\\ ' [ ] , ;``), as ffmpeg reads it (any file name works)."""
    option = re.sub(r"([\\':])", r"\\\1", text)
    return re.sub(r"([\\'\[\],;])", r"\\\1", option)


def video_graph(job: SceneJob, timing: OverlayTiming | None, overlay_png: Path | None = None,
                subtitles: list[DrawnCue] = ()) -> str:
    """Filter graph from the source's video (and the overlay image ``overlay_png``, shown for ``timing``, and
    the forced subtitle pictures ``subtitles``, each drawn on the frames it shows on) to ``[v]``.

    A segment's frames are cut like the whole scene's, then moved to their time in the scene
    (``setpts=PTS+first_frame``: the fps filter's time base is one frame) so that the fades and the
    overlay are drawn at their scene times, and moved back to 0 at the end."""
    scene, fmt, first = job.scene, job.format, job.first_frame
    duration_s = Fraction(job.frames) / fmt.fps
    # An interlaced source is deinterlaced first (each frame from its two fields; frames flagged
    # progressive pass untouched), or every moving edge of the scene would show combing.
    deinterlace = [DEINTERLACE] if scene.source.interlaced else []
    start_s = job.scene.start_s + float(job.offset_s)  # the job's first instant, in content time
    colour, convert = picture_conversion(scene.source, fmt.pix_fmt)
    steps = [*deinterlace, "settb=AVTB", f"setpts=PTS-{_num(start_s + START_SLACK_S)}/TB",
             f"fps={_rate(fmt.fps)}:start_time=0:round=up",
             fit_filters(fmt, job.settings.fit, colour, tuple(convert)), "setsar=1",
              f"tpad=stop_mode=clone:stop_duration={_num(duration_s)}", f"trim=end_frame={job.frames}"]
    steps += [f"setpts=PTS+{first}"] if first else []
    steps += scene_fades(scene, fmt)[0]
    to_zero = ["setpts=PTS-STARTPTS"] if first else []
    source = f"[0:{scene.source.video_index}]"
    tags = output_tags(fmt.pix_fmt)
    if timing is None and not subtitles:
        return source + ",".join(steps + [f"format={fmt.pix_fmt}", tags, *to_zero]) + "[v]"
    # Each image is read inside the graph (the movie source), as one frame repeated there: as an input of
    # its own, beside the picture's and the sound's, it made ffmpeg 9 hang in about one run in 40.
    blend = ":format=yuv420p10" if hdr_output(fmt.pix_fmt) else ""
    chains, layers = [f"{source}{','.join(steps)}[base]"], []
    frame_tb = f"{fmt.fps.denominator}/{fmt.fps.numerator}"
    for number, drawn in enumerate(subtitles):
        # on its frames only, timed in frames as the picture below is (scene time): exact, none before
        shown_from, shown_to = max(drawn.burned.first, first), min(drawn.burned.end, first + job.frames)
        chains.append(f"movie=filename={graph_value(f'file:{drawn.png}')},format=rgba,"
                      f"loop=loop={shown_to - shown_from - 1}:size=1:start=0,"
                      f"settb={frame_tb},setpts=N+{shown_from}" + overlay_to_output(f"sub{number}", fmt.pix_fmt))
        layers.append((f"sub{number}", drawn.x, drawn.y))
    if timing is not None:
        shown_frames = max(1, round(timing.duration_s * fmt.fps))
        chains.append(f"movie=filename={graph_value(f'file:{overlay_png}')},format=rgba,"
                      f"loop=loop={shown_frames - 1}:size=1:start=0,"
                      f"setpts=N/({_rate(fmt.fps)})/TB,"
                      f"fade=t=in:st=0:d={_num(timing.fade_in_s)}:alpha=1,"
                      f"fade=t=out:st={_num(timing.fade_out_start_s)}:d={_num(timing.fade_out_s)}:alpha=1"
                      + overlay_to_output("ov", fmt.pix_fmt))
        layers.append(("ov", 0, 0))
    below = "base"
    for number, (label, x, y) in enumerate(layers):
        above = f"laid{number}"
        chains.append(f"[{below}][{label}]overlay=x={x}:y={y}:eof_action=pass{blend}[{above}]")
        below = above
    chains.append(f"[{below}]" + ",".join([f"format={fmt.pix_fmt}", tags, *to_zero]) + "[v]")
    return ";".join(chains)


def pcm_format(fmt: OutputFormat) -> str:
    """The filter that gives a segment's audio its format: s16 at the output rate and channel layout."""
    return f"aformat=sample_fmts=s16:sample_rates={fmt.sample_rate}:channel_layouts={LAYOUT_NAMES[fmt.channels]}"


def track_mapping(track: AudioTrack, fmt: OutputFormat) -> list[str]:
    """The filters that place ``track``'s channels in the output's layout (plan/channels.py), if any."""
    mapping = mapping_filter(track_layout(track.layout, track.channels), fmt.channels)
    return [mapping] if mapping else []


def audio_graph(job: SceneJob, input_number: int) -> str:
    """Filter graph from the chosen audio track of input ``input_number`` (or silence) to ``[a]`` with
    exactly M samples.

    The graph works in scene time: a segment's audio starts at sample ``samples_for(first_frame)`` of
    the scene and has ``samples_for(end) - samples_for(first)`` samples, so the segments of a scene
    have exactly the scene's samples (the cumulative frame count decides each boundary) and the fades
    fall where they fall in the whole scene; it is moved back to 0 at the end.

    The whole scene's sound is placed, then the job's samples taken from it, so that a segment's are
    the whole scene's whatever it starts on. Three steps, each in one unit: the timestamps (content time)
    are moved to scene time in whole ticks of the decoder's time base; the rate is converted, timestamps
    carried along; then, at the output rate, the samples are placed from the scene's start on
    (``first_pts`` counts samples of the resampler's *input*, so it is only given where that is the
    output rate), silence filling where the source has none (audio that starts late or has holes) and
    what lies before dropped. ``min_comp`` makes that first placement exact to the sample; later
    timestamps move it only past ``min_hard_comp`` (a real hole)."""
    scene, fmt, first = job.scene, job.format, job.first_frame
    first_sample = fmt.samples_for(first)
    samples = fmt.samples_for(first + job.frames) - first_sample
    to_format = pcm_format(fmt)
    if scene.audio is None:
        return f"anullsrc=r={fmt.sample_rate}:cl={LAYOUT_NAMES[fmt.channels]},{to_format},atrim=end_sample={samples}[a]"
    steps = [f"asetpts=PTS-floor({_num(scene.start_s)}/TB+0.5)", f"aresample={fmt.sample_rate}",
             f"aresample={fmt.sample_rate}:async=1:min_comp={PLACEMENT_S}:first_pts=0",
             *track_mapping(scene.audio, fmt), to_format]
    steps += scene_fades(scene, fmt)[1]
    end_sample = first_sample + samples
    steps += [f"apad=whole_len={end_sample}", f"atrim=start_sample={first_sample}:end_sample={end_sample}"]
    steps += ["asetpts=PTS-STARTPTS"] if first else []
    return f"[{input_number}:{scene.audio.index}]" + ",".join(steps) + "[a]"


def video_encoder_args(settings: Settings, pix_fmt: str = "yuv420p") -> list[str]:
    """Encoder options. The thread count is fixed and x264 made CPU-independent, so the same
    job gives the same bitstream on any machine (notes/ffmpeg-guide.md §3)."""
    codec, threads = settings.video_codec, str(settings.encoder_threads)
    args = ["-c:v", codec]
    if codec == "libx264":
        args += ["-preset", settings.preset, "-crf", str(settings.crf)]
        args += ["-profile:v", "high"] if pix_fmt == "yuv420p" else []
        args += ["-pix_fmt", pix_fmt, "-x264-params", "cpu-independent=1"]
    elif codec == "libx265":
        # an HDR output's colour in the stream (VUI) and its mastering display in every segment's first SEI
        hdr = (":colorprim=bt2020:transfer=smpte2084:colormatrix=bt2020nc:range=limited:hdr10=1:"
               f"master-display={MASTER_DISPLAY}") if hdr_output(pix_fmt) else ""
        args += ["-preset", settings.preset, "-crf", str(settings.crf), "-pix_fmt", pix_fmt,
                 "-tag:v", "hvc1", "-x265-params", f"pools={threads}:log-level=error{hdr}"]
    return args + ["-threads", threads]


def picture_input(job: SceneJob) -> list[str]:
    """The input arguments that read the job's range of its source from a little before its first instant."""
    seek_s, lead_s = seek_plan(job)
    read_s = lead_s + float(Fraction(job.frames) / job.format.fps) + INPUT_MARGIN_S
    return input_file(job.scene.source.path, "-ss", _num(seek_s), "-t", _num(read_s))


def sound_input(job: SceneJob) -> list[str]:
    """The input arguments that read the job's sound, the picture left out, from where its whole scene's
    is read (see the module's doc: the same samples for every job of the scene), to the job's end."""
    scene = job.scene
    seek_s, _ = seek_plan(job, scene.start_s)
    end_s = scene.start_s + float(job.offset_s + Fraction(job.frames) / job.format.fps)
    return input_file(scene.source.path, "-ss", _num(seek_s), "-t", _num(end_s - seek_s + INPUT_MARGIN_S),
                      "-vn", "-sn", "-dn")


def scene_audio(job: SceneJob, input_number: int = 0) -> tuple[list[str], str]:
    """(ffmpeg arguments for the inputs, filter graph to ``[a]``): the job's sound as its segment has it,
    without reading the picture (the moviepy renderer's sound; a part's sound rendered ahead of its video),
    its input being number ``input_number``."""
    inputs = [*TIMESTAMPS, *sound_input(job)] if job.scene.audio is not None else []
    return inputs, audio_graph(job, input_number)


def sound_args(job: SceneJob, output: Path) -> list[str]:
    """The ffmpeg arguments that write the job's sound alone to ``output`` as raw PCM: the very samples of
    its segment (same seek, same graph; the picture is neither decoded nor encoded), for the part's audio
    encoder when the segment is not rendered yet (join/audio.py)."""
    inputs, graph = scene_audio(job)
    return ["-loglevel", "error", *inputs, "-filter_complex", graph, "-map", "[a]", "-c:a", "pcm_s16le",
            *output_file(output, "-f", "s16le")]


def raw_rgb_input(path: Path, fmt: OutputFormat) -> list[str]:
    """Input arguments for raw RGB pictures of the output size at the output rate."""
    return input_file(path, "-f", "rawvideo", "-pix_fmt", "rgb24", "-video_size", f"{fmt.width}x{fmt.height}",
                      "-framerate", _rate(fmt.fps))


# A segment's sound: lossless (the part's AAC is encoded once from it), 43-45% of its PCM on film sound for
# 26 CPU-seconds an hour of stereo (benchmarks/sound_benchmark.py); ALAC, as FLAC does not go in MOV.
SEGMENT_SOUND = ["-c:a", "alac"]


def segment_output_args(fmt: OutputFormat, output: Path) -> list[str]:
    """How every renderer ends its ffmpeg command: frame-exact time scale, lossless sound, no metadata, MOV."""
    return ["-video_track_timescale", str(video_timescale(fmt.fps)), *SEGMENT_SOUND,
            *output_file(output, "-map_metadata", "-1", "-map_chapters", "-1", "-f", "mov")]


def build_scene_args(job: SceneJob, overlay_png: Path | None, output: Path,
                     subtitles: list[DrawnCue] = ()) -> list[str]:
    """The ffmpeg arguments (after ``ffmpeg -nostdin -hide_banner``) that render ``job`` to ``output``
    (``subtitles``: the forced pictures it burns in, drawn to PNGs)."""
    fmt = job.format
    args = ["-loglevel", "error", *TIMESTAMPS, *picture_input(job)]
    timing = job.overlay if overlay_png else None
    args += sound_input(job) if job.scene.audio is not None else []
    graph = f"{video_graph(job, timing, overlay_png, subtitles)};{audio_graph(job, 1)}"
    # Lengths are exact inside the graph (trim, atrim); -frames:v would end the file when the video
    # is complete, cutting the audio short.
    args += ["-filter_complex", graph, "-map", "[v]", "-map", "[a]"]
    return args + video_encoder_args(job.settings, fmt.pix_fmt) + segment_output_args(fmt, output)


# ---------------------------------------------------------------- running


def render_scene_ffmpeg(job: SceneJob, cancel=None, clips=None) -> JobResult:
    """Render one scene to ``job.segment_path`` (complete or absent, never partial).

    Raises FFmpegError (with ffmpeg's last lines) on failure and Cancelled when
    ``cancel`` is set; the temporary file and ``job.work_dir`` are removed either way.
    ``clips`` is not used: ffmpeg opens the source itself.
    """
    del clips
    started_s, cpu_before_s = time.monotonic(), process_cpu_s()
    with writing_segment(job.name, job.segment_path, job.work_dir, job.frames, job.format) as temp:
        overlay = None
        if job.overlay is not None:
            overlay = render_overlay_png(job.scene.overlay_lines, job.format.width, job.format.height,
                                         job.settings, job.work_dir / "overlay.png")
        burned = burned_in(job.scene, job.format, job.first_frame, job.frames)
        subtitles = write_cue_images(burned, job.scene, job.format, job.settings.fit, job.work_dir)
        run_ffmpeg(build_scene_args(job, overlay, temp, subtitles), cancel=cancel)
    return job_result(job, started_s, cpu_before_s)
