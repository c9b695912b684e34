"""AWS Cloud Map: ``registry`` (the backend), ``api`` (the boto3 client: throttling rounds,
pages, operation polling, error mapping) and ``rules`` (the API's documented limits, checked
before any write)."""

from servregistry.backends.cloudmap.registry import CloudMapRegistry

__all__ = ["CloudMapRegistry"]
