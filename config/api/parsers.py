"""The partner API's JSON parser: bounded in size and in depth.

A body over `settings.API_MAX_BODY_BYTES` is a 413 (`too_large`) before it is parsed; a JSON
value nested deeper than `settings.API_MAX_JSON_DEPTH` (arrays and objects) is a 400
(`too_deep`). Without the bound, 1,000 nested arrays (10 KB) exhaust Python's recursion limit
somewhere between parsing and storing, and the request fails with a 500.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from rest_framework import status
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from .errors import ApiError


class BoundedJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None) -> Any:
        limit = settings.API_MAX_BODY_BYTES
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise ApiError(
                f"The request body is larger than {limit:,} bytes.",
                code="too_large",
                status_code=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
            )
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            data = json.loads(raw.decode(encoding), parse_constant=_refuse_constant)
        except RecursionError:
            raise _too_deep() from None
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from exc
        if json_depth(data) > settings.API_MAX_JSON_DEPTH:
            raise _too_deep()
        return data


def json_depth(value: Any) -> int:
    """How deeply arrays and objects nest in `value` (a scalar is 0, ``[]`` is 1); iterative."""
    deepest = 0
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        pending.extend((child, depth + 1) for child in children)
    return deepest


def _too_deep() -> ApiError:
    return ApiError(
        f"The JSON body nests arrays and objects more than {settings.API_MAX_JSON_DEPTH} "
        "levels deep.",
        code="too_deep",
    )


def _refuse_constant(name: str) -> Any:
    # NaN and Infinity are not JSON; Python's parser would accept them.
    raise ValueError(f"{name} is not a JSON value")
