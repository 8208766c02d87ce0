"""Voice samples: speech found in videos and recordings, grouped by speaker, approved per character as the
references and training data of their cloned voices. (`services/voice` speaks the characters' lines.)"""

from services.voice_samples.chain import ChainOptions, ChainResult, FoundSegment, VoiceFinder
from services.voice_samples.embedding import Embedder, SpeakerEmbedder

# The store, the service and the jobs (helper B's part).
from services.voice_samples.events import VoiceSamplesChanged
from services.voice_samples.samples import VoiceSamples
from services.voice_samples.sources import VOICE_INGEST_JOB, FolderSources, VoiceSources
from services.voice_samples.views import (
    CharacterSamples,
    DecisionChange,
    SegmentChanges,
    SegmentView,
    SpeakerView,
)
from services.voice_samples.whisper import whisper_model_folder

__all__ = [
    "VOICE_INGEST_JOB",
    "ChainOptions",
    "ChainResult",
    "CharacterSamples",
    "DecisionChange",
    "Embedder",
    "FolderSources",
    "FoundSegment",
    "SegmentChanges",
    "SegmentView",
    "SpeakerEmbedder",
    "SpeakerView",
    "VoiceFinder",
    "VoiceSamples",
    "VoiceSamplesChanged",
    "VoiceSources",
    "whisper_model_folder",
]
