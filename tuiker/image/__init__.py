"""Images: references, registries, the content-addressed store, layers, archives."""
