# cnc-monitor. Quick start: `make run` (service) and `make test` (everything the CI runs).
.PHONY: setup services tools deps build run test test-faults perf lint typecheck clean

services:
	bash .ci/services.sh

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund

deps: node_modules/.package-lock.json

setup: deps services

build: deps
	npm run build

run: setup build
	npm start

# Non-npm tools the tests call (docker-compose, to validate docker/compose.yml).
tools:
	bash .ci/tools.sh

test: setup tools
	npm test

test-faults: setup
	npm run test:faults

perf: setup build
	npm run perf

lint: deps
	npm run lint

typecheck: deps
	npm run typecheck

clean:
	rm -rf dist coverage
