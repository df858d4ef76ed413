"""Render jobs: one function per job kind, all producing segments that join with each other.

A segment is a ``.mov`` file with the plan's video format (final codec) and
uncompressed PCM audio of exactly the video's length, so parts can be joined by
stream copy with their audio encoded once (no drift at joins).
"""
