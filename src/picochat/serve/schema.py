"""The OpenAI request bodies the server accepts, and errors in OpenAI's shape.

Requests are validated strictly (a string where a number belongs is an error, not a
guess) by pydantic models; unknown fields are ignored, as OpenAI-compatible servers
do, except those whose silent dropping would change the answer (`n` > 1, `echo`,
`logprobs`, `suffix`, non-zero presence/frequency penalties): those are refused with
a message naming the field. Picochat's own sampling controls are extra fields:
`top_k` and `repetition_penalty`, and vLLM's `ignore_eos` (decode through stop
tokens up to max_tokens: what throughput benchmarks use).

Every error is `{"error": {"message", "type", "param", "code"}}` with its HTTP status
(`ApiError`); `validation_error` turns a pydantic error into one.

Not here: the routes (`api.py`), the limits that depend on the model (`api.py`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

# OpenAI allows up to 4 stop sequences.
MAX_STOPS = 4


class ApiError(Exception):
    """An error answered as OpenAI does: status + {"error": {...}}."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.type = status, message, type
        self.param, self.code, self.headers = param, code, headers

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")


class TextPart(_Strict):
    type: Literal["text"]
    text: str


class ChatMessage(_Strict):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[TextPart] | None = None
    tool_calls: list[dict[str, Any]] | None = None
    name: str | None = None
    tool_call_id: str | None = None

    def for_template(self) -> dict[str, Any]:
        """The message as `picochat.chat_format` takes it (developer = system)."""
        content = self.content
        if isinstance(content, list):
            content = "".join(part.text for part in content)
        message: dict[str, Any] = {
            "role": "system" if self.role == "developer" else self.role,
            "content": content,
        }
        if self.tool_calls:
            message["tool_calls"] = self.tool_calls
        return message


class StreamOptions(_Strict):
    include_usage: bool = False


class _Sampling(_Strict):
    model: str
    max_tokens: int | None = None
    temperature: float = Field(1.0, ge=0.0, le=2.0)
    top_p: float | None = Field(None, gt=0.0, le=1.0)
    top_k: int | None = Field(None, ge=1)
    repetition_penalty: float = Field(1.0, gt=0.0)
    seed: int | None = None
    stop: str | list[str] | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    ignore_eos: bool = False  # vLLM's extra field: run to max_tokens (benchmarks)
    n: int = Field(1, ge=1, le=1)
    presence_penalty: float = Field(0.0, ge=0.0, le=0.0)
    frequency_penalty: float = Field(0.0, ge=0.0, le=0.0)
    user: str | None = None

    def stops(self) -> tuple[str, ...]:
        stops = [self.stop] if isinstance(self.stop, str) else list(self.stop or [])
        if len(stops) > MAX_STOPS:
            raise ApiError(
                400, f"stop: at most {MAX_STOPS} sequences, got {len(stops)}.", param="stop"
            )
        return tuple(stops)


class ChatRequest(_Sampling):
    messages: list[ChatMessage] = Field(min_length=1)
    max_completion_tokens: int | None = None

    def requested_tokens(self) -> int | None:
        return (
            self.max_completion_tokens
            if self.max_completion_tokens is not None
            else self.max_tokens
        )


class CompletionRequest(_Sampling):
    prompt: str | list[str]
    max_tokens: int | None = 16  # OpenAI's default for /v1/completions
    echo: bool = Field(False, le=False)
    logprobs: int | None = Field(None, le=-1)
    suffix: str | None = Field(None, max_length=0)

    def prompts(self) -> list[str]:
        prompts = [self.prompt] if isinstance(self.prompt, str) else list(self.prompt)
        if not prompts:
            raise ApiError(400, "prompt: give at least one prompt.", param="prompt")
        return prompts


_UNSUPPORTED = {
    "n": "n > 1 is not supported: send one request per choice.",
    "presence_penalty": "presence_penalty is not supported: use repetition_penalty.",
    "frequency_penalty": "frequency_penalty is not supported: use repetition_penalty.",
    "echo": "echo is not supported.",
    "logprobs": "logprobs are not supported.",
    "suffix": "suffix (insertion) is not supported.",
}


def _param(loc: tuple[Any, ...]) -> str:
    """`messages.0.content` from a pydantic location (union branch tags dropped)."""
    parts = [
        str(p)
        for p in loc
        if isinstance(p, int) or (isinstance(p, str) and "[" not in p and p not in _TYPE_TAGS)
    ]
    return ".".join(parts)


_TYPE_TAGS = {"str", "int", "float", "bool", "list", "dict", "none", "TextPart"}


def validation_error(error: ValidationError) -> ApiError:
    """The first problem of a pydantic error as a 400 naming the parameter."""
    first = error.errors()[0]
    param = _param(first["loc"])
    field = param.split(".")[0]
    if first["type"] == "missing":
        return ApiError(
            400,
            f"Missing required parameter: '{param}'.",
            param=param,
            code="missing_required_parameter",
        )
    if field in _UNSUPPORTED and first["type"] not in ("int_type", "bool_type", "float_type"):
        return ApiError(400, _UNSUPPORTED[field], param=field, code="unsupported_parameter")
    got = first.get("input")
    shown = repr(got) if not isinstance(got, (dict, list)) else type(got).__name__
    code = "invalid_type" if first["type"].endswith("_type") else "invalid_value"
    return ApiError(
        400, f"Invalid '{param}': {first['msg']} (got {shown}).", param=param, code=code
    )


def parse(model: type[_Strict], body: Any) -> Any:
    """Validate a decoded JSON body into `model`, or raise the ApiError to send."""
    if not isinstance(body, dict):
        raise ApiError(400, "The request body must be a JSON object.", code="invalid_json")
    try:
        return model.model_validate(body)
    except ValidationError as error:
        raise validation_error(error) from None
