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

.PHONY: all deps build run test test-go test-training bench lint train evaluate metrics-diff cv gpu-pack gpu-import package test-package clean

all: build

deps:
	@./scripts/deps.sh

build: deps
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) .

run: build
	./$(BIN) $(ARGS)

# Unit, corpus and window tests; the corpus tests skip with a message when $(DATA) is absent.
test: deps
	$(MAKE) test-training
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

# Training recipe (training/README.md): `make train MODEL=ct-lung|cxr-pneumonia DATA=../shared/data` runs
# ingest -> train -> export -> evaluate; each stage is a file target, so a rerun skips what is current.
# `make evaluate MODEL=...` re-scores the exported models/<id>/model.onnx (the only command that reads test), rewrites
# its card and records the runs in training/runs/; `make metrics-diff MODEL=...` prints the card's figures against
# the previous release's. GPU: `make gpu-pack`, then training/GPU_RUN.md, then `make gpu-import FROM=...`.
TRAIN_WORK := training/work/$(MODEL)
MODEL_DIR  := models/$(MODEL)
NICE       ?= nice -n 10

train: $(MODEL_DIR)/model.yaml

$(TRAIN_WORK)/ingest.json: training/ingest.py training/dedup.py training/preprocess.py training/params.yaml
	cd training && $(PYTHON) ingest.py --model $(MODEL) --data $(abspath $(DATA)) --out work/$(MODEL)

$(TRAIN_WORK)/model.pt: $(TRAIN_WORK)/ingest.json training/train.py training/model.py training/augment.py training/perturb.py training/metrics.py
	cd training && $(NICE) $(PYTHON) train.py --model $(MODEL) --work work/$(MODEL)

$(MODEL_DIR)/model.onnx: $(TRAIN_WORK)/model.pt training/export.py training/checkpoint.py
	cd training && $(PYTHON) export.py --work work/$(MODEL) --out ../$(MODEL_DIR)

$(MODEL_DIR)/model.yaml: $(MODEL_DIR)/model.onnx training/evaluate.py training/cards.yaml training/goscore/main.go
	$(MAKE) evaluate MODEL=$(MODEL) DATA=$(DATA)

evaluate: deps
	cd training && $(PYTHON) evaluate.py --model $(MODEL) --work work/$(MODEL) --data $(abspath $(DATA)) --out ../$(MODEL_DIR) --record

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
