"""ComfyUI API-format graph builders, one module per engine, validated offline against node specs.

The package is part of the layout fixed by the design card; the builders arrive with the
generation backbone (image generation, FramePack, LTX-Video, Wan 2.1).
"""
