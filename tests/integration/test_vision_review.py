"""LlmClient and VisionReviewer against the fake Ollama over loopback, on both chat protocols."""

from __future__ import annotations

import base64
import io
import json
from dataclasses import replace
from typing import Any

import httpx
import pytest
from PIL import Image

from services.datasets.vision import ReviewSubject, VisionReviewer
from services.llm import DEFAULT_MAX_TOKENS, ChatMessage, LlmClient, LlmError
from services.prompts.species import BUILTIN_SPECIES_RULES, classify_species
from tests.fakes import FakeOllama
from tests.fakes.ollama import DEFAULT_REVIEW, TEST_API_KEY, LlmServer

MODEL = "gemma3:12b"


def _png(color: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), color).save(buffer, format="PNG")
    return buffer.getvalue()


def _jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (0, 128, 0)).save(buffer, format="JPEG")
    return buffer.getvalue()


IMAGE = _png((200, 30, 30))
REFERENCE = _png((30, 30, 200))

MARIO = ReviewSubject(
    character_name="Mario",
    design_prompt="1man, plumber, red cap, blue overalls, mustache",
    appearance={"species": "human", "gender": "male", "key_colors": {"cap": "red"}, "common_errors": ["green cap"]},
    non_human=False,
    species_rules=(),
    vision_hint="anime illustration",
    threshold_offset=0.0,
)
_KOOPA_SPECIES = "NOT human, koopa turtle"
KOOPA = ReviewSubject(
    character_name="Kamek Jr",
    design_prompt="small koopa with a green shell",
    appearance={"species": _KOOPA_SPECIES},
    non_human=True,
    species_rules=classify_species(_KOOPA_SPECIES, BUILTIN_SPECIES_RULES)[1],
    vision_hint="",
    threshold_offset=0.0,
)


def review_json(**overrides: Any) -> str:
    return json.dumps({**DEFAULT_REVIEW, **overrides})


def sent_images(chat: dict[str, Any], api: str) -> list[bytes]:
    """The images of a recorded chat request, decoded, in order."""
    images: list[bytes] = []
    for message in chat["messages"]:
        if api == "ollama":
            images += [base64.b64decode(item) for item in message.get("images", [])]
        elif isinstance(message["content"], list):
            for part in message["content"]:
                if part["type"] == "image_url":
                    images.append(base64.b64decode(part["image_url"]["url"].split(",", 1)[1]))
    return images


def text_of(message: dict[str, Any]) -> str:
    content = message["content"]
    return content if isinstance(content, str) else " ".join(p["text"] for p in content if p["type"] == "text")


# --- the review ------------------------------------------------------------------------------------


async def test_a_good_image_is_approved_and_the_request_is_protocol_shaped(llm_server: LlmServer) -> None:
    outcome = await VisionReviewer(llm_server.client, MODEL).review(IMAGE, MARIO)
    assert outcome.status == "approved", outcome.reasons
    assert outcome.score == pytest.approx(0.9)
    assert (outcome.attempts, outcome.error, outcome.model) == (1, None, MODEL)
    [chat] = llm_server.fake.chats
    assert chat["model"] == MODEL and chat["stream"] is False
    assert sent_images(chat, llm_server.api) == [IMAGE]
    assert "Character: Mario" in text_of(chat["messages"][0])
    if llm_server.api == "ollama":
        assert chat["options"] == {"temperature": 0.3, "num_predict": 400}
        assert chat["format"]["properties"]["character_match"]["maximum"] == 10
    else:
        assert (chat["temperature"], chat["max_tokens"]) == (0.3, 400)
        assert chat["response_format"]["type"] == "json_schema"
        assert "solo" in chat["response_format"]["json_schema"]["schema"]["required"]
        url = chat["messages"][0]["content"][1]["image_url"]["url"]
        assert url.startswith("data:image/png;base64,")
        [request] = llm_server.fake.requests_to("/v1/chat/completions")
        assert request.headers["authorization"] == f"Bearer {TEST_API_KEY}"


async def test_a_bad_image_is_rejected_with_categories(llm_server: LlmServer) -> None:
    llm_server.fake.replies = [
        review_json(character_match=2, clarity=3, training_value=1, solo=False, issues=["blurry", "extra fingers"])
    ]
    outcome = await VisionReviewer(llm_server.client, MODEL).review(IMAGE, MARIO)
    assert outcome.status == "rejected"
    assert outcome.score == pytest.approx(0.2)
    assert outcome.categories == ["wrong_appearance", "bad_quality", "not_solo", "bad_anatomy"]
    assert "score 0.20 is below the reject threshold 0.40" in outcome.reasons


