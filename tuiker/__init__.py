"""tuiker: a terminal container manager with its own embedded engine."""

__version__ = "0.1.0"
