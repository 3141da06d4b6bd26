# mpmlab: `make run` builds everything and starts the playground;
# `make test` runs every test, the real-binary and real-browser ones included.

GO      ?= go
BIN     := bin/mpmlab
ADDR    ?= 127.0.0.1:8080

.PHONY: all build run test vet bench clean

all: build

build:
	@echo "building mpmlab..."
	$(GO) build -o $(BIN) ./cmd/mpmlab

run: build
	./$(BIN) run --addr $(ADDR) hello

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || (gofmt -l . && echo "gofmt needed" && exit 1)

test: vet
	$(GO) test -count=1 -timeout 20m ./...

bench: build
	$(GO) test -run XXX -bench . -benchtime 2s ./runtime/ ./cmd/mpmlab/

clean:
	rm -rf bin
