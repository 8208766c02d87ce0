"""The scene assembly's timeline arithmetic, its ffmpeg filter graph and its subtitles, without running ffmpeg."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

from services.assembly import PlacedLine, SceneRender, ShotClip, plan_timeline, scene_graph, to_srt, to_vtt
from services.assembly.graph import Loudness, measure_args, render_args, upscaled_size
from services.assembly.house import HouseFormat
from services.assembly.loudness import LoudnessLog
from services.assembly.subtitles import Cue, cue
from services.assembly.timeline import frame_rate
from services.errors import Invalid, StudioError

FPS = Fraction(24)


def test_the_joined_length_is_the_shots_minus_the_overlaps_to_the_frame() -> None:
    timeline = plan_timeline(FPS, [(3.0, "cut", 0), (2.5, "dissolve", 0.3), (4.0, "fadeblack", 0.5)])
    assert [c.frames for c in timeline.clips] == [72, 60, 96]
    assert [c.overlap for c in timeline.clips] == [0, 7, 12]  # 0.3 s is 7.2 frames: 7
    assert timeline.starts == (0, 65, 113)
    assert timeline.total_frames == 72 + 60 + 96 - 7 - 12
    assert timeline.seconds == pytest.approx(209 / 24)


def test_a_transition_takes_at_most_40_percent_of_either_shot_and_rounds_to_a_cut_when_too_short() -> None:
    timeline = plan_timeline(FPS, [(1.0, "cut", 0), (1.0, "fade", 5.0), (0.05, "wipeleft", 0.3)])
    # 40% of 24 frames is 9.6: 9 frames, however long the transition asked for.
    assert timeline.clips[1].overlap == 9
    # The last shot is one frame: no room for any overlap, so it is cut in.
    assert timeline.clips[2].transition == "cut" and timeline.clips[2].overlap == 0


def test_the_first_shots_transition_is_ignored_and_cuts_fall_back_in_one_call() -> None:
    timeline = plan_timeline(FPS, [(2.0, "fadeblack", 1.0), (2.0, "dissolve", 0.5)])
    assert timeline.clips[0].transition == "cut"
    cut = timeline.with_cuts()
    assert cut.transitions() == ["cut"] and cut.total_frames == 96


def test_holding_the_last_shot_lengthens_only_the_end() -> None:
    timeline = plan_timeline(FPS, [(2.0, "cut", 0), (2.0, "dissolve", 0.5)])
    held = timeline.held(12)
    assert held.starts == timeline.starts
    assert held.total_frames == timeline.total_frames + 12


def test_ntsc_rates_are_exact_fractions_and_nonsense_rates_are_refused() -> None:
    assert frame_rate(23.976) == Fraction(24000, 1001)
    assert frame_rate(29.97) == Fraction(30000, 1001)
    assert frame_rate(24.0) == 24 and frame_rate(12.5) == Fraction(25, 2)
    with pytest.raises(Invalid):
        frame_rate(0)
    with pytest.raises(Invalid):
        plan_timeline(FPS, [])


def _three_shots() -> SceneRender:
    timeline = plan_timeline(FPS, [(3.0, "cut", 0), (2.5, "dissolve", 0.3), (4.0, "fadeblack", 0.5)])
    shots = Path("/data/shots")
    return SceneRender(
        timeline=timeline,
        clips=(
            ShotClip(shots / "framepack.mp4", False, 72),
            ShotClip(shots / "wan.mp4", False, 40),  # 16 fps for 2.5 s: held frames make up the rest
            ShotClip(shots / "ltx.mp4", False, 96),
        ),
        width=1280,
        height=720,
        lines=(PlacedLine(Path("/data/voices/a.wav"), 0.0), PlacedLine(Path("/data/voices/b.wav"), 113 / 24)),
        music=Path("/data/music/bed.wav"),
        loudness=Loudness(-21.08, -4.64),
    )


def test_the_scene_graph_normalises_joins_places_lines_and_ducks_the_music() -> None:
    expected = [
        "[0:v]fps=24,scale=1280:720:force_original_aspect_ratio=decrease,pad=1280:720:(ow-iw)/2:(oh-ih)/2:"
        "color=black,setsar=1,format=yuv420p,tpad=stop_mode=clone:stop=24,trim=end_frame=72,setpts=PTS-STARTPTS[v0]",
        "[1:v]fps=24,scale=1280:720:force_original_aspect_ratio=decrease,pad=1280:720:(ow-iw)/2:(oh-ih)/2:"
        "color=black,setsar=1,format=yuv420p,tpad=stop_mode=clone:stop=44,trim=end_frame=60,setpts=PTS-STARTPTS[v1]",
        "[2:v]fps=24,scale=1280:720:force_original_aspect_ratio=decrease,pad=1280:720:(ow-iw)/2:(oh-ih)/2:"
        "color=black,setsar=1,format=yuv420p,tpad=stop_mode=clone:stop=24,trim=end_frame=96,setpts=PTS-STARTPTS[v2]",
        "[v0][v1]xfade=transition=dissolve:duration=0.291667:offset=2.708333[vj1]",
        "[vj1][v2]xfade=transition=fadeblack:duration=0.500000:offset=4.708333[vj2]",
        "[vj2]null[vout]",
        "anullsrc=r=48000:cl=stereo,atrim=end=8.708333[base]",
        "[3:a]aresample=48000,aformat=sample_fmts=fltp:channel_layouts=stereo,adelay=delays=0S:all=1[d0]",
        "[4:a]aresample=48000,aformat=sample_fmts=fltp:channel_layouts=stereo,adelay=delays=226000S:all=1[d1]",
        "[d0][d1]amix=inputs=2:duration=longest:normalize=0,apad=whole_dur=8.708333,atrim=end=8.708333,"
        "asplit=2[dialogue][speech]",
        "[5:a]aresample=48000,aformat=sample_fmts=fltp:channel_layouts=stereo,atrim=end=8.708333,"
        "asetpts=PTS-STARTPTS,volume=0.3,afade=t=in:st=0:d=1.000000,afade=t=out:st=6.708333:d=2.000000[music]",
        "[music][speech]sidechaincompress=threshold=0.02:ratio=6:attack=200:release=1000:makeup=1[ducked]",
        "[base][dialogue][ducked]amix=inputs=3:duration=first:normalize=0,volume=3.14dB,"
        "apad=whole_dur=8.708333,atrim=end=8.708333[aout]",
    ]
    assert scene_graph(_three_shots()).split(";") == expected


def test_the_command_maps_both_outputs_loops_the_music_and_writes_a_faststart_mp4() -> None:
    render = _three_shots()
    house = HouseFormat(render.width, render.height, render.timeline.fps, "veryfast", 20)
    args = render_args(render, Path("/data/out.mp4"), house)
    assert args[args.index("-stream_loop") : args.index("-stream_loop") + 4] == [
        "-stream_loop",
        "-1",
        "-i",
        "file:/data/music/bed.wav",
    ]
    assert args.count("-i") == 6
    joined = " ".join(args)
    assert "-map [vout] -map [aout] -c:v libx264 -preset veryfast -crf 20 -profile:v high -pix_fmt yuv420p" in joined
    assert f"-c:a aac -b:a 192k -ar 48000 -ac 2 -metadata comment={house.signature}" in joined
    assert "-movflags +faststart -f mp4 file:/data/out.mp4" in joined
    assert "-shortest" not in args  # the audio is built to the video's exact length instead


def test_the_measuring_pass_runs_only_the_audio_graph() -> None:
    args = measure_args(_three_shots())
    graph = args[args.index("-filter_complex") + 1]
    assert "[vout]" not in graph and "xfade" not in graph
    assert graph.endswith("[mixed]ebur128=peak=true[aout]")
    assert args[-4:] == ["[aout]", "-f", "null", "-"]


def test_shots_with_their_own_sound_are_crossfaded_like_the_pictures() -> None:
    timeline = plan_timeline(FPS, [(2.0, "cut", 0), (2.0, "dissolve", 0.5), (2.0, "cut", 0)])
    render = SceneRender(
        timeline=timeline,
        clips=tuple(ShotClip(Path(f"/s{i}.mp4"), i != 1, 48) for i in range(3)),
        width=640,
        height=360,
    )
    graph = scene_graph(render).split(";")
    assert "[1:a]" not in ";".join(graph)  # the silent shot gets generated silence instead
    assert "anullsrc=r=48000:cl=stereo,atrim=end=2.000000,asetpts=PTS-STARTPTS[a1]" in graph
    assert "[a0][a1]acrossfade=d=0.500000:c1=tri:c2=tri[aj1]" in graph
    assert "[aj1][a2]concat=n=2:v=0:a=1[aj2]" in graph
    assert "[vj1][v2]concat=n=2:v=1:a=0[vj2]" in graph
    # No music and no lines: the shots' sound alone, not normalised (nothing was measured).
    assert graph[-1] == "[base]apad=whole_dur=5.500000,atrim=end=5.500000[aout]"


def test_post_processing_interpolates_then_upscales_within_full_hd() -> None:
    timeline = plan_timeline(FPS, [(2.0, "cut", 0)])
    render = SceneRender(
        timeline=timeline,
        clips=(ShotClip(Path("/a.mp4"), False, 48),),
        width=1280,
        height=720,
        interpolate_fps=60,
        upscale=upscaled_size(1280, 720, 2),
    )
    assert upscaled_size(1280, 720, 2) == (1920, 1080)
    assert upscaled_size(544, 704, 2) == (834, 1080)
    assert (
        "[v0]minterpolate=fps=60:mi_mode=mci:mc_mode=aobmc:me_mode=bidir:vsbmc=1,scale=1920:1080:flags=lanczos[vout]"
        in scene_graph(render).split(";")
    )


def test_the_loudness_summary_is_read_from_the_log_and_silence_measures_as_nothing() -> None:
    log = LoudnessLog()
    lines = [
        "Stream mapping:",
        "[Parsed_ebur128_14 @ 0x55d0] Summary:",
        "",
        "  Integrated loudness:",
        "    I:         -21.1 LUFS",
        "    Threshold: -31.2 LUFS",
        "  True peak:",
        "    Peak:       -4.6 dBFS",
    ]
    assert [log.consume(line) for line in lines] == [False] + [True] * 7
    assert log.measured() == Loudness(-21.1, -4.6)
    assert Loudness(-21.08, -4.64).gain_db(-16) == 3.14  # the peaks have room: the full gain to -16 LUFS
    assert Loudness(-21.08, -1.0).gain_db(-16) == -0.5  # they do not: the gain stops at the -1.5 dBTP ceiling
    silent = LoudnessLog()
    for line in ["[Parsed_ebur128_0 @ 0x1] Summary:", "    I:         -70.0 LUFS", "    Peak:      -inf dBFS"]:
        silent.consume(line)
    assert silent.measured() is None
    with pytest.raises(StudioError, match="could not be read"):
        LoudnessLog().measured()


def test_subtitles_are_timed_wrapped_and_escaped() -> None:
    cues = [
        cue(0.0, 2.345, "The storm is coming to the harbour tonight, so we must leave before dawn", "Mira", 10.0),
        cue(4.7, 0.4, "Go <now> & fast", "", 10.0),
        cue(9.5, 3.0, "Late line", "Jun", 10.0),
    ]
    assert cues[1].end == pytest.approx(5.7)  # on screen at least a second
    assert cues[2].end == 10.0  # never past the scene's end
    srt = to_srt(cues)
    assert srt.startswith(
        "1\n00:00:00,000 --> 00:00:02,345\n"
        "The storm is coming to the harbour\ntonight, so we must leave before dawn\n\n"
    )
    assert "2\n00:00:04,700 --> 00:00:05,700\nGo <now> & fast\n" in srt
    vtt = to_vtt(cues)
    assert vtt.startswith("WEBVTT\n\n00:00:00.000 --> 00:00:02.345\n<v Mira>The storm")
    assert "Go &lt;now&gt; &amp; fast" in vtt
    assert to_vtt([]) == "WEBVTT\n"
    assert Cue(0, 1, "x") == Cue(0, 1, "x", "")
