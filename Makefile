# The two commands README.md leads with: `make demo` (main job) and `make test` (whole suite).
.PHONY: demo test lint bench bench-cloud bootstrap

bootstrap:
	bash scripts/bootstrap

demo:
	bash scripts/demo

test:
	bash scripts/test

lint: bootstrap
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy

bench: bootstrap
	.venv/bin/python -m bench.endpoint_sets

bench-cloud: bootstrap
	.venv/bin/python -m bench.cloud_endpoint_sets

.PHONY: example-kubernetes
example-kubernetes:
	bash scripts/example-kubernetes
