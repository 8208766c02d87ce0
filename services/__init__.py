"""Clients of the external services the studio drives: ComfyUI, LLMs, ACE-Step, Echo Brain, Jellyfin."""
