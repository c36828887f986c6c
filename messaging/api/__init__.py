"""The partner REST API's shared parts: key authentication and scopes, per-client throttling,
JSON errors and the `Idempotency-Key` store. Endpoints live with their app (`consent/api.py`,
`campaigns/api.py`, `messaging/api/messages.py`); `config/api_router.py` lists them."""
