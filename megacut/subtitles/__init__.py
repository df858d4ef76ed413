"""Subtitles, the one home of the concern: a source's subtitle tracks and which of them a scene carries
(``tracks``), their cues read once per source and cut with the scenes (``cues``), and Blu-ray image
subtitles (``pgs``: read, drawn, written). Below every stage: the plan chooses and cuts, a scene's render
burns in what must be burned, a part's join writes the soft tracks.
"""
