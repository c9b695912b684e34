"""``python -m servregistry``: the ``servregistry`` command."""

from servregistry.cli import main

main()
