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

.PHONY: all deps build run test test-go test-training bench bench-classify lint train evaluate metrics-diff cv scope gpu-pack gpu-import package test-package clean

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
# ours both in auto mode (the gate routes every image: the default job, which the goal is held on) and with --model
# (the gate still runs); the peer runs no gate. Prints every run, the medians, ORT forward time on both sides, our
# gate's run and the ratios (goal: at most 0.75).
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

# Training recipe (training/README.md): `make train MODEL=ct-lung|cxr-pneumonia|gate DATA=../shared/data` runs
# ingest -> train -> export -> evaluate (-> scope for a model that exports pooled features); each stage is a file
# target, so a rerun skips what is current. `make evaluate MODEL=...` re-scores the exported models/<id>/model.onnx
# (the only command that reads test), rewrites its card and records the runs in training/runs/; `make metrics-diff
# MODEL=...` prints the card's figures against the previous release's; `make scope MODEL=...` refits its
# out-of-scope statistics. GPU: `make gpu-pack`, then training/GPU_RUN.md, then `make gpu-import FROM=...`.
TRAIN_WORK := training/work/$(MODEL)
MODEL_DIR  := models/$(MODEL)
NICE       ?= nice -n 10

train: $(MODEL_DIR)/model.yaml
ifneq ($(MODEL),gate)
	$(MAKE) scope MODEL=$(MODEL) DATA=$(DATA)
endif

ifeq ($(MODEL),gate)
# The gate learns from both classifiers' de-duplicated splits plus the negatives (gate_negatives.py).
$(TRAIN_WORK)/ingest.json: training/gate_negatives.py training/gate_ingest.py training/dedup.py training/preprocess.py training/params.yaml training/gorender/main.go
	$(MAKE) training/work/cxr-pneumonia/ingest.json MODEL=cxr-pneumonia DATA=$(DATA)
	$(MAKE) training/work/ct-lung/ingest.json MODEL=ct-lung DATA=$(DATA)
	cd training && $(PYTHON) gate_negatives.py --data $(abspath $(DATA)) --out work/gate/negatives
	cd training && $(PYTHON) gate_ingest.py --data $(abspath $(DATA)) --out work/gate
EVALUATE := gate_evaluate.py --work work/gate --data $(abspath $(DATA)) --out ../$(MODEL_DIR)
else
$(TRAIN_WORK)/ingest.json: training/ingest.py training/dedup.py training/preprocess.py training/params.yaml
	cd training && $(PYTHON) ingest.py --model $(MODEL) --data $(abspath $(DATA)) --out work/$(MODEL)
EVALUATE := evaluate.py --model $(MODEL) --work work/$(MODEL) --data $(abspath $(DATA)) --out ../$(MODEL_DIR) --record
endif

$(TRAIN_WORK)/model.pt: $(TRAIN_WORK)/ingest.json training/train.py training/model.py training/augment.py training/perturb.py training/metrics.py
	cd training && $(NICE) $(PYTHON) train.py --model $(MODEL) --work work/$(MODEL)

$(MODEL_DIR)/model.onnx: $(TRAIN_WORK)/model.pt training/export.py training/checkpoint.py
	cd training && $(PYTHON) export.py --work work/$(MODEL) --out ../$(MODEL_DIR)

$(MODEL_DIR)/model.yaml: $(MODEL_DIR)/model.onnx training/$(firstword $(EVALUATE)) training/cards.yaml training/goscore/main.go
	$(MAKE) evaluate MODEL=$(MODEL) DATA=$(DATA)

evaluate: deps
	cd training && $(PYTHON) $(EVALUATE)

# Out-of-scope statistics beside the model (scope.yaml + scope.bin, bound to model.onnx's sha256): fitted on its
# train split's pooled features as the Go engine computes them, threshold chosen on valid; the test acceptance and,
# when the gate's negatives exist, the held-out families' refusal and AUROC are measured into scope.yaml. Models
# whose manifest declares no features output are skipped with a note.
scope: deps
ifeq ($(MODEL),gate)
	@echo "scope: the gate refuses by its own class 'other'; the out-of-scope statistics belong to the models it routes to"
else
	@if grep -qE '^ +features: ' $(MODEL_DIR)/model.yaml; then \
	  $(MAKE) $(TRAIN_WORK)/ingest.json MODEL=$(MODEL) DATA=$(DATA) && \
	  cd training && $(PYTHON) scope.py --model $(MODEL) --work work/$(MODEL) --data $(abspath $(DATA)) \
	    --out ../$(MODEL_DIR) --test $(if $(wildcard training/work/gate/heldout.tsv),--negatives work/gate/heldout.tsv); \
	else echo "scope: $(MODEL_DIR)/model.yaml declares no outputs.features; no out-of-scope statistics fitted"; fi
endif

metrics-diff:
	cd training && $(PYTHON) metricsdiff.py ../$(MODEL_DIR)/model.yaml

# Grouped cross-validation over train+valid (ct-lung's second estimate; five trainings, hours on this CPU): writes
# training/work/<id>/cv.json, which the next `make evaluate` puts on the card.
cv: $(TRAIN_WORK)/ingest.json
	cd training && $(NICE) $(PYTHON) cv.py --model $(MODEL) --work work/$(MODEL) --out work/$(MODEL)/cv.json

# The compact data pack a GPU machine trains from (git-ignored, carried by the device call): training/gpu-pack/<id>/.
gpu-pack: $(TRAIN_WORK)/ingest.json
	cd training && $(PYTHON) datapack.py --model $(MODEL) --work work/$(MODEL) --data $(abspath $(DATA)) --out gpu-pack/$(MODEL)

# Bring back a GPU run: FROM is the folder holding its files (model.pt, train.json, run.tar, ...).
gpu-import: $(TRAIN_WORK)/ingest.json
	@test -n "$(FROM)" || { echo "gpu-import: set FROM to the folder with the GPU run's files"; exit 2; }
	cd training && $(PYTHON) gpuimport.py --model $(MODEL) --from $(abspath $(FROM)) --work work/$(MODEL)

# The recipe's unit tests and a smoke run (a handful of images, one epoch, export, load in Go) in a scratch folder.
test-training:
	cd training && $(PYTHON) -m unittest discover -s tests -t .
	cd training && $(PYTHON) smoke.py --data $(abspath $(DATA))

clean:
	rm -rf bin dist build
