"""The machine tag sources: the generation prompt, a WD14 ONNX tagger in process, ComfyUI's tagger node and the
vision LLM."""

from services.tags.taggers.comfy_wd14 import COMFY_TAG_JOB, WD14_NODE, ComfyTaggingHandler
from services.tags.taggers.llm_tags import ImageDescription, LlmDescription, LlmTagger
from services.tags.taggers.onnx_wd14 import OnnxWd14Tagger, TaggerThresholds
from services.tags.taggers.prompt import image_profile, tags_from_image_prompt

__all__ = [
    "COMFY_TAG_JOB",
    "WD14_NODE",
    "ComfyTaggingHandler",
    "ImageDescription",
    "LlmDescription",
    "LlmTagger",
    "OnnxWd14Tagger",
    "TaggerThresholds",
    "image_profile",
    "tags_from_image_prompt",
]
