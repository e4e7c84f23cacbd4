"""Errors of the NVS package."""

from __future__ import annotations


class SceneError(ValueError):
    """A scene on disk is unusable; the message names the frame or file at fault."""
