"""Run a plan: the engine (groups of items, cache reuse, joins as groups complete), the scheduler
(process pool, threads, inline; retries; two-stage stop), the worker entry, the segment cache,
memory and disk checks, and progress. Imports plan, render and join; never the commands."""
