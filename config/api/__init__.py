"""The partner REST API, one layer above the domain apps (no app imports it).

Shared parts: key authentication, scopes and per-client throttling (`auth`), JSON errors
(`errors`), the `Idempotency-Key` store (`idempotency`), bounded JSON (`parsers`). Endpoints:
`consent` (opt-ins, opt-outs, look-ups, contacts, the opt-out log), `messages`, `events` (flow
triggers), `evidence` (evidence packs); `urls` lists them."""