async def test_an_invalid_reply_is_retried_once_with_what_was_wrong(llm_server: LlmServer) -> None:
    llm_server.fake.replies = ["What a lovely picture of Mario!", review_json()]
    outcome = await VisionReviewer(llm_server.client, MODEL).review(IMAGE, MARIO)
    assert outcome.status == "approved"
    assert outcome.attempts == 2
    _, retry = llm_server.fake.chats
    assert [m["role"] for m in retry["messages"]] == ["user", "assistant", "user"]
    assert text_of(retry["messages"][1]) == "What a lovely picture of Mario!"
    assert "the reply contains no JSON object" in text_of(retry["messages"][2])
    assert sent_images(retry, llm_server.api) == [IMAGE]  # the image still travels with the first turn


async def test_two_invalid_replies_need_a_human(llm_server: LlmServer) -> None:
    llm_server.fake.replies = ['{"character_match": 9}', "```json\n{nope}\n```"]
    outcome = await VisionReviewer(llm_server.client, MODEL).review(IMAGE, MARIO)
    assert outcome.status == "needs_human"
    assert (outcome.score, outcome.verdict, outcome.attempts) == (None, None, 2)
    assert outcome.error is not None
    assert outcome.error.startswith(f"{MODEL} gave no usable review in 2 attempts: the JSON is invalid")
    assert "fields are wrong: is_human: Field required" in text_of(llm_server.fake.chats[1]["messages"][2])
    assert len(llm_server.fake.chats) == 2


async def test_a_reference_image_travels_second(llm_server: LlmServer) -> None:
    await VisionReviewer(llm_server.client, MODEL).review(IMAGE, replace(MARIO, reference=REFERENCE))
    [chat] = llm_server.fake.chats
    assert sent_images(chat, llm_server.api) == [IMAGE, REFERENCE]
    assert "the FIRST is the candidate" in text_of(chat["messages"][0])


async def test_a_creature_that_fails_the_species_question_is_rejected(llm_server: LlmServer) -> None:
    llm_server.fake.replies = [review_json(is_human=False), "No."]
    outcome = await VisionReviewer(llm_server.client, MODEL).review(IMAGE, KOOPA)
    assert outcome.status == "rejected"
    assert outcome.species_ok is False
    assert "wrong_species" in outcome.categories
    _, question = llm_server.fake.chats
    assert "Is the character a Koopa" in text_of(question["messages"][0])
    assert sent_images(question, llm_server.api) == [IMAGE]
    if llm_server.api == "ollama":
        assert question["options"] == {"temperature": 0.1, "num_predict": 30} and "format" not in question
    else:
        assert (question["temperature"], question["max_tokens"]) == (0.1, 30)
        assert "response_format" not in question


async def test_a_creature_that_passes_still_waits_for_a_human(llm_server: LlmServer) -> None:
    llm_server.fake.replies = [review_json(is_human=False), "Yes, it has a shell and a snout."]
    outcome = await VisionReviewer(llm_server.client, MODEL).review(IMAGE, KOOPA)
    assert (outcome.status, outcome.species_ok) == ("pending", True)
    assert "not auto-approved: non-human characters always need a human" in outcome.reasons


async def test_an_unclear_species_answer_is_not_counted_and_says_so(llm_server: LlmServer) -> None:
    llm_server.fake.replies = [review_json(is_human=False), "It has a snout and a nose."]
    outcome = await VisionReviewer(llm_server.client, MODEL).review(IMAGE, KOOPA)
    assert (outcome.status, outcome.species_ok) == ("pending", None)
    assert outcome.reasons[0].startswith("species check answer was unclear ('It has a snout and a nose.')")


async def test_a_server_error_needs_a_human_with_the_servers_words(llm_server: LlmServer) -> None:
    llm_server.fake.fail_with = 500
    outcome = await VisionReviewer(llm_server.client, MODEL).review(IMAGE, MARIO)
    assert outcome.status == "needs_human"
    assert outcome.error is not None
    assert outcome.error.startswith(f"HTTP 500 from {llm_server.fake.url}")
    assert "fake failure 500" in outcome.error


async def test_the_review_reply_may_come_from_a_function(llm_server: LlmServer) -> None:
    llm_server.fake.reply_for = lambda body: review_json(clarity=2, character_match=1, training_value=1)
    outcome = await VisionReviewer(llm_server.client, MODEL).review(IMAGE, MARIO)
    assert outcome.status == "rejected"


# --- the client's failures --------------------------------------------------------------------------


async def test_a_missing_model_says_to_pull_it(llm_server: LlmServer) -> None:
    with pytest.raises(LlmError, match=r"model 'gemma3:27b' is not .* pull it: ollama pull gemma3:27b"):
        await llm_server.client.chat("gemma3:27b", [ChatMessage("user", "hi")])
    outcome = await VisionReviewer(llm_server.client, "gemma3:27b").review(IMAGE, MARIO)
    assert outcome.status == "needs_human"
    assert outcome.error is not None and "ollama pull gemma3:27b" in outcome.error


