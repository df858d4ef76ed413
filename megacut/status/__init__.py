"""The live status of a run: its state built from the engine's events (``live``), the status file other
processes read (``file``), its parts and rates (``parts``), and the page that shows it and sends controls
(``server``). It hears the run (run/watch.py) and never changes it but through run/controls.py."""
