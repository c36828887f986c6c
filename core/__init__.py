"""The bottom layer: helpers and records any app may use. It imports no other app of ours."""
