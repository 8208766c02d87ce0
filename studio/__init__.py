"""Anime Studio core: settings, secrets, storage, events, auth and the composition root."""

__version__ = "0.1.0"
