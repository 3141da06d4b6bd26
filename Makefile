# mpmlab: `make run` builds everything and starts the playground;
# `make test` runs every test, the real-binary and real-browser ones included.

GO      ?= go
BIN     := bin/mpmlab
ADDR    ?= 127.0.0.1:8080

# The front end: wasm/app built for the browser, and Go's JS support file
# (lib/wasm since Go 1.24, misc/wasm before). Both are embedded by www/.
GOROOT    := $(shell $(GO) env GOROOT)
WASM_EXEC := $(firstword $(wildcard $(GOROOT)/lib/wasm/wasm_exec.js $(GOROOT)/misc/wasm/wasm_exec.js))
APP_SRC   := $(shell find wasm/app wasm/experiment -name '*.go' ! -name '*_test.go' 2>/dev/null)

.PHONY: all build frontend run test test-short check gofmt tidy lint vet bench validate cost clean chromium fuzz-smoke share-npm share-build share-dev share-deploy

all: build

frontend: www/app.wasm www/wasm_exec.js

# Every go build lists the packages it compiles (-v): nothing once they are
# cached, the standard library and the dependencies on a fresh machine.
www/app.wasm: $(APP_SRC)
	@echo "building the front end (wasm/app for the browser: www/app.wasm)..."
	@echo "  a first build compiles Go's standard library for js/wasm and takes tens of seconds; packages are listed as they compile"
	GOOS=js GOARCH=wasm $(GO) build -v -ldflags='-s -w' -trimpath -o $@ ./wasm/app

www/wasm_exec.js: $(WASM_EXEC)
	@test -n "$(WASM_EXEC)" || (echo "wasm_exec.js not found under $(GOROOT)/lib/wasm or misc/wasm" && exit 1)
	@echo "copying $(WASM_EXEC) to www/"
	cp $(WASM_EXEC) $@

# mpmlab is linked statically (CGO_ENABLED=0: Go's own resolver, no libc):
# every worker process is this binary, and the C library's pages and the
# dynamic loader cost each 0.25 MiB of PSS (RATIONALE.md, "A worker's memory").
build: frontend
	@echo "building mpmlab ($(BIN), the front end embedded)..."
	@echo "  a first build compiles wazero and the standard library and takes tens of seconds; packages are listed as they compile"
	CGO_ENABLED=0 $(GO) build -v -o $(BIN) ./cmd/mpmlab

run: build
	@echo "starting the playground on http://$(ADDR)"
	./$(BIN) serve --addr $(ADDR)

# HOST_GOOS are the systems the host builds for: Linux, where it is tested,
# and the other Unixes it builds on (README). The wasm packages are vetted
# for the two targets they run on: js (the page, the share service) and
# wasip1 (the guest SDK).
HOST_GOOS := linux darwin freebsd

vet: frontend
	@echo "vetting ($(HOST_GOOS), js/wasm, wasip1/wasm)..."
	@set -e; for os in $(HOST_GOOS); do GOOS=$$os $(GO) vet ./...; done
	GOOS=js GOARCH=wasm $(GO) vet ./wasm/app/... ./wasm/guest ./wasm/experiment ./playground/share ./cmd/mpmlab-share
	GOOS=wasip1 GOARCH=wasm $(GO) vet ./wasm/guest ./wasm/abi

gofmt:
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || (gofmt -l . && echo "gofmt needed" && exit 1)

# tidy fails when go.mod or go.sum is not what `go mod tidy` makes of them.
tidy:
	@t=$$(mktemp -d); cp go.mod go.sum $$t/; $(GO) mod tidy; \
	if ! cmp -s go.mod $$t/go.mod || ! cmp -s go.sum $$t/go.sum; then \
		echo "go.mod/go.sum are not tidy; go mod tidy would change them:"; diff -u $$t/go.mod go.mod; diff -u $$t/go.sum go.sum; \
		cp $$t/go.mod $$t/go.sum .; rm -rf $$t; exit 1; fi; rm -rf $$t

