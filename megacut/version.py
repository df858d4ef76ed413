"""megacut's version (shared by the API, the commands, the report and the cluster checks)."""

__version__ = "0.1.0"
