"""Render: job values (``jobs``: frozen, with ids and keys) and what renders each kind (``renderers``).

Every renderer writes a segment: a ``.mov`` file with the plan's video format
(final codec) and lossless audio (ALAC) of exactly the video's length, so
parts can be joined by stream copy with their audio encoded once (no drift
at joins). Imports the plan stage below it, never join, run or the commands.
"""
