"""The HTTP API: metrics, health, read-only views of the state and the kill switch."""
