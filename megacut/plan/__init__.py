"""Read and check, then plan: scenes CSV, timecodes, section specs, source lookup and probing, settings,
fonts, and the pure step that turns them into a RenderPlan. Nothing here renders or writes.

Flow inside: ``scenes`` (CSV -> rows) and ``sections`` (JSON -> sections) read; ``sources`` finds
each movie; ``probe`` measures it; ``build`` makes the RenderPlan (pure); ``prepare`` chains them.
"""
