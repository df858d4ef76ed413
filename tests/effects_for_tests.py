"""Frame effects for the moviepy backend's tests, importable by name (``effects_for_tests:invert``)."""

import time

import numpy as np

NOT_CALLABLE = 42


def invert(frame: np.ndarray, t: float) -> np.ndarray:
    """Negative colours."""
    return 255 - frame


def invert_in_place(frame: np.ndarray, t: float) -> np.ndarray:
    """Works on the frame it is given (which must therefore be writable)."""
    np.subtract(255, frame, out=frame)
    return frame


def wrong_shape(frame: np.ndarray, t: float) -> np.ndarray:
    return frame[::2, ::2]


def wrong_dtype(frame: np.ndarray, t: float) -> np.ndarray:
    return frame.astype(np.float32) / 255


def slow(frame: np.ndarray, t: float) -> np.ndarray:
    """A costly effect: 50 ms per frame (for cancellation tests)."""
    time.sleep(0.05)
    return frame


def slow_unless_red(frame: np.ndarray, t: float) -> np.ndarray:
    """About a third of a second per 1 s scene at 25 fps (12 ms a frame), so that a run can be watched and
    paused; a red frame fails the scene (tests/status_run.py's red source)."""
    if frame[..., 0].mean() > 180 and frame[..., 1].mean() < 60:
        raise ValueError("red frames: this effect refuses them")
    time.sleep(0.012)
    return frame
