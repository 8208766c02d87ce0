"""Music: the fifteen moods, ACE-Step (its official API server or the earlier wrapper), locally synthesized
temp beds, and each project's music cache with the track every scene plays."""

from services.music.ace_step import (
    AceStepBadReply,
    AceStepClient,
    AceStepError,
    AceStepTaskFailed,
    AceStepTimeout,
    AceStepUnreachable,
)
from services.music.audio import AudioInfo, NotAudio, probe_audio, probe_audio_bytes
from services.music.events import MusicChanged
from services.music.job import MusicJobHandler
from services.music.library import (
    MAX_SECONDS,
    MIN_SECONDS,
    MUSIC_JOB,
    DeletedTrack,
    MusicLibrary,
    MusicRequest,
    SceneMusic,
    track_label,
)
from services.music.moods import DEFAULT_GENRE, DEFAULT_MOOD, MOOD_CAPTIONS, MOODS, caption_for, check_mood, mood_of
from services.music.temp_bed import render_temp_bed

__all__ = [
    "DEFAULT_GENRE",
    "DEFAULT_MOOD",
    "MAX_SECONDS",
    "MIN_SECONDS",
    "MOODS",
    "MOOD_CAPTIONS",
    "MUSIC_JOB",
    "AceStepBadReply",
    "AceStepClient",
    "AceStepError",
    "AceStepTaskFailed",
    "AceStepTimeout",
    "AceStepUnreachable",
    "AudioInfo",
    "DeletedTrack",
    "MusicChanged",
    "MusicJobHandler",
    "MusicLibrary",
    "MusicRequest",
    "NotAudio",
    "SceneMusic",
    "caption_for",
    "check_mood",
    "mood_of",
    "probe_audio",
    "probe_audio_bytes",
    "render_temp_bed",
    "track_label",
]
