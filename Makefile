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

.PHONY: all deps build run test test-go test-training bench bench-classify lint train evaluate package test-package clean

all: build

deps:
	@./scripts/deps.sh

# bin/ is laid out like an installed copy: bin/lib is a link to lib/, where make deps puts ONNX Runtime (and where
# the GPU add-on's provider files go), so bin/tumortracer finds the library through its own lookup (lib/ beside the
# executable) with no variable set, and never through a guess at system folders.
build: deps
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) .
	@[ -L bin/lib ] || [ ! -e bin/lib ] || { echo "build: bin/lib is not the link to ../lib that make build makes; move it away" >&2; exit 1; }
	ln -sfn ../lib bin/lib

run: build
	./$(BIN) $(ARGS)

# Unit, corpus and window tests, and the end-to-end tests of the binary make build produced (TUMORTRACER_BIN; they
# run it without TUMORTRACER_ORT_LIB). Tests whose data or tools are absent skip with a message, or fail when the
# CI environment variable is set (internal/testenv).
test: build
	$(MAKE) test-training
	$(GO) vet ./...
	TUMORTRACER_DATA=$(abspath $(DATA)) TUMORTRACER_ORT_LIB=$(abspath lib/libonnxruntime.so.1) \
		TUMORTRACER_BIN=$(abspath $(BIN)) $(GO) test -timeout 25m ./...

# The classify throughput comparison first (it prints the ratio), then every Go benchmark.
bench: deps bench-classify
	TUMORTRACER_DATA=$(abspath $(DATA)) TUMORTRACER_ORT_LIB=$(abspath lib/libonnxruntime.so.1) $(GO) test -run '^$$' -bench . -benchmem ./...

# `tumortracer classify` against the same job in Node (scripts/nodepeer/classify.js: onnxruntime-node + sharp) on
# the 624 chest X-ray test JPEGs with the cxr-pneumonia 1.0.0 fixture: whole process, RUNS runs each, interleaved;
# prints every run, the medians, ORT forward time on both sides and the ratio (goal: at most 0.75).
BENCH_MODELS ?= pipeline/testdata/cxr-pneumonia-1.0.0
BENCH_FILES  ?= $(DATA)/chest-xray/test
RUNS         ?= 5
bench-classify: build scripts/nodepeer/node_modules
	@test -d $(BENCH_FILES) || { echo "bench-classify: $(BENCH_FILES) not found (give DATA=the shared data folder)"; exit 1; }
	TUMORTRACER_ORT_LIB=$(abspath lib/libonnxruntime.so.1) node scripts/nodepeer/bench.js --bin $(BIN) \
		--models $(BENCH_MODELS) --model cxr-pneumonia --runs $(RUNS) $(BENCH_FILES)

# The Node peer's packages, pinned by package-lock.json (onnxruntime-node's optional CUDA download skipped).
scripts/nodepeer/node_modules: scripts/nodepeer/package.json scripts/nodepeer/package-lock.json
	cd scripts/nodepeer && ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund
	@touch $@

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

# Training recipe (training/README.md): `make train MODEL=ct-lung|cxr-pneumonia DATA=../shared/data` runs
# ingest -> train -> export -> evaluate; each stage is a file target, so a rerun skips what is current.
# `make evaluate MODEL=...` re-scores the exported models/<id>/model.onnx and rewrites its card.
TRAIN_WORK := training/work/$(MODEL)
MODEL_DIR  := models/$(MODEL)

train: $(MODEL_DIR)/model.yaml

$(TRAIN_WORK)/ingest.json: training/ingest.py training/dedup.py training/preprocess.py training/params.yaml
	cd training && $(PYTHON) ingest.py --model $(MODEL) --data $(abspath $(DATA)) --out work/$(MODEL)

$(TRAIN_WORK)/model.pt: $(TRAIN_WORK)/ingest.json training/train.py training/model.py training/metrics.py
	cd training && $(PYTHON) train.py --model $(MODEL) --work work/$(MODEL)

$(MODEL_DIR)/model.onnx: $(TRAIN_WORK)/model.pt training/export.py
	cd training && $(PYTHON) export.py --work work/$(MODEL) --out ../$(MODEL_DIR)

$(MODEL_DIR)/model.yaml: $(MODEL_DIR)/model.onnx training/evaluate.py training/cards.yaml training/goscore/main.go
	$(MAKE) evaluate MODEL=$(MODEL) DATA=$(DATA)

evaluate: deps
	cd training && $(PYTHON) evaluate.py --model $(MODEL) --work work/$(MODEL) --data $(abspath $(DATA)) --out ../$(MODEL_DIR)

# The recipe's unit tests and a smoke run (a handful of images, one epoch, export, load in Go) in a scratch folder.
test-training:
	cd training && $(PYTHON) -m unittest discover -s tests -t .
	cd training && $(PYTHON) smoke.py --data $(abspath $(DATA))

clean:
	rm -rf bin dist build
