# TumorTracer. The README's two commands, `make run` and `make test`, are the whole set-up: both call `deps`.
GO        ?= go
BIN       := bin/tumortracer
VERSION   := $(shell sed -n 's/^Version *= *"\(.*\)"/\1/p' FyneApp.toml)
COMMIT    := $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS   := -X main.version=$(VERSION) -X main.commit=$(COMMIT)
DATA      ?= ../shared/data
MODEL     ?= cxr-pneumonia
PYTHON    ?= /usr/bin/python3
export CGO_ENABLED = 1

.PHONY: all deps build run test test-go test-training bench lint train evaluate package test-package clean

all: build

deps:
	@./scripts/deps.sh

build: deps
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) .

run: build
	./$(BIN) $(ARGS)

# Unit, corpus and window tests; the corpus tests skip with a message when $(DATA) is absent.
test: deps
	$(GO) vet ./...
	TUMORTRACER_DATA=$(abspath $(DATA)) TUMORTRACER_ORT_LIB=$(abspath lib/libonnxruntime.so.1) $(GO) test -timeout 25m ./...

bench: deps
	TUMORTRACER_DATA=$(abspath $(DATA)) TUMORTRACER_ORT_LIB=$(abspath lib/libonnxruntime.so.1) $(GO) test -run '^$$' -bench . -benchmem ./...

lint:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	@if command -v staticcheck >/dev/null; then staticcheck ./...; else echo "lint: staticcheck not installed, skipped"; fi

# Installers under dist/: a .deb, a tarball and a Windows zip, each with ONNX Runtime beside the binary.
package: deps
	./packaging/package.sh all

# Builds the .deb, unpacks it into a scratch root and runs the installed binary there (.ci/run calls this too).
test-package: deps
	./packaging/test-package.sh

clean:
	rm -rf bin dist build