# check is what every change must pass before the tests: vet on every
# target, staticcheck, gofmt and a tidy module, as wazero's make check.
check: vet lint gofmt tidy

# The real-browser tests drive headless Chromium. On Debian/Ubuntu a
# missing Chromium is installed (apt-get, with sudo when not root);
# elsewhere, install Chromium or set MPMLAB_CHROMIUM to a Chrome binary.
chromium:
	@if [ -n "$$MPMLAB_CHROMIUM" ] || command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || command -v google-chrome >/dev/null 2>&1; then :; \
	elif command -v apt-get >/dev/null 2>&1; then \
		echo "installing chromium for the real-browser tests (apt-get)..."; \
		SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q chromium; \
	else echo "Chromium not found: install it or set MPMLAB_CHROMIUM (the real-browser tests need it)"; exit 1; fi

# staticcheck, pinned, installed into bin/ on first use.
STATICCHECK := bin/staticcheck
STATICCHECK_VERSION := v0.8.2
$(STATICCHECK):
	@echo "installing staticcheck $(STATICCHECK_VERSION) into bin/ (once)..."
	GOBIN=$(CURDIR)/bin $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

lint: frontend $(STATICCHECK)
	@echo "staticcheck..."
	./$(STATICCHECK) ./...
	GOOS=js GOARCH=wasm ./$(STATICCHECK) ./wasm/app/... ./wasm/guest ./wasm/experiment

# test-short is the inner loop: the unit tests alone (no guest builds, no
# real binary, no browser), in seconds.
test-short:
	$(GO) test -short -count=1 ./...

# The front end is built first: the binary under test embeds it, and so is
# the share service with its pinned wrangler (cmd/mpmlab-share's tests run
# it in wrangler's local mode). The unit tests run under the race detector
# (-short: they alone); then every test, packages one at a time (-p 1): the
# integration tests compare timings of real worker processes, which other
# packages' tests would disturb.
test: check chromium fuzz-smoke share-npm share-build
	@echo "unit tests under the race detector..."
	$(GO) test -race -short -count=1 ./...
	@echo "running every test (unit, real-binary, real-browser)..."
	$(GO) test -p 1 -count=1 -timeout 30m ./...

# fuzz-smoke runs every fuzz target (each func Fuzz... in a _test.go file)
# for FUZZTIME, from its seed corpus in testdata/fuzz/<target>: long enough
# to catch a decoder that panics on a near miss, short enough for CI. Fuzz
# one for longer with: go test -run '^$$' -fuzz '^FuzzSplit$$' -fuzztime 10m ./wasm/abi
# A count of inputs, not a duration: a duration's deadline can race the
# fuzzing workers and fail a target with a bare "context deadline
# exceeded" on a busy machine (golang/go#75804, not fixed in go1.26).
# 30,000 inputs take about as long as 3 s did for the slowest target.
FUZZTIME ?= 30000x
fuzz-smoke:
	@set -e; for file in $$(grep -rl --include='*_test.go' --exclude-dir=.git --exclude-dir=node_modules '^func Fuzz' . | sort); do \
		for target in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' $$file); do \
			echo "fuzzing $$target ($$(dirname $$file)) for $(FUZZTIME)..."; \
			$(GO) test -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZTIME) $$(dirname $$file); \
		done; \
	done

