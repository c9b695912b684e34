"""etcd v3 in the CN-WAN key layout: ``registry`` (the backend), ``client`` (connections,
deadlines, failover, TLS, auth tokens, paged reads) and ``layout`` (keys and values)."""

from servregistry.backends.etcd.registry import MAX_TXN_OPS, EtcdRegistry

__all__ = ["MAX_TXN_OPS", "EtcdRegistry"]
