"""Local stand-ins for the providers' HTTP APIs, for tests and benchmarks (never the real thing)."""