# The share service (cmd/mpmlab-share): Go for Cloudflare Workers through
# syumai/workers, run by wrangler. wrangler (and the Node.js 22 it needs)
# are pinned npm packages under cmd/mpmlab-share (package-lock.json);
# `npm ci` installs them there. Nothing else needs Node: make run does not.
SHARE      := cmd/mpmlab-share
SHARE_PORT ?= 8787
# SHARE_STATE is where share-dev keeps its local R2 (relative to $(SHARE)).
SHARE_STATE ?= .wrangler-state
SHARE_SRC  := $(shell find $(SHARE) playground/share wasm/experiment -name '*.go' ! -name '*_test.go' -not -path '*/node_modules/*' 2>/dev/null)
WWW_FILES  := $(sort $(filter-out www/www.go,$(wildcard www/*)) www/app.wasm www/wasm_exec.js)
# WRANGLER runs the pinned wrangler on the pinned Node, from $(SHARE).
WRANGLER   := WRANGLER_SEND_METRICS=false ./node_modules/.bin/node node_modules/wrangler/bin/wrangler.js

share-npm: $(SHARE)/node_modules/.package-lock.json

$(SHARE)/node_modules/.package-lock.json: $(SHARE)/package.json $(SHARE)/package-lock.json
	@if command -v npm >/dev/null 2>&1; then :; \
	elif command -v apt-get >/dev/null 2>&1; then \
		echo "installing npm to fetch the share service's pinned wrangler (apt-get)..."; \
		SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q npm; \
	else echo "the share service needs npm (Node.js) to install its pinned wrangler: install it"; exit 1; fi
	@echo "installing wrangler and Node.js 22 (pinned) into $(SHARE)/node_modules..."
	cd $(SHARE) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# share-build: the Worker (build/: syumai's glue and the service's wasm)
# and its static assets (public/: the front end, and the examples list).
share-build: $(SHARE)/build/app.wasm $(SHARE)/public/index.html

$(SHARE)/build/app.wasm: $(SHARE_SRC) go.mod go.sum
	@echo "building the share service ($(SHARE)/build)..."
	$(GO) run github.com/syumai/workers/cmd/workers-assets-gen -mode=go -o $(SHARE)/build
	GOOS=js GOARCH=wasm $(GO) build -ldflags='-s -w' -trimpath -o $@ ./$(SHARE)

$(SHARE)/public/index.html: $(WWW_FILES) $(shell find wasm/examples $(SHARE)/examples -name '*.go' 2>/dev/null)
	rm -rf $(SHARE)/public && mkdir -p $(SHARE)/public
	$(GO) run ./$(SHARE)/examples > $(SHARE)/public/examples.json
	cp $(WWW_FILES) $(SHARE)/public/

# share-dev runs the service as Workers would, in wrangler's local mode
# (workerd, local R2 in $(SHARE)/.wrangler-state: shares survive restarts),
# and prints "listening on http://127.0.0.1:8787" once it is ready.
share-dev: share-npm share-build
	@cd $(SHARE) && $(WRANGLER) dev --local --ip 127.0.0.1 --port $(SHARE_PORT) --persist-to $(SHARE_STATE) --show-interactive-dev-session=false 2>&1 | \
		while IFS= read -r line; do printf '%s\n' "$$line"; case "$$line" in *"Ready on http://127.0.0.1:$(SHARE_PORT)"*) echo "listening on http://127.0.0.1:$(SHARE_PORT)";; esac; done

# share-deploy deploys the service to the Cloudflare account wrangler is
# logged in to (wrangler login, or CLOUDFLARE_API_TOKEN); see README.md.
share-deploy: share-npm share-build
	cd $(SHARE) && $(WRANGLER) deploy

bench: build
	$(GO) test -run XXX -bench . -benchtime 2s ./runtime/
	./$(BIN) bench --model all --baseline --concurrency 8 --duration 3s hello

# validate runs the models beside the real Apache and nginx installed on
# this machine, same settings, handler and load (mpmlab validate --help):
# a case off by more than 15% fails it, one whose server is missing is
# skipped with the Debian packages to install. About ten minutes.
validate: build
	./$(BIN) validate

# cost prints what a request, a prefork process and an idle connection
# cost each model and the real server it models (mpmlab validate --cost,
# issue 21): informational, it fails only when it cannot measure. Not in
# CI: about two minutes, and its figures want a quiet machine.
cost: build
	./$(BIN) validate --cost

clean:
	rm -rf bin www/app.wasm www/wasm_exec.js $(SHARE)/build $(SHARE)/public
