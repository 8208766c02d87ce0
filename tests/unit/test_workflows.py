"""ComfyUI graph builders, offline validation, requirements and the node catalogue."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from workflows import (
    ENGINES,
    PLACEHOLDER_CHECKPOINT,
    FramePackRequest,
    Graph,
    GraphProblem,
    ImageRequest,
    IPAdapterRef,
    LoraRef,
    LtxRequest,
    ModelFile,
    NodeCatalog,
    WanRequest,
    build_framepack_workflow,
    build_image_workflow,
    build_ltx_workflow,
    build_wan_workflow,
    engine,
    load_catalog,
    requirements_of,
    validate_graph,
    workflow_hash,
)

ApiGraph = dict[str, dict[str, Any]]


def nodes_of(graph: ApiGraph, class_type: str) -> list[tuple[str, dict[str, Any]]]:
    return [(node_id, node) for node_id, node in graph.items() if node["class_type"] == class_type]


def only(graph: ApiGraph, class_type: str) -> tuple[str, dict[str, Any]]:
    found = nodes_of(graph, class_type)
    assert len(found) == 1, f"expected one {class_type}, found {len(found)}"
    return found[0]


def messages(problems: list[GraphProblem]) -> list[str]:
    return [str(problem) for problem in problems]


# --- builders produce graphs the catalogue accepts ------------------------------------------------------------

BUILT: dict[str, Callable[[], ApiGraph]] = {
    "sd15 default": lambda: build_image_workflow(ImageRequest("sd15", "counterfeit.safetensors")),
    "lora stack of 2": lambda: build_image_workflow(
        ImageRequest("sd15", "c.safetensors", loras=(LoraRef("a_lora.safetensors"), LoraRef("b_lora.safetensors", 0.5)))
    ),
    "ip-adapter": lambda: build_image_workflow(
        ImageRequest("sd15", "c.safetensors", ip_adapter=IPAdapterRef("ref_kai.png"))
    ),
    "v-pred + RescaleCFG": lambda: build_image_workflow(
        ImageRequest("sdxl", "noob-vpred.safetensors", v_prediction=True, rescale_cfg=0.7, width=1024, height=1024)
    ),
    "sdxl": lambda: build_image_workflow(ImageRequest("sdxl", "pony.safetensors", width=1024, height=1024)),
    "sdxl with a VAE": lambda: build_image_workflow(
        ImageRequest("sdxl", "pony.safetensors", width=1024, height=1024, vae="sdxl_vae.safetensors")
    ),
    "framepack": lambda: build_framepack_workflow(FramePackRequest("start.png", "she turns her head")),
    "framepack with negative": lambda: build_framepack_workflow(
        FramePackRequest("start.png", "she turns", negative="blurry", cfg=2.0)
    ),
    "framepack f1": lambda: build_framepack_workflow(FramePackRequest("start.png", "she turns", f1=True)),
    "ltx i2v": lambda: build_ltx_workflow(LtxRequest("a cat walks", image="start.png")),
    "ltx t2v": lambda: build_ltx_workflow(LtxRequest("a cat walks")),
    "wan gguf": lambda: build_wan_workflow(WanRequest("a cat walks")),
    "wan safetensors": lambda: build_wan_workflow(WanRequest("a cat walks", gguf=False)),
    "wan gguf text encoder": lambda: build_wan_workflow(WanRequest("a cat walks", text_encoder="umt5-xxl-Q8_0.gguf")),
}


@pytest.mark.parametrize("name", list(BUILT))
def test_every_builder_variant_validates_cleanly(name: str) -> None:
    assert messages(validate_graph(BUILT[name](), load_catalog())) == []


@pytest.mark.parametrize("workflow", ENGINES, ids=lambda e: e.key)
def test_every_engine_example_validates_cleanly(workflow: Any) -> None:
    assert messages(validate_graph(workflow.example(), load_catalog())) == []


def test_the_engines_are_the_studios_eight() -> None:
    assert [e.key for e in ENGINES] == [
        "sd15_image",
        "sdxl_image",
        "sd15_ip_adapter",
        "framepack",
        "framepack_f1",
        "ltx_i2v",
        "ltx_t2v",
        "wan_t2v",
    ]
    assert engine("framepack_f1").label == "FramePack F1 image-to-video"
    assert {e.key: e.media for e in ENGINES}["sdxl_image"] == "image"
    assert {e.key: e.media for e in ENGINES}["wan_t2v"] == "video"
    assert only(engine("sd15_image").example(), "CheckpointLoaderSimple")[1]["inputs"]["ckpt_name"] == (
        PLACEHOLDER_CHECKPOINT
    )


def test_an_unknown_engine_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match="known engines: sd15_image, sdxl_image"):
        engine("wan22")


# --- what the builders put in the graph -------------------------------------------------------------------------


def test_the_lora_stack_chains_model_and_clip_through_every_lora() -> None:
    graph = BUILT["lora stack of 2"]()
    checkpoint_id, _ = only(graph, "CheckpointLoaderSimple")
    (first_id, first), (second_id, second) = nodes_of(graph, "LoraLoader")
    assert first["inputs"]["model"] == [checkpoint_id, 0]
    assert first["inputs"]["clip"] == [checkpoint_id, 1]
    assert second["inputs"]["model"] == [first_id, 0]
    assert second["inputs"]["clip"] == [first_id, 1]
    assert (first["inputs"]["strength_model"], second["inputs"]["strength_model"]) == (0.8, 0.5)
    assert [node["inputs"]["clip"] for _, node in nodes_of(graph, "CLIPTextEncode")] == [[second_id, 1]] * 2
    assert only(graph, "KSampler")[1]["inputs"]["model"] == [second_id, 0]


def test_a_vae_decodes_instead_of_the_checkpoints_own() -> None:
    graph = BUILT["sdxl with a VAE"]()
    vae_id, vae = only(graph, "VAELoader")
    assert vae["inputs"]["vae_name"] == "sdxl_vae.safetensors"
    assert only(graph, "VAEDecode")[1]["inputs"]["vae"] == [vae_id, 0]
    needs = requirements_of(graph, load_catalog())
    assert ("vae", "sdxl_vae.safetensors") in [(file.folder, file.name) for file in needs.models]

    own = BUILT["sdxl"]()
    assert nodes_of(own, "VAELoader") == []
    assert only(own, "VAEDecode")[1]["inputs"]["vae"] == [only(own, "CheckpointLoaderSimple")[0], 2]
    with pytest.raises(ValueError, match="vae"):
        ImageRequest("sdxl", "pony.safetensors", vae=" ")


def test_v_prediction_and_rescale_cfg_patch_the_model_in_order() -> None:
    graph = BUILT["v-pred + RescaleCFG"]()
    sampling_id, sampling = only(graph, "ModelSamplingDiscrete")
    rescale_id, rescale = only(graph, "RescaleCFG")
    assert sampling["inputs"]["sampling"] == "v_prediction"
    assert sampling["inputs"]["zsnr"] is True
    assert rescale["inputs"]["model"] == [sampling_id, 0]
    assert rescale["inputs"]["multiplier"] == 0.7
    assert only(graph, "KSampler")[1]["inputs"]["model"] == [rescale_id, 0]


def test_ip_adapter_uses_the_unified_loader_without_a_separate_clip_vision_loader() -> None:
    graph = BUILT["ip-adapter"]()
    loader_id, loader = only(graph, "IPAdapterUnifiedLoader")
    apply_id, apply = only(graph, "IPAdapterAdvanced")
    image_id, image = only(graph, "LoadImage")
    assert nodes_of(graph, "CLIPVisionLoader") == []
    assert loader["inputs"]["preset"] == "PLUS (high strength)"
    assert loader["_meta"]["architecture"] == "sd15"
    assert image["inputs"]["image"] == "ref_kai.png"
    assert apply["inputs"]["ipadapter"] == [loader_id, 1]
    assert apply["inputs"]["image"] == [image_id, 0]
    assert (apply["inputs"]["weight"], apply["inputs"]["end_at"], apply["inputs"]["embeds_scaling"]) == (
        0.95,
        0.85,
        "K+V",
    )
    assert only(graph, "KSampler")[1]["inputs"]["model"] == [apply_id, 0]


def test_the_image_graph_ends_in_save_image_with_the_requested_prefix() -> None:
    graph = build_image_workflow(ImageRequest("sd15", "c.safetensors", seed=42, filename_prefix="kai/portrait"))
    sampler = only(graph, "KSampler")[1]["inputs"]
    assert (sampler["seed"], sampler["steps"], sampler["cfg"], sampler["sampler_name"], sampler["scheduler"]) == (
        42,
        25,
        7.0,
        "dpmpp_2m",
        "karras",
    )
    assert only(graph, "SaveImage")[1]["inputs"]["filename_prefix"] == "kai/portrait"


def test_framepack_uses_the_earlier_systems_settings() -> None:
    graph = BUILT["framepack"]()
    assert only(graph, "LoadFramePackModel")[1]["inputs"]["model"] == "FramePackI2V_HY_fp8_e4m3fn.safetensors"
    scale = only(graph, "ImageScale")[1]["inputs"]
    assert (scale["width"], scale["height"], scale["upscale_method"], scale["crop"]) == (544, 704, "lanczos", "center")
    sampler = only(graph, "FramePackSampler")[1]["inputs"]
    assert {key: sampler[key] for key in ("teacache_rel_l1_thresh", "cfg", "guidance_scale", "shift")} == {
        "teacache_rel_l1_thresh": 0.15,
        "cfg": 1.0,
        "guidance_scale": 10.0,
        "shift": 0.0,
    }
    assert (sampler["latent_window_size"], sampler["total_second_length"], sampler["sampler"]) == (9, 5.0, "unipc_bh1")
    assert sampler["gpu_memory_preservation"] == 6.0
    zero_id, _ = only(graph, "ConditioningZeroOut")
    assert sampler["negative"] == [zero_id, 0]
    decode = only(graph, "VAEDecodeTiled")[1]["inputs"]
    assert [decode[k] for k in ("tile_size", "overlap", "temporal_size", "temporal_overlap")] == [256, 64, 64, 8]
    video = only(graph, "VHS_VideoCombine")[1]["inputs"]
    assert (video["frame_rate"], video["format"], video["pix_fmt"], video["crf"]) == (
        30,
        "video/h264-mp4",
        "yuv420p",
        19,
    )


def test_framepack_f1_uses_the_f1_model_and_the_dedicated_f1_nodes() -> None:
    graph = BUILT["framepack f1"]()
    assert only(graph, "LoadFramePackModel")[1]["inputs"]["model"] == (
        "FramePack_F1_I2V_HY_20250503_fp8_e4m3fn.safetensors"
    )
    assert nodes_of(graph, "FramePackSampler") == []
    text_id, text = only(graph, "FramePackTimestampedTextEncode")
    sampler = only(graph, "FramePackSampler_F1")[1]["inputs"]
    assert text["inputs"]["total_second_length"] == 5.0
    assert sampler["positive_timed_data"] == [text_id, 0]
    assert sampler["negative"] == [text_id, 1]
    assert sampler["start_latent"] == [only(graph, "VAEEncode")[0], 0]
    assert sampler["start_image_embeds"] == [only(graph, "CLIPVisionEncode")[0], 0]


def test_ltx_image_to_video_conditions_on_the_start_image() -> None:
    graph = BUILT["ltx i2v"]()
    to_video_id, to_video = only(graph, "LTXVImgToVideo")
    assert (to_video["inputs"]["width"], to_video["inputs"]["height"], to_video["inputs"]["length"]) == (512, 320, 65)
    assert only(graph, "LTXVConditioning")[1]["inputs"]["positive"] == [to_video_id, 0]
    assert only(graph, "SamplerCustomAdvanced")[1]["inputs"]["latent_image"] == [to_video_id, 2]
    assert nodes_of(graph, "EmptyLTXVLatentVideo") == []
    scheduler = only(graph, "LTXVScheduler")[1]["inputs"]
    assert [scheduler[k] for k in ("max_shift", "base_shift", "stretch", "terminal")] == [2.05, 0.95, True, 0.1]
    assert only(graph, "CFGGuider")[1]["inputs"]["cfg"] == 3.5
    assert only(graph, "CLIPLoader")[1]["inputs"]["type"] == "ltxv"


def test_ltx_text_to_video_starts_from_an_empty_latent() -> None:
    graph = BUILT["ltx t2v"]()
    latent_id, _ = only(graph, "EmptyLTXVLatentVideo")
    assert nodes_of(graph, "LoadImage") == []
    assert only(graph, "SamplerCustomAdvanced")[1]["inputs"]["latent_image"] == [latent_id, 0]


def test_wan_picks_the_loader_for_the_model_format() -> None:
    gguf = BUILT["wan gguf"]()
    safetensors = BUILT["wan safetensors"]()
    assert only(gguf, "UnetLoaderGGUF")[1]["inputs"]["unet_name"] == "Wan2.1-T2V-1.3B-Q8_0.gguf"
    assert nodes_of(gguf, "UNETLoader") == []
    assert only(safetensors, "UNETLoader")[1]["inputs"]["unet_name"] == "wan2.1_t2v_1.3B_fp16.safetensors"
    assert only(gguf, "ModelSamplingSD3")[1]["inputs"]["shift"] == 8.0
    sampler = only(gguf, "KSampler")[1]["inputs"]
    assert (sampler["sampler_name"], sampler["scheduler"], sampler["steps"], sampler["cfg"]) == (
        "uni_pc",
        "simple",
        30,
        6,
    )
    latent = only(gguf, "EmptyHunyuanLatentVideo")[1]["inputs"]
    assert (latent["width"], latent["height"], latent["length"]) == (480, 720, 81)
    assert only(BUILT["wan gguf text encoder"](), "CLIPLoaderGGUF")[1]["inputs"]["type"] == "wan"


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: ImageRequest("sd3", "c"), "architecture must be one of sd15, sdxl"),  # type: ignore[arg-type]
        (lambda: ImageRequest("sd15", "c", width=500), "width must be a multiple of 8"),
        (lambda: ImageRequest("sd15", "c", seed=-1), "seed must be between 0"),
        (lambda: ImageRequest("sd15", "c", rescale_cfg=1.5), "rescale_cfg must be between 0.0 and 1.0"),
        (lambda: ImageRequest("sdxl", "c", ip_adapter=IPAdapterRef("r.png")), "IP-Adapter is only set up for SD 1.5"),
        (lambda: ImageRequest("sd15", " "), "checkpoint must not be empty"),
        (lambda: FramePackRequest("a.png", "p", seconds=0.5), "seconds must be between 1.0 and 120.0"),
        (lambda: FramePackRequest("a.png", "p", width=540), "width must be a multiple of 16"),
        (lambda: LtxRequest("p", frames=64), r"frames must be 8\*k \+ 1"),
        (lambda: LtxRequest("p", width=500), "width must be a multiple of 32"),
        (lambda: WanRequest("p", frames=80), r"frames must be 4\*k \+ 1"),
        (lambda: WanRequest("p", height=100), "height must be a multiple of 16"),
    ],
)
def test_requests_refuse_arguments_the_nodes_cannot_take(make: Callable[[], object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make()


# --- the validator ----------------------------------------------------------------------------------------------


def small_graph() -> ApiGraph:
    return {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "model.safetensors"}},
        "2": {"class_type": "EmptyLatentImage", "inputs": {"width": 512, "height": 512, "batch_size": 1}},
        "3": {"class_type": "VAEDecode", "inputs": {"samples": ["2", 0], "vae": ["1", 2]}},
        "4": {"class_type": "SaveImage", "inputs": {"images": ["3", 0], "filename_prefix": "x"}},
    }


def problems_after(change: Callable[[ApiGraph], None], **options: Any) -> list[GraphProblem]:
    graph = small_graph()
    change(graph)
    return validate_graph(graph, load_catalog(), **options)


def test_the_small_graph_is_valid() -> None:
    assert validate_graph(small_graph(), load_catalog()) == []


def test_an_unknown_class_is_reported_and_its_inputs_skipped() -> None:
    problems = problems_after(lambda g: g["2"].update(class_type="NoSuchNode"))
    assert messages(problems) == ["node 2 (NoSuchNode): unknown node type 'NoSuchNode'"]


def test_a_graph_without_an_output_node_is_reported() -> None:
    problems = problems_after(lambda g: g.pop("4"))
    assert problems == [
        GraphProblem(None, None, None, "the graph has no output node (such as SaveImage or VHS_VideoCombine)")
    ]
    assert str(problems[0]).startswith("graph: the graph has no output node")


def test_a_missing_required_input_is_reported() -> None:
    problems = problems_after(lambda g: g["4"]["inputs"].pop("filename_prefix"))
    assert problems == [GraphProblem("4", "SaveImage", "filename_prefix", "required input is missing")]


def test_a_literal_for_a_link_input_is_reported() -> None:
    problems = problems_after(lambda g: g["3"]["inputs"].update(vae="vae.safetensors"))
    assert messages(problems) == [
        "node 3 (VAEDecode) input 'vae': expects a link to a VAE output, got the literal 'vae.safetensors'"
    ]


def test_a_link_of_the_wrong_type_is_reported() -> None:
    problems = problems_after(lambda g: g["4"]["inputs"].update(images=["2", 0]))
    assert messages(problems) == [
        "node 4 (SaveImage) input 'images': expects IMAGE, but node 2 (EmptyLatentImage) output 0 is LATENT"
    ]


@pytest.mark.parametrize(
    ("link", "message"),
    [
        (["9", 0], "links to node 9, which is not in the graph"),
        (["1", 5], "links to output 5 of node 1 (CheckpointLoaderSimple), which has 3 outputs"),
        (["1"], "a link must be [node_id, output_index], got ['1']"),
        ([1, 2], "a link names its node by id string, got 1"),
        (["1", "2"], "a link's output index must be an integer, got '2'"),
    ],
)
def test_broken_links_are_reported(link: list[Any], message: str) -> None:
    problems = problems_after(lambda g: g["3"]["inputs"].update(vae=link))
    assert problems == [GraphProblem("3", "VAEDecode", "vae", message)]


def test_a_link_into_a_primitive_input_must_carry_that_type() -> None:
    def link_width(graph: ApiGraph, source: list[Any]) -> None:
        graph["5"] = {"class_type": "FramePackFindNearestBucket", "inputs": {"image": ["3", 0], "base_resolution": 640}}
        graph["2"]["inputs"]["width"] = source

    assert problems_after(lambda g: link_width(g, ["5", 0])) == []
    assert messages(problems_after(lambda g: link_width(g, ["1", 0]))) == [
        "node 2 (EmptyLatentImage) input 'width': expects INT, but node 1 (CheckpointLoaderSimple) output 0 is MODEL"
    ]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (8, "8 is smaller than the minimum 16"),
        (99999, "99999 is bigger than the maximum 16384"),
        ("abc", "expects a whole number, got 'abc'"),
        (512.5, "expects a whole number, got 512.5"),
        (True, "expects a whole number, got True"),
    ],
)
def test_int_inputs_are_converted_and_range_checked(value: Any, message: str) -> None:
    problems = problems_after(lambda g: g["2"]["inputs"].update(width=value))
    assert problems == [GraphProblem("2", "EmptyLatentImage", "width", message)]


def test_int_inputs_accept_what_the_server_converts_exactly() -> None:
    assert problems_after(lambda g: g["2"]["inputs"].update(width="512", height=512.0)) == []


def test_float_boolean_and_fixed_choice_inputs_are_checked_on_built_graphs() -> None:
    graph = BUILT["sd15 default"]()
    sampler = only(graph, "KSampler")[1]
    sampler["inputs"].update(cfg=101, sampler_name="nope", denoise="full")
    found = {problem.input_name: problem.message for problem in validate_graph(graph, load_catalog())}
    assert found["cfg"] == "101.0 is bigger than the maximum 100.0"
    assert found["denoise"] == "expects a number, got 'full'"
    assert found["sampler_name"].startswith("'nope' is not one of ['euler', 'euler_cfg_pp',")
    assert found["sampler_name"].endswith("(42 choices)")

    video = BUILT["wan gguf"]()
    video_id, combine = only(video, "VHS_VideoCombine")
    combine["inputs"]["pingpong"] = "false"
    assert validate_graph(video, load_catalog()) == [
        GraphProblem(video_id, "VHS_VideoCombine", "pingpong", "expects true or false, got 'false'")
    ]


def test_choices_of_v3_nodes_are_checked_although_the_server_does_not() -> None:
    graph: ApiGraph = {
        "1": {"class_type": "LoadVideo", "inputs": {"file": "clip.mp4"}},
        "2": {
            "class_type": "SaveVideo",
            "inputs": {"video": ["1", 0], "filename_prefix": "v", "format": "avi", "codec": "auto"},
        },
    }
    assert messages(validate_graph(graph, load_catalog())) == [
        "node 2 (SaveVideo) input 'format': 'avi' is not one of ['auto', 'mp4'] "
        "(ComfyUI would accept it and fail only while running)"
    ]


def test_model_files_are_checked_only_when_the_servers_folders_are_given() -> None:
    assert problems_after(lambda g: None) == []
    missing = problems_after(lambda g: None, models={"checkpoints": ["other.safetensors"]})
    assert missing == [
        GraphProblem(
            "1", "CheckpointLoaderSimple", "ckpt_name", "model file 'model.safetensors' is not installed in checkpoints"
        )
    ]
    assert problems_after(lambda g: None, models={"checkpoints": ["model.safetensors"]}) == []


def test_file_inputs_honour_fixed_extras_and_multiple_folders() -> None:
    graph = BUILT["wan gguf text encoder"]()
    only(graph, "VAELoader")[1]["inputs"]["vae_name"] = "pixel_space"
    models = {
        "unet_gguf": ["Wan2.1-T2V-1.3B-Q8_0.gguf"],
        "text_encoders": ["umt5-xxl-Q8_0.gguf"],  # CLIPLoaderGGUF lists clip_gguf and text_encoders
    }
    assert messages(validate_graph(graph, load_catalog(), models=models)) == []


def test_input_images_are_checked_against_the_input_folder_when_given() -> None:
    graph = BUILT["ltx i2v"]()
    image_id, image = only(graph, "LoadImage")
    catalog = load_catalog()
    assert validate_graph(graph, catalog) == []
    assert messages(validate_graph(graph, catalog, input_files=["other.png"])) == [
        f"node {image_id} (LoadImage) input 'image': 'start.png' is not in ComfyUI's input folder"
    ]
    assert validate_graph(graph, catalog, input_files=["start.png"]) == []
    image["inputs"]["image"] = "start.png [input]"
    assert validate_graph(graph, catalog, input_files=["start.png"]) == []
    image["inputs"]["image"] = "kai_00001_.png [output]"  # another directory: the input list says nothing
    assert validate_graph(graph, catalog, input_files=["start.png"]) == []


def test_video_combine_needs_the_extra_inputs_of_its_format() -> None:
    graph = BUILT["framepack"]()
    video_id, video = only(graph, "VHS_VideoCombine")
    del video["inputs"]["crf"]
    video["inputs"]["pix_fmt"] = "rgb24"
    assert validate_graph(graph, load_catalog()) == [
        GraphProblem(video_id, "VHS_VideoCombine", "pix_fmt", "'rgb24' is not one of ['yuv420p', 'yuv420p10le']"),
        GraphProblem(video_id, "VHS_VideoCombine", "crf", "format 'video/h264-mp4' needs this input"),
    ]
    video["inputs"].update(format="image/gif", crf=19, pix_fmt="yuv420p")
    assert validate_graph(graph, load_catalog()) == []  # gif has no extras; unknown keys are ignored


def test_ui_workflow_json_is_refused() -> None:
    problems = validate_graph({"last_node_id": 3, "nodes": [], "links": []}, load_catalog())
    assert messages(problems) == ["graph: this is the UI workflow format; ComfyUI accepts only the API format"]


# --- requirements -----------------------------------------------------------------------------------------------


def test_requirements_list_classes_files_and_ip_adapter_patterns() -> None:
    graph = build_image_workflow(
        ImageRequest(
            "sd15",
            "counterfeit.safetensors",
            loras=(LoraRef("kai_lora.safetensors"), LoraRef("kai_lora.safetensors", 0.4)),
            ip_adapter=IPAdapterRef("ref_kai.png"),
        )
    )
    needs = requirements_of(graph, load_catalog())
    assert needs.nodes == (
        "CLIPTextEncode",
        "CheckpointLoaderSimple",
        "EmptyLatentImage",
        "IPAdapterAdvanced",
        "IPAdapterUnifiedLoader",
        "KSampler",
        "LoadImage",
        "LoraLoader",
        "SaveImage",
        "VAEDecode",
    )
    assert needs.models == (
        ModelFile("checkpoints", "counterfeit.safetensors", "CheckpointLoaderSimple", "ckpt_name"),
        ModelFile("loras", "kai_lora.safetensors", "LoraLoader", "lora_name"),
    )
    vision, adapter = needs.patterns
    assert (vision.folder, adapter.folder) == ("clip_vision", "ipadapter")
    assert vision.matches("CLIP-ViT-H-14-laion2B-s32B-b79K.safetensors")
    assert not vision.matches("CLIP-ViT-bigG-14-laion2B-39B-b160k.safetensors")
    assert adapter.matches("ip-adapter-plus_sd15.safetensors")
    assert adapter.matches("sd15/IP-Adapter-Plus_SD15.bin")
    assert not adapter.matches("ip-adapter-plus_sdxl_vit-h.safetensors")
    assert not adapter.matches("ip-adapter_sd15.safetensors")
    assert adapter.example == "ip-adapter-plus_sd15.safetensors"


def ip_adapter_graph(preset: str, meta: dict[str, str]) -> ApiGraph:
    return {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "x.safetensors"}},
        "2": {"class_type": "IPAdapterUnifiedLoader", "inputs": {"model": ["1", 0], "preset": preset}, "_meta": meta},
    }


def test_ip_adapter_file_patterns_follow_the_recorded_architecture() -> None:
    sdxl = requirements_of(ip_adapter_graph("STANDARD (medium strength)", {"architecture": "sdxl"}), load_catalog())
    adapter = sdxl.patterns[1]
    assert adapter.matches("ip-adapter_sdxl_vit-h.safetensors")
    assert not adapter.matches("ip-adapter_sd15.safetensors")
    sdxl_plus = requirements_of(ip_adapter_graph("PLUS (high strength)", {"architecture": "sdxl"}), load_catalog())
    assert sdxl_plus.patterns[1].matches("ip-adapter-plus_sdxl_vit-h.safetensors")
    assert sdxl_plus.patterns[0].matches("CLIP-ViT-H-14-laion2B-s32B-b79K.safetensors")

    unrecorded = requirements_of(ip_adapter_graph("PLUS (high strength)", {}), load_catalog()).patterns[1]
    assert unrecorded.matches("ip-adapter-plus_sd15.safetensors")
    assert unrecorded.matches("ip-adapter-plus_sdxl_vit-h.safetensors")
    assert "architecture not recorded" in unrecorded.why

    with pytest.raises(ValueError, match="no model for architecture 'sdxl'"):
        requirements_of(ip_adapter_graph("LIGHT - SD1.5 only (low strength)", {"architecture": "sdxl"}), load_catalog())


def test_requirements_skip_fixed_extras_and_use_the_first_folder() -> None:
    graph = BUILT["wan gguf text encoder"]()
    only(graph, "VAELoader")[1]["inputs"]["vae_name"] = "pixel_space"
    assert [(m.folder, m.name) for m in requirements_of(graph, load_catalog()).models] == [
        ("unet_gguf", "Wan2.1-T2V-1.3B-Q8_0.gguf"),
        ("clip_gguf", "umt5-xxl-Q8_0.gguf"),
    ]


# --- graph building and hashing ---------------------------------------------------------------------------------


def test_the_graph_builder_numbers_nodes_and_serialises_links() -> None:
    graph = Graph()
    loader = graph.add("CheckpointLoaderSimple", ckpt_name="m.safetensors")
    graph.add("VAEDecode", "Decode", samples=loader.out(0), vae=loader[2], weird=[1, 2])
    assert graph.to_api() == {
        "1": {
            "class_type": "CheckpointLoaderSimple",
            "inputs": {"ckpt_name": "m.safetensors"},
            "_meta": {"title": "CheckpointLoaderSimple"},
        },
        "2": {
            "class_type": "VAEDecode",
            "inputs": {"samples": ["1", 0], "vae": ["1", 2], "weird": {"__value__": [1, 2]}},
            "_meta": {"title": "Decode"},
        },
    }


def test_the_workflow_hash_ignores_key_order_and_titles_but_not_inputs() -> None:
    graph = BUILT["sd15 default"]()
    shuffled = {node_id: dict(reversed(list(node.items()))) for node_id, node in reversed(list(graph.items()))}
    for node in shuffled.values():
        node["_meta"] = {"title": "renamed"}
    assert workflow_hash(shuffled) == workflow_hash(graph)
    assert len(workflow_hash(graph)) == 64
    reseeded = copy.deepcopy(graph)
    only(reseeded, "KSampler")[1]["inputs"]["seed"] = 1
    assert workflow_hash(reseeded) != workflow_hash(graph)


# --- catalogues -------------------------------------------------------------------------------------------------


def test_the_bundled_catalogue_has_the_reference_specs_and_the_extras() -> None:
    catalog = load_catalog()
    assert catalog is load_catalog()
    assert len(catalog) == 96
    assert catalog["RescaleCFG"].constraints["multiplier"] == {"default": 0.7, "min": 0.0, "max": 1.0, "step": 0.01}
    assert catalog["ModelSamplingDiscrete"].required["sampling"] == ["eps", "v_prediction", "lcm", "x0", "img_to_img"]
    assert catalog.package_of("KSampler") == "core"
    assert catalog.package_of("VHS_VideoCombine") == "Kosinkadink/ComfyUI-VideoHelperSuite"
    assert catalog.package_of("FramePackSampler_F1") == "ShmuelRonen/ComfyUI-FramePackWrapper_Plus"
    assert catalog.package_of("WD14Tagger|pysssss") == "pythongosssss/ComfyUI-WD14-Tagger"


OBJECT_INFO: dict[str, Any] = {
    "ImageScale": {
        "input": {
            "required": {
                "image": ["IMAGE"],
                "upscale_method": [["nearest-exact", "lanczos"], {}],
                "width": ["INT", {"default": 512, "min": 0, "max": 16384, "step": 1}],
                "height": ["INT", {"default": 512, "min": 0, "max": 16384, "step": 1}],
                "crop": [["disabled", "center"]],
            }
        },
        "output": ["IMAGE"],
        "output_name": ["IMAGE"],
        "output_node": False,
        "python_module": "nodes",
    },
    "LoadImage": {
        "input": {"required": {"image": [["start.png", "ref.png"], {"image_upload": True}]}},
        "output": ["IMAGE", "MASK"],
        "output_name": ["IMAGE", "MASK"],
        "output_node": False,
        "python_module": "nodes",
    },
    "SaveVideo": {
        "input": {
            "required": {
                "video": ["VIDEO", {}],
                "filename_prefix": ["STRING", {"default": "video/ComfyUI"}],
                "format": ["COMBO", {"options": ["auto", "mp4"], "default": "auto"}],
                "codec": ["COMBO", {"options": ["auto", "h264"], "default": "auto"}],
            },
            "hidden": {"prompt": "PROMPT"},
        },
        "output": [],
        "output_name": [],
        "output_node": True,
        "python_module": "comfy_extras.nodes_video",
        "deprecated": False,
        "experimental": False,
        "api_node": False,
    },
    "VHS_VideoCombine": {
        "input": {
            "required": {
                "images": ["IMAGE"],
                "frame_rate": ["FLOAT", {"default": 8, "min": 1, "step": 1}],
                "format": [
                    ["image/gif", "video/h264-mp4"],
                    {
                        "formats": {
                            "video/h264-mp4": [
                                ["pix_fmt", ["yuv420p", "yuv420p10le"]],
                                ["crf", "INT", {"default": 19, "min": 0, "max": 100, "step": 1}],
                            ]
                        }
                    },
                ],
            }
        },
        "output": ["VHS_FILENAMES"],
        "output_name": ["Filenames"],
        "output_node": True,
        "python_module": "custom_nodes.comfyui-videohelpersuite",  # registry installs use lower-case folders
    },
    "FramePackSampler": {
        "input": {"required": {"model": ["FramePackMODEL"]}},
        "output": ["LATENT"],
        "output_name": ["samples"],
        "output_node": False,
        "python_module": "custom_nodes.ComfyUI-FramePackWrapper_Plus",
    },
    "UnetLoaderGGUF": {
        "input": {"required": {"unet_name": [["wan.gguf"]]}},
        "output": ["MODEL"],
        "output_name": ["MODEL"],
        "output_node": False,
        "python_module": "custom_nodes.gguf-renamed",
    },
    "MyNode": {
        "input": {"required": {"mode": ["COMBO", {"remote": {"route": "/x"}}]}},
        "output": [["a", "b"]],
        "output_name": ["mode"],
        "output_node": False,
        "python_module": "custom_nodes.my-pack",
    },
}


def test_object_info_converts_to_the_same_spec_form() -> None:
    catalog = NodeCatalog.from_object_info(OBJECT_INFO)
    scale = catalog["ImageScale"]
    assert scale.required["upscale_method"] == ["nearest-exact", "lanczos"]
    assert scale.required["image"] == "IMAGE"
    assert scale.constraints["width"] == {"default": 512, "min": 0, "max": 16384, "step": 1}
    assert "crop" not in scale.constraints
    assert (scale.schema, scale.source, scale.outputs) == ("v1", "core", ("IMAGE",))
    assert catalog["LoadImage"].required["image"] == ["start.png", "ref.png"]
    save = catalog["SaveVideo"]
    assert (save.required["format"], save.schema, save.output_node) == (["auto", "mp4"], "v3", True)
    assert "prompt" not in save.required and "prompt" not in save.optional
    assert catalog["VHS_VideoCombine"].format_extra_inputs == {
        "video/h264-mp4": {
            "pix_fmt": {"type": "COMBO", "choices": ["yuv420p", "yuv420p10le"]},
            "crf": {"type": "INT", "default": 19, "min": 0, "max": 100, "step": 1},
        }
    }
    assert catalog.package_of("VHS_VideoCombine") == "Kosinkadink/ComfyUI-VideoHelperSuite"
    assert catalog.package_of("FramePackSampler") == "ShmuelRonen/ComfyUI-FramePackWrapper_Plus"
    assert catalog.package_of("UnetLoaderGGUF") == "city96/ComfyUI-GGUF"
    assert catalog.package_of("MyNode") == "my-pack"
    assert (catalog["MyNode"].required["mode"], catalog["MyNode"].outputs) == ("COMBO", ("COMBO",))


def test_a_live_catalogue_validates_like_the_bundled_one() -> None:
    catalog = NodeCatalog.from_object_info(OBJECT_INFO)
    graph: ApiGraph = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "gone.png"}},
        "2": {
            "class_type": "ImageScale",
            "inputs": {"image": ["1", 0], "upscale_method": "lanczos", "width": -1, "height": 64, "crop": "center"},
        },
        "3": {
            "class_type": "VHS_VideoCombine",
            "inputs": {"images": ["2", 0], "frame_rate": 8, "format": "video/h264-mp4"},
        },
    }
    assert messages(validate_graph(graph, catalog)) == [
        "node 1 (LoadImage) input 'image': 'gone.png' is not one of ['start.png', 'ref.png']",
        "node 2 (ImageScale) input 'width': -1 is smaller than the minimum 0",
        "node 3 (VHS_VideoCombine) input 'pix_fmt': format 'video/h264-mp4' needs this input",
        "node 3 (VHS_VideoCombine) input 'crf': format 'video/h264-mp4' needs this input",
    ]