async def test_a_server_that_is_down_needs_a_human_and_says_to_start_it() -> None:
    fake = FakeOllama()
    url = fake.start()
    fake.stop()
    for api, name in (("ollama", "Ollama"), ("openai", "the OpenAI-compatible server")):
        client = LlmClient(url, api, timeout=5)  # type: ignore[arg-type]
        try:
            outcome = await VisionReviewer(client, MODEL).review(IMAGE, MARIO)
        finally:
            await client.aclose()
        assert outcome.status == "needs_human"
        assert outcome.error == (
            f"connection refused by the LLM server at {url} — is {name} running? start it"
            + (" (ollama serve)" if api == "ollama" else "")
            + " or fix the device's llm_url"
        )
        assert outcome.reasons == [f"the review could not be done, a human decides: {outcome.error}"]


async def test_a_slow_server_times_out_with_a_clear_message(shared_ollama: FakeOllama) -> None:
    shared_ollama.reset()
    shared_ollama.latency = 3.0
    client = LlmClient(shared_ollama.url, "ollama", timeout=0.3)
    try:
        with pytest.raises(LlmError, match=r"did not answer within 0.3 s — the model may still be loading"):
            await client.chat(MODEL, [ChatMessage("user", "hi")])
    finally:
        await client.aclose()
        shared_ollama.reset()


async def test_openai_without_the_key_says_to_set_it_and_a_wrong_key_to_check_it(shared_openai: FakeOllama) -> None:
    shared_openai.reset()
    for key, fix in ((None, "the server wants an API key"), ("sk-wrong", "the API key was refused")):
        client = LlmClient(shared_openai.url + "/v1", "openai", api_key=key)  # the ".../v1" form works too
        try:
            with pytest.raises(LlmError, match=rf"HTTP 401 from {shared_openai.url}/v1/chat/completions: {fix}"):
                await client.chat(MODEL, [ChatMessage("user", "hi")])
        finally:
            await client.aclose()
    assert shared_openai.chats == []


async def test_plain_chat_and_jpeg_data_urls(shared_openai: FakeOllama) -> None:
    shared_openai.reset()
    shared_openai.replies = ["Hello there."]
    client = LlmClient(shared_openai.url, "openai", api_key=TEST_API_KEY)
    try:
        messages = [ChatMessage("system", "Be brief."), ChatMessage("user", "Describe.", (_jpeg(),))]
        assert await client.chat(MODEL, messages) == "Hello there."
    finally:
        await client.aclose()
    [chat] = shared_openai.chats
    assert chat["messages"][0] == {"role": "system", "content": "Be brief."}
    assert chat["messages"][1]["content"][1]["image_url"]["url"].startswith("data:image/jpeg;base64,")
    assert chat["max_tokens"] == DEFAULT_MAX_TOKENS and "response_format" not in chat  # no answer is unbounded


async def test_an_image_in_an_unknown_format_is_refused_before_sending(llm_server: LlmServer) -> None:
    with pytest.raises(LlmError, match="is not PNG, JPEG, WebP or GIF — convert it to PNG first"):
        await llm_server.client.chat(MODEL, [ChatMessage("user", "look", (b"BM\x00\x00not an image",))])
    assert llm_server.fake.chats == []


# --- the fake is as strict as the real servers ---------------------------------------------------


async def test_the_fake_refuses_images_that_are_not_base64_or_data_urls(shared_ollama: FakeOllama) -> None:
    shared_ollama.reset()
    async with httpx.AsyncClient(base_url=shared_ollama.url) as http:
        native = await http.post(
            "/api/chat", json={"model": MODEL, "messages": [{"role": "user", "content": "x", "images": ["%%%"]}]}
        )
        assert native.status_code == 400 and "base64" in native.json()["error"]
        part = {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}
        compatible = await http.post(
            "/v1/chat/completions", json={"model": MODEL, "messages": [{"role": "user", "content": [part]}]}
        )
        assert compatible.status_code == 400
        assert compatible.json()["error"]["message"] == "invalid image input"
        missing = await http.post("/v1/chat/completions", json={"model": "nope:1b", "messages": []})
        assert missing.status_code == 404 and missing.json()["error"]["type"] == "not_found_error"


# --- a model that cannot see is never asked --------------------------------------------------------------


REJECTING = review_json(character_match=1, clarity=2, training_value=1, issues=["wrong outfit"])


