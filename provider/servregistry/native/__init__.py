"""The native Pulumi provider plugin ``servregistry``: a second front end over the same
providers as the ``pulumi.dynamic`` resources (``servregistry.providers``), for every Pulumi
language (YAML, Go, TypeScript, Python through a generated SDK).

It serves ``servregistry:index:RegistryNamespace``, ``RegistryService`` and
``RegistryEndpointSet`` as described by ``schema.json`` (checked in, served by ``GetSchema``),
maps Pulumi's camelCase properties onto the providers' snake_case dicts, and adds what dynamic
resources cannot have: import by id (``ns``, ``ns/service``), detailed diffs keyed by endpoint
name, and errors as one message. Installed as the executable ``pulumi-resource-servregistry``.
"""
