"""Building images from a Dockerfile: the parser, the shell lexer, the build context, the builder."""
