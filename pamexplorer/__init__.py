"""pamexplorer: watch Linux-PAM work, one call at a time."""

__version__ = "0.1.0"
