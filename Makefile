# The two commands README.md leads with: `make demo` (main job) and `make test` (whole suite).
# `make example-NAME` runs examples/NAME end to end against a throwaway local registry.
.PHONY: demo test lint bench bench-cloud bootstrap
.PHONY: example-local example-etcd example-cloudmap example-servicedirectory

bootstrap:
	bash scripts/bootstrap

demo:
	bash scripts/demo

test:
	bash scripts/test

example-local example-etcd example-cloudmap example-servicedirectory:
	bash scripts/example $(@:example-%=%)

lint: bootstrap
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy

bench: bootstrap
	.venv/bin/python -m bench.endpoint_sets

bench-cloud: bootstrap
	.venv/bin/python -m bench.cloud_endpoint_sets

.PHONY: example-kubernetes test-kubernetes
example-kubernetes:
	bash scripts/example-kubernetes

test-kubernetes: bootstrap
	bash scripts/install-kubernetes >/dev/null
	.venv/bin/python -m pytest -q -p no:cacheprovider -m kubernetes

.PHONY: bench-pulumi
bench-pulumi: bootstrap
	.venv/bin/python -m bench.pulumi_layer

# examples/yaml (runtime: yaml, the native plugin) through scripts/example on a throwaway SQLite file
.PHONY: example-yaml
example-yaml:
	SERVREGISTRY_EXAMPLE_DIR=examples/yaml bash scripts/example local

# endpoint sets on the embedded SQLite registry (the same table as `make bench`)
.PHONY: bench-sqlite
bench-sqlite: bootstrap
	.venv/bin/python -m bench.sqlite_endpoint_sets
