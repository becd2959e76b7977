# intake — the documented entry points. `make help` lists them.
GO        ?= go
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
REVISION  ?= $(shell git rev-parse HEAD 2>/dev/null)
DATE      ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS   := -s -w -X main.version=$(VERSION) -X main.revision=$(REVISION) -X main.date=$(DATE)
TOOLS     ?= $(HOME)/.cache/intake-tools
GOLANGCI  := $(TOOLS)/golangci-lint

.PHONY: help run build test test-short lint fmt bench bench-compare load-api scale-out generate demo images test-images scan compose-up compose-up-mongo compose-down bundle kube-local test-kube kind-up kind-down clean

help: ## List the targets.
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

run: ## Run everything in one process on the embedded defaults (SQLite + files).
	$(GO) run ./cmd/intake dev

build: ## Build bin/intake (static, stripped, version stamped).
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/intake ./cmd/intake

test: ## Start the test servers and the local Kubernetes control plane, then run every test with the race detector.
	scripts/test-services.sh up
	scripts/kube-local.sh up
	eval "$$(scripts/test-services.sh env)" && eval "$$(scripts/kube-local.sh env)" && $(GO) test -race -count=1 ./...

test-short: ## Run the tests without starting servers (integration tests skip).
	$(GO) test -race -count=1 ./...

lint: $(GOLANGCI) ## gofmt, go vet, golangci-lint and shellcheck.
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo 'gofmt: run make fmt'; exit 1; }
	$(GO) vet ./...
	$(GOLANGCI) run ./...
	shellcheck .ci/run scripts/*.sh deploy/compose/*.sh
	yamllint -d '{extends: default, rules: {line-length: {max: 160}, document-start: disable}}' docker-compose.yml deploy/compose/mongo.yml deploy/prometheus deploy/grafana/provisioning

fmt: ## Format the Go code.
	gofmt -w $$(git ls-files '*.go')

# The packages with Go benchmarks; those that need a server use it when its
# URL is exported (eval "$$(scripts/test-services.sh env)") and skip otherwise.
BENCH_PKGS = $(sort $(dir $(shell grep -rl --include='*_test.go' '^func Benchmark' .)))

bench: ## Run the Go benchmarks of the packages that have them (see docs/PERFORMANCE.md).
	$(GO) test -run '^$$' -bench . -benchmem $(BENCH_PKGS)

bench-compare: ## intake bench beside river bench on one PostgreSQL, and on SQLite (scripts/bench-compare.sh).
	scripts/bench-compare.sh

load-api: ## Open-loop API latency with vegeta at 1k, 3k and 5k req/s on PostgreSQL (scripts/load-api.sh).
	scripts/load-api.sh

scale-out: ## Documents/s and jobs/s of 1, 2, 4 and 8 work processes on one PostgreSQL, with a PNG chart (scripts/scale-out.sh).
	scripts/scale-out.sh

generate: ## Regenerate checked-in artefacts (docs/CONFIG.md, docs/openapi.yaml, docs/img/ui.png, the Grafana dashboard, the chart's files, README and deploy/k8s).
	$(GO) test ./internal/config -run TestConfigDoc -update
	$(GO) test ./cmd/intake -run TestOpenAPIDoc -update
	$(GO) test ./internal/api -run TestWebUI -update
	$(GO) test ./deploy/grafana -run TestDashboardUpToDate -update
	$(GO) test ./deploy/helm -run 'TestChartFilesCurrent|TestManifestsCurrent|TestChartReadme' -update

demo: build ## Record docs/demo.mp4 from a live run on loopback (headless Chromium, Prometheus, ffmpeg; 3–7 min; not run in CI).
	INTAKE_BIN=bin/intake scripts/demo.sh

images: ## Build intake-api:dev and intake-worker:dev with podman (stand-in base images when none can be pulled).
	scripts/build-images.sh

test-images: ## Run the images read-only as 65532: /health, healthcheck, work --once, sizes.
	scripts/test-images.sh

scan: ## govulncheck, trivy, grype and syft on the code and images, where installed (they need internet databases).
	scripts/test-images.sh --scan

compose-up: ## Start the Compose stack (PostgreSQL, Redis, Azurite, nginx, Prometheus, Grafana).
	deploy/compose/secrets.sh && docker compose up -d --build

compose-up-mongo: ## Start the Compose stack on MongoDB instead of PostgreSQL.
	deploy/compose/secrets.sh && docker compose -f docker-compose.yml -f deploy/compose/mongo.yml up -d --build

compose-down: ## Stop the Compose stack (volumes are kept).
	docker compose down

bundle: ## Build the offline bundle for air-gapped sites into bundle/ (scripts/make-bundle.sh; the images must be present).
	scripts/make-bundle.sh

kube-local: ## Start a real kube-apiserver, controller-manager, KEDA and kwok on loopback (builds them once; a fresh machine compiles for an estimated 25–30 min).
	scripts/kube-local.sh up

test-kube: kube-local ## The chart's tests against kube-local: strict validation, kubeconform, the KEDA scenario on both triggers.
	scripts/test-services.sh up
	eval "$$(scripts/test-services.sh env)" && eval "$$(scripts/kube-local.sh env)" && $(GO) test -count=1 -v -run 'TestServerSideValidation|TestKubeconform|TestKEDAScenario' ./deploy/helm

kind-up: ## Run intake on a local kind cluster with KEDA (needs Docker and kind).
	scripts/kind-up.sh up

kind-down: ## Delete the kind cluster.
	scripts/kind-up.sh down

$(GOLANGCI):
	scripts/install-tools.sh golangci-lint

clean: ## Remove build output and local data.
	rm -rf bin data
