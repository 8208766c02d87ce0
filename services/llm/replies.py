"""Reading JSON answers from a model: tolerant of ``` fences and chatter around the JSON, strict about fields.

Servers that honour a JSON schema still wrap answers now and then, and servers that do not add prose; the
problems found are phrased so they can be sent back to the model when it is asked again.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from services.llm.client import AnswerCut, ChatMessage, LlmClient

log = logging.getLogger(__name__)

_FENCE = re.compile(r"```(?:json)?", re.IGNORECASE)
Model = TypeVar("Model", bound=BaseModel)


class ReplyError(ValueError):
    """A reply that is not the JSON asked for; `problems` say what was wrong, one sentence each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def extract_json(reply: str, *, arrays: bool = False) -> Any:
    """The first JSON object (or array, with `arrays`) in a reply. ReplyError when there is none or it is cut."""
    text = _FENCE.sub("", reply)
    starts = [i for i in (text.find("{"), text.find("[") if arrays else -1) if i >= 0]
    if not starts:
        raise ReplyError(["the reply contains no JSON object"])
    try:
        data, _ = json.JSONDecoder().raw_decode(text[min(starts) :])
    except json.JSONDecodeError as exc:
        raise ReplyError([f"the JSON is invalid ({exc.msg} at character {exc.pos})"]) from exc
    return data


def field_problems(exc: ValidationError) -> list[str]:
    """One 'where: what' sentence per validation error."""
    return [f"{'.'.join(str(part) for part in error['loc']) or 'object'}: {error['msg']}" for error in exc.errors()]


def parse_reply(reply: str, model: type[Model]) -> Model:
    """The reply's JSON object validated as `model`. ReplyError lists what was wrong."""
    data = extract_json(reply)
    if not isinstance(data, dict):
        raise ReplyError(["the reply's JSON is not an object"])
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ReplyError(["fields are wrong: " + "; ".join(field_problems(exc))]) from exc


@dataclass(frozen=True)
class JsonAnswer(Generic[Model]):
    """What `ask_json` got: the validated answer, or None with the last problem; `attempts` made."""

    value: Model | None
    attempts: int
    problem: str = ""


async def ask_json(
    client: LlmClient,
    model: str,
    messages: Sequence[ChatMessage],
    answer: type[Model],
    *,
    schema: dict[str, Any] | None = None,
    attempts: int = 2,
    temperature: float = 0.3,
    max_tokens: int | None = None,
) -> JsonAnswer[Model]:
    """Ask for one JSON object of `answer`'s shape; an unusable reply (not JSON, wrong fields, cut at the token
    limit) is asked again with what was wrong, up to `attempts` times. LlmError: the server could not answer."""
    schema = answer.model_json_schema() if schema is None else schema
    conversation = list(messages)
    problem = ""
    for attempt in range(1, attempts + 1):
        try:
            reply = await client.chat(
                model, conversation, schema=schema, temperature=temperature, max_tokens=max_tokens
            )
            return JsonAnswer(parse_reply(reply, answer), attempt)
        except AnswerCut as exc:  # it rambled past the limit: ask again like for any unusable reply
            reply, problem = exc.partial, str(exc)
        except ReplyError as exc:
            problem = str(exc)
        log.info("%s gave an unusable reply (%s)", model, problem)
        retry = f"Your reply was not usable: {problem}. Answer again with one JSON object only, with every field."
        conversation = [*conversation, ChatMessage("assistant", reply), ChatMessage("user", retry)]
    return JsonAnswer(None, attempts, problem)
