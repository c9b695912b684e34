"""Google Cloud Service Directory: ``registry`` (the backend, over the official client) and
``rules`` (the API's documented limits, checked before any write)."""

from servregistry.backends.servicedirectory.registry import ServiceDirectoryRegistry

__all__ = ["ServiceDirectoryRegistry"]
