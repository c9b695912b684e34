"""The ``pulumi.dynamic`` providers behind the SDK's resources (this package imports pulumi;
the rest of ``servregistry`` does not).

Pulumi stores each dynamic resource's provider in the stack's state, pickled by reference: the
state holds a module path and a class name, and every later ``up``, ``refresh`` or ``destroy``
imports them. That path is pinned here to ``servregistry.providers.<Class>`` whatever module
defines the class, so the code can move without breaking a stack; state written before the pin
names ``servregistry.providers.parents`` and ``servregistry.providers.endpoint_set``, which must
keep importing these names too (tests/pulumi/test_state_compat.py loads both).
"""

from servregistry.providers.endpoint_set import EndpointSetProvider
from servregistry.providers.parents import NamespaceProvider, ServiceProvider

__all__ = ["EndpointSetProvider", "NamespaceProvider", "ServiceProvider"]

for _cls in (EndpointSetProvider, NamespaceProvider, ServiceProvider):
    _cls.__module__ = __name__
del _cls
