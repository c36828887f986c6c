"""Plumbing every app may use; it imports no app (the project's lowest layer)."""
