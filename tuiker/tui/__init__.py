"""The Textual app: `tuiker` with no arguments."""
