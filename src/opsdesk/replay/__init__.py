"""Replay historical incident logs through the same services the API uses."""