@pytest.mark.parametrize("api", ["ollama", "openai"])
async def test_a_text_only_model_is_never_asked_and_the_image_waits_for_a_person(api: str) -> None:
    # The real failure: a server that drops images, a text-only model, an invented verdict that rejected.
    with FakeOllama(models=["qwen2.5:7b"], drops_images=True, reply_for=lambda body: REJECTING) as fake:
        client = LlmClient(fake.url, api)  # type: ignore[arg-type]
        try:
            outcome = await VisionReviewer(client, "qwen2.5:7b").review(IMAGE, MARIO)
        finally:
            await client.aclose()
    assert (outcome.status, outcome.categories, outcome.score, outcome.attempts) == ("needs_human", [], None, 0)
    assert outcome.error == (
        f"qwen2.5:7b cannot see images: Ollama at {fake.url} reports its capabilities as completion, tools, "
        "insert — set STUDIO_VISION_MODEL to a vision model (e.g. gemma3:12b, qwen2.5vl:7b or llava:7b) and pull "
        "it there"
    )
    assert fake.chats == []


@pytest.mark.parametrize(("model", "status"), [("qwen2.5:7b", "needs_human"), ("gemma3:12b", "approved")])
async def test_llama_cpp_says_in_props_whether_its_model_sees(model: str, status: str) -> None:
    # Its Ollama-style /api/show says "completion" for every model: /props is the one to believe.
    with FakeOllama(server="llama.cpp", models=[model], drops_images=True) as fake:
        client = LlmClient(fake.url, "openai")
        try:
            outcome = await VisionReviewer(client, model).review(IMAGE, MARIO)
        finally:
            await client.aclose()
    assert outcome.status == status
    if status == "needs_human":
        assert outcome.error is not None
        assert outcome.error.startswith(f"{model} cannot see images: llama.cpp's server at {fake.url} reports no")
        assert "--mmproj" in outcome.error and fake.chats == []
    else:
        assert not any("not verified" in reason for reason in outcome.reasons)


async def test_a_server_that_reports_nothing_is_trusted_and_the_review_says_it_is_unverified() -> None:
    with FakeOllama(server="other") as fake:
        client = LlmClient(fake.url, "openai")
        try:
            outcome = await VisionReviewer(client, MODEL).review(IMAGE, MARIO)
        finally:
            await client.aclose()
    assert outcome.status == "approved"
    assert outcome.reasons[-1] == (
        f"not verified that {MODEL} sees images: the server at {fake.url} does not report it (llama-cpp-python, "
        "vLLM, LM Studio and older Ollama do not) — make sure STUDIO_VISION_MODEL names a vision model"
    )


async def test_what_the_server_reports_is_remembered(llm_server: LlmServer) -> None:
    reviewer = VisionReviewer(llm_server.client, MODEL)
    for _ in range(3):
        assert (await reviewer.review(IMAGE, MARIO)).status == "approved"
    assert len(llm_server.fake.requests_to("/api/show")) == 1
    assert len(llm_server.fake.chats) == 3


async def test_the_fake_refuses_images_for_a_model_that_cannot_see_unless_it_drops_them() -> None:
    png = base64.b64encode(IMAGE).decode()
    with FakeOllama(models=["qwen2.5:7b"]) as fake:
        async with httpx.AsyncClient(base_url=fake.url) as http:
            message = {"role": "user", "content": "look", "images": [png]}
            body = {"model": "qwen2.5:7b", "messages": [message], "stream": False}
            refused = await http.post("/api/chat", json=body)
            assert refused.status_code == 500
            assert refused.json() == {"error": "this model is missing data required for image input"}
            fake.drops_images = True
            assert (await http.post("/api/chat", json=body)).status_code == 200
            shown = await http.post("/api/show", json={"model": "qwen2.5:7b"})
            assert shown.json()["capabilities"] == ["completion", "tools", "insert"]
            assert (await http.get("/props")).status_code == 404  # Ollama has no /props


# --- answers cut at the token limit --------------------------------------------------------------------------


async def test_a_review_that_rambles_past_its_token_limit_is_asked_again(llm_server: LlmServer) -> None:
    llm_server.fake.replies = ["The image shows " * 200, review_json()]
    outcome = await VisionReviewer(llm_server.client, MODEL).review(IMAGE, MARIO)
    assert (outcome.status, outcome.attempts) == ("approved", 2)
    retry = llm_server.fake.chats[1]["messages"][2]
    assert "the answer stopped at the 400-token limit, so its JSON is incomplete" in text_of(retry)


async def test_a_species_answer_cut_at_its_limit_still_counts_by_its_first_word(llm_server: LlmServer) -> None:
    llm_server.fake.replies = [review_json(is_human=False), "No, " + "it looks like a person in a costume " * 10]
    outcome = await VisionReviewer(llm_server.client, MODEL).review(IMAGE, KOOPA)
    assert (outcome.status, outcome.species_ok) == ("rejected", False)
