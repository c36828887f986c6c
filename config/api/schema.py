"""A drf-spectacular hook that documents the answers shared by many operations, once.

- 404 `not_found` on operations with path parameters (an unknown or malformed id);
- 413 `too_large` on operations with a request body (`settings.API_MAX_BODY_BYTES`);
- 409 `idempotency_in_progress` and 422 `idempotency_key_reused` on operations that take an
  `Idempotency-Key` (config/api/idempotency.py).

An operation's own description of one of these answers is kept.
"""

from __future__ import annotations

from typing import Any

from .idempotency import HEADER as IDEMPOTENCY_HEADER

ERROR_REF = {"$ref": "#/components/schemas/Error"}


def _answer(description: str, code: str, message: str) -> dict[str, Any]:
    example = {"code": code, "message": message, "fields": {}}
    return {
        "description": description,
        "content": {
            "application/json": {"schema": ERROR_REF, "examples": {code: {"value": example}}}
        },
    }


NOT_FOUND = _answer("No such resource.", "not_found", "No message 123.")
TOO_LARGE = _answer(
    "The body is larger than the API accepts.",
    "too_large",
    "The request body is larger than 262,144 bytes.",
)
IN_PROGRESS = _answer(
    "A request with the same Idempotency-Key is still being processed; retry shortly.",
    "idempotency_in_progress",
    "A request with Idempotency-Key “order-1182” is still being processed; retry shortly.",
)
KEY_REUSED = _answer(
    "The Idempotency-Key was used for another request.",
    "idempotency_key_reused",
    "Idempotency-Key “order-1182” was already used for a different request.",
)


def document_common_answers(result: dict, generator, request, public) -> dict:
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            parameters = operation.get("parameters", [])
            added: dict[str, dict] = {}
            if any(p.get("in") == "path" for p in parameters):
                added["404"] = NOT_FOUND
            if "requestBody" in operation:
                added["413"] = TOO_LARGE
            if any(
                p.get("in") == "header" and p.get("name") == IDEMPOTENCY_HEADER for p in parameters
            ):
                added["409"] = IN_PROGRESS
                added["422"] = KEY_REUSED
            for code, answer in added.items():
                responses.setdefault(code, answer)
    return result
