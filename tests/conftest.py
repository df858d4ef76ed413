"""Shared fixtures: a small movies folder generated once per test session."""

import pytest
from media import make_video


@pytest.fixture(scope="session")
def movies(tmp_path_factory):
    """Ten-second tiny sources: two movies, an episode, and an ambiguous pair."""
    root = tmp_path_factory.mktemp("movies")
    make_video(root / "Thor The Dark World.mkv", duration_s=10, audio_tracks=[
        {"freq": 440, "language": "eng", "title": "Main"}, {"freq": 660, "language": "fre", "title": "VF"}])
    make_video(root / "Small.mp4", duration_s=10, size="160x90", audio_tracks=())
    (root / "Shows" / "Season 3").mkdir(parents=True)
    make_video(root / "Shows" / "Season 3" / "Agents S03E19.mkv", duration_s=10)
    (root / "a").mkdir()
    (root / "b").mkdir()
    make_video(root / "a" / "Twin.mp4", duration_s=3)
    make_video(root / "b" / "Twin.mp4", duration_s=3)
    (root / "Broken.mkv").write_text("not a video")
    return root
