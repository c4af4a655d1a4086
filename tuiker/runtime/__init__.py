"""tuiker's container engine: a library with no UI imports (see engine.py for the facade)."""
