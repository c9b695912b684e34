"""Registry backends, one class per module; the client libraries are imported lazily."""
