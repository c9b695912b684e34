"""Local stand-ins for registry servers, for tests, benchmarks and the example commands
(``servregistry emulate etcd|cloudmap|servicedirectory``): a private etcd, moto's AWS server made
faithful to Cloud Map where our code depends on it, and our Service Directory emulator."""


class EmulatorError(RuntimeError):
    """A local server could not be started; the message says why (and where its log is)."""
