"""tuiker's docker-like command line. Never imports Textual."""
