"""Character voices: voice profiles, the speech engines (Piper, espeak-ng, voice-cloning servers) and the
cached dialogue lines scene assembly and previews play."""

from services.voice.events import VoiceChanged
from services.voice.lines import (
    CACHE_FOLDER,
    MAX_LINE_CHARS,
    VOICE_JOB,
    DialogueVoices,
    LineRequest,
    VoiceJobHandler,
    clean_line,
)
from services.voice.profile import DEFAULT_PROFILE, ENGINES, VoiceEngine, VoiceProfile
from services.voice.speech import (
    EngineStatus,
    EspeakSpeech,
    HttpVoiceService,
    PiperSpeech,
    Speech,
    SpeechFailed,
)
from services.voice.wav import NotAWav, WavInfo, checked_wav, wav_info

__all__ = [
    "CACHE_FOLDER",
    "DEFAULT_PROFILE",
    "ENGINES",
    "MAX_LINE_CHARS",
    "VOICE_JOB",
    "DialogueVoices",
    "EngineStatus",
    "EspeakSpeech",
    "HttpVoiceService",
    "LineRequest",
    "NotAWav",
    "PiperSpeech",
    "Speech",
    "SpeechFailed",
    "VoiceChanged",
    "VoiceEngine",
    "VoiceJobHandler",
    "VoiceProfile",
    "WavInfo",
    "checked_wav",
    "clean_line",
    "wav_info",
]
