#!/usr/bin/env node
// Times a model.onnx in ONNX Runtime alone (onnxruntime-node, same ORT 1.29 as tumortracer), for comparison with
// `go test -bench Batch ./pipeline/`: session.run per batch on random inputs of the model's input size, read from
// the model.yaml beside the model. Prints one JSON object.
//
//   make scripts/nodepeer/node_modules   # once (npm ci from package-lock.json); node_modules is git-ignored
//   node scripts/nodepeer/ort_bench.js models/cxr-pneumonia/model.onnx [--batch 8] [--images 1000] [--threads 0]
'use strict';
const fs = require('fs');
const path = require('path');
const ort = require('onnxruntime-node');

function usage(msg) {
  if (msg) console.error('ort_bench: ' + msg);
  console.error('usage: node scripts/nodepeer/ort_bench.js MODEL.onnx [--batch B] [--images N] [--threads T]');
  process.exit(2);
}

function parseArgs(argv) {
  const o = { batch: 8, images: 1000, threads: 0 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--batch' || a === '--images' || a === '--threads') {
      const v = Number(argv[++i]);
      if (!Number.isInteger(v) || v < 0 || (a !== '--threads' && v < 1)) usage(`${a} needs a whole number`);
      o[a.slice(2)] = v;
    } else if (a.startsWith('--')) {
      usage(`unknown flag ${a}`);
    } else if (!o.model) {
      o.model = a;
    } else {
      usage(`unexpected argument ${a}`);
    }
  }
  if (!o.model) usage('no model given');
  return o;
}

// inputSpec reads the input section of model.yaml, in flow style ("input: {name: image, channels: 1, ...}") or
// block style (indented "name: image" lines under "input:").
function inputSpec(modelPath) {
  const lines = fs.readFileSync(path.join(path.dirname(modelPath), 'model.yaml'), 'utf8').split('\n');
  const at = lines.findIndex((l) => /^input:/.test(l));
  if (at < 0) usage('model.yaml has no input section');
  let text = lines[at];
  for (let i = at + 1; i < lines.length && /^\s+\S/.test(lines[i]); i++) text += ', ' + lines[i].trim();
  const get = (k) => {
    const m = text.match(new RegExp('\\b' + k + ':\\s*([\\w.-]+)'));
    if (!m) usage(`model.yaml input has no ${k}`);
    return m[1];
  };
  return { name: get('name'), c: Number(get('channels')), h: Number(get('height')), w: Number(get('width')) };
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const spec = inputSpec(o.model);
  const opts = { executionProviders: ['cpu'], graphOptimizationLevel: 'all' };
  if (o.threads > 0) opts.intraOpNumThreads = o.threads;
  const session = await ort.InferenceSession.create(o.model, opts);
  const plane = spec.c * spec.h * spec.w;
  let seed = 12345;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648) * 4 - 2;
  const make = (n) => {
    const data = new Float32Array(n * plane);
    for (let i = 0; i < data.length; i++) data[i] = rand();
    return new ort.Tensor('float32', data, [n, spec.c, spec.h, spec.w]);
  };
  const full = make(o.batch);
  for (let i = 0; i < 5; i++) await session.run({ [spec.name]: full }); // warm-up
  const runs = [];
  let done = 0;
  const t0 = process.hrtime.bigint();
  while (done < o.images) {
    const n = Math.min(o.batch, o.images - done);
    const x = n === o.batch ? full : make(n);
    const s = process.hrtime.bigint();
    await session.run({ [spec.name]: x });
    runs.push(Number(process.hrtime.bigint() - s) / 1e6);
    done += n;
  }
  const total = Number(process.hrtime.bigint() - t0) / 1e6;
  const runMs = runs.reduce((a, b) => a + b, 0);
  runs.sort((a, b) => a - b);
  console.log(JSON.stringify({
    model: o.model, input: [spec.c, spec.h, spec.w], batch: o.batch, images: o.images,
    onnxruntime_node: require('onnxruntime-node/package.json').version,
    session_ms_per_image: +(runMs / o.images).toFixed(3),
    median_ms_per_run: +runs[Math.floor(runs.length / 2)].toFixed(3),
    images_per_s: +(o.images / (total / 1000)).toFixed(1),
  }));
}

main().catch((e) => { console.error('ort_bench: ' + e.message); process.exit(1); });
