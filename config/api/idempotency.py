"""`Idempotency-Key` for POSTs: the same key returns the first response and does nothing again.

The record is inserted before the view runs, in the same transaction as the view's own writes.
A concurrent repeat blocks on the unique index until the first commits, then replays its answer;
if the first fails, its record rolls back with everything else and the repeat runs afresh. Only
successful (2xx) answers are kept, so a client can fix a refused request and resend it.
"""

from __future__ import annotations

import hashlib
import json
from functools import wraps

from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from rest_framework import status
from rest_framework.response import Response

from messaging.models import IdempotencyRecord

from .errors import ApiError

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255


def idempotent(view_method):
    """Decorate an APIView's `post`."""

    @wraps(view_method)
    def wrapper(view, request, *args, **kwargs):
        key = request.headers.get(HEADER, "").strip()
        if not key:
            return view_method(view, request, *args, **kwargs)
        if len(key) > MAX_KEY_LENGTH:
            raise ApiError(
                f"{HEADER} is longer than {MAX_KEY_LENGTH} characters.",
                code="invalid_idempotency_key",
            )
        body_hash = hashlib.sha256(request.body).hexdigest()  # read before DRF parses it
        with transaction.atomic():
            try:
                with transaction.atomic():
                    record = IdempotencyRecord.objects.create(
                        client=request.auth,
                        key=key,
                        method=request.method,
                        path=request.path[:255],
                        request_hash=body_hash,
                    )
            except IntegrityError:
                return _replay(request, key, body_hash)
            response = view_method(view, request, *args, **kwargs)
            if 200 <= response.status_code < 300:
                record.status_code = response.status_code
                record.response = _jsonable(response.data)
                record.save(update_fields=["status_code", "response"])
            else:
                record.delete()
            return response

    return wrapper


def _jsonable(data):
    return json.loads(json.dumps(data, cls=DjangoJSONEncoder))


def _replay(request, key: str, body_hash: str) -> Response:
    record = IdempotencyRecord.objects.get(client=request.auth, key=key)
    if record.request_hash != body_hash or record.path != request.path[:255]:
        raise ApiError(
            f"{HEADER} “{key}” was already used for a different request.",
            code="idempotency_key_reused",
            status_code=status.HTTP_422_UNPROCESSABLE_ENTITY,
        )
    if record.status_code is None:
        raise ApiError(
            f"A request with {HEADER} “{key}” is still being processed; retry shortly.",
            code="idempotency_in_progress",
            status_code=status.HTTP_409_CONFLICT,
        )
    response = Response(record.response, status=record.status_code)
    response["Idempotent-Replayed"] = "true"
    return response
