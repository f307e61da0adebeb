#!/usr/bin/env node
// The `tumortracer classify` job written the way a Node developer would, with onnxruntime-node and sharp (libvips):
// the peer that `make bench` times our binary against. For every file (folders recursed, sorted, dot-files
// skipped): decode with sharp, grey with PIL's luma ((19595 R + 38470 G + 7471 B + 0x8000) >> 16, as our
// preprocessing), resize to the model input with sharp's linear kernel, normalise with the manifest's mean and std,
// run in batches of 8, softmax with the manifest's temperature, decide with its threshold, and write one CSV line per
// file (a file that cannot be read gets an error line). The next batch is decoded while ORT runs the current one,
// and sharp decodes a batch's files in parallel on libuv's thread pool, so both cores work.
//
//   cd scripts/nodepeer && ONNXRUNTIME_NODE_INSTALL=skip npm ci    # once; node_modules is git-ignored
//   node scripts/nodepeer/classify.js --models MODELDIR [--batch 8] [--threads 0] [-o FILE] PATH...
//
// MODELDIR holds model.onnx and model.yaml (the same folder `tumortracer classify --models` takes). At exit a JSON
// line on stderr gives the wall time and the summed ORT session.run time (forward only), in milliseconds.
'use strict';
const fs = require('fs');
const path = require('path');
const ort = require('onnxruntime-node');
const sharp = require('sharp');
const yaml = require('js-yaml');

// Every file is read once: libvips's operation cache only costs time here (measured: about 10 % per image).
sharp.cache(false);

function usage(msg) {
  if (msg) console.error('classify.js: ' + msg);
  console.error('usage: node scripts/nodepeer/classify.js --models MODELDIR [--batch B] [--threads T] [-o FILE] PATH...');
  process.exit(2);
}

function parseArgs(argv) {
  const o = { batch: 8, threads: 0, paths: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--batch' || a === '--threads') {
      const v = Number(argv[++i]);
      if (!Number.isInteger(v) || v < 0 || (a === '--batch' && v < 1)) usage(`${a} needs a whole number`);
      o[a.slice(2)] = v;
    } else if (a === '--models' || a === '-o') {
      if (i + 1 >= argv.length) usage(`${a} needs a value`);
      o[a === '-o' ? 'out' : 'models'] = argv[++i];
    } else if (a.startsWith('-')) {
      usage(`unknown flag ${a}`);
    } else {
      o.paths.push(a);
    }
  }
  if (!o.models) usage('no --models folder given');
  if (o.paths.length === 0) usage('no files given');
  return o;
}

// expand lists the files to classify as `tumortracer classify` does: each argument in order, folders recursively
// in sorted order without names starting with ".".
function expand(paths) {
  const out = [];
  const walk = (dir) => {
    const found = [];
    const visit = (d) => {
      for (const e of fs.readdirSync(d, { withFileTypes: true })) {
        if (e.name.startsWith('.')) continue;
        const p = path.join(d, e.name);
        if (e.isDirectory()) visit(p);
        else if (e.isFile() || (e.isSymbolicLink() && fs.statSync(p, { throwIfNoEntry: false })?.isFile())) found.push(p);
      }
    };
    visit(dir);
    return found.sort();
  };
  for (const p of paths) {
    const st = fs.statSync(p, { throwIfNoEntry: false });
    if (st && st.isDirectory()) out.push(...walk(p));
    else out.push(p);
  }
  return out;
}

function loadManifest(dir) {
  const m = yaml.load(fs.readFileSync(path.join(dir, 'model.yaml'), 'utf8'));
  const problems = [];
  if (!m.input || !m.input.name || !(m.input.channels >= 1) || !(m.input.height >= 1) || !(m.input.width >= 1)) problems.push('input');
  if (!m.preprocessing || !m.preprocessing.mean || !m.preprocessing.std) problems.push('preprocessing mean/std');
  if (!m.outputs || !m.outputs.logits) problems.push('outputs.logits');
  if (!Array.isArray(m.classes) || m.classes.length < 2) problems.push('classes');
  if (problems.length) usage(`model.yaml in ${dir} lacks ${problems.join(', ')}`);
  return m;
}

// preprocessor returns the function that turns one file into the model's input plane(s) at dst.
function preprocessor(m) {
  const { channels: C, height: H, width: W } = m.input;
  const lut = [];
  for (let c = 0; c < C; c++) {
    const mean = m.preprocessing.mean.length === C ? m.preprocessing.mean[c] : m.preprocessing.mean[0];
    const std = m.preprocessing.std.length === C ? m.preprocessing.std[c] : m.preprocessing.std[0];
    const t = new Float32Array(256);
    for (let v = 0; v < 256; v++) t[v] = (v / 255 - mean) / std;
    lut.push(t);
  }
  return async (file, dst) => {
    const { data, info } = await sharp(file).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    const n = info.width * info.height;
    let grey = data;
    if (info.channels >= 3) {
      grey = Buffer.allocUnsafe(n);
      for (let i = 0, j = 0; i < n; i++, j += info.channels) {
        grey[i] = (19595 * data[j] + 38470 * data[j + 1] + 7471 * data[j + 2] + 0x8000) >>> 16;
      }
    }
    let small = grey;
    if (info.width !== W || info.height !== H) {
      small = await sharp(grey, { raw: { width: info.width, height: info.height, channels: 1 } })
        .resize(W, H, { kernel: 'linear', fit: 'fill' }).extractChannel(0).raw().toBuffer();
    }
    const plane = H * W;
    for (let c = 0; c < C; c++) {
      const t = lut[c];
      for (let i = 0; i < plane; i++) dst[c * plane + i] = t[small[i]];
    }
  };
}

function softmax(logits, temperature) {
  const t = temperature > 0 ? temperature : 1;
  let max = -Infinity;
  for (const l of logits) max = Math.max(max, l / t);
  const e = logits.map((l) => Math.exp(l / t - max));
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / sum);
}

// decide is the manifest's rule: for a binary model the positive class when its probability reaches the threshold.
function decide(m, probs) {
  const pos = m.classes.findIndex((c) => c.id === m.positive_class);
  if (probs.length === 2 && pos >= 0) return probs[pos] >= m.threshold ? pos : 1 - pos;
  let best = 0;
  probs.forEach((p, i) => { if (p > probs[best]) best = i; });
  return best;
}

function csvField(s) {
  return /[",\n\r]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
}

async function main() {
  const t0 = process.hrtime.bigint();
  const o = parseArgs(process.argv.slice(2));
  const m = loadManifest(o.models);
  const opts = { executionProviders: ['cpu'], graphOptimizationLevel: 'all' };
  if (o.threads > 0) opts.intraOpNumThreads = o.threads;
  const session = await ort.InferenceSession.create(path.join(o.models, 'model.onnx'), opts);
  const files = expand(o.paths);
  const prep = preprocessor(m);
  const { channels: C, height: H, width: W } = m.input;
  const plane = C * H * W;
  const out = o.out ? fs.createWriteStream(o.out) : process.stdout;
  out.write(['path', 'status', 'error', 'model', 'version', 'label', 'probability', ...m.classes.map((c) => 'p_' + c.id)].join(',') + '\n');

  // decodeBatch starts decoding files [start, start+B) into a fresh tensor buffer; per-file errors are kept.
  const decodeBatch = (start) => {
    const names = files.slice(start, start + o.batch);
    const data = new Float32Array(names.length * plane);
    const errors = new Array(names.length).fill(null);
    const done = Promise.all(names.map((f, i) =>
      prep(f, data.subarray(i * plane, (i + 1) * plane)).catch((e) => { errors[i] = e.message.split('\n')[0]; })));
    return done.then(() => ({ names, data, errors }));
  };
  let forwardMs = 0;
  let failed = 0;
  let next = files.length ? decodeBatch(0) : null;
  for (let start = 0; start < files.length; start += o.batch) {
    const b = await next;
    next = start + o.batch < files.length ? decodeBatch(start + o.batch) : null;
    const n = b.names.length;
    const tensor = new ort.Tensor('float32', b.data, [n, C, H, W]);
    const s = process.hrtime.bigint();
    const res = await session.run({ [m.input.name]: tensor }, [m.outputs.logits]);
    forwardMs += Number(process.hrtime.bigint() - s) / 1e6;
    const logits = res[m.outputs.logits].data;
    const k = m.classes.length;
    let lines = '';
    for (let i = 0; i < n; i++) {
      if (b.errors[i] !== null) {
        failed++;
        lines += [csvField(b.names[i]), 'error', csvField(b.errors[i]), m.id, m.version, '', '', ...m.classes.map(() => '')].join(',') + '\n';
        continue;
      }
      const probs = softmax(Array.from(logits.subarray(i * k, (i + 1) * k)), m.outputs.temperature);
      const label = decide(m, probs);
      lines += [csvField(b.names[i]), 'ok', '', m.id, m.version, m.classes[label].id, probs[label].toFixed(6),
        ...probs.map((p) => p.toFixed(6))].join(',') + '\n';
    }
    out.write(lines);
  }
  if (o.out) await new Promise((resolve) => out.end(resolve));
  const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
  console.error(JSON.stringify({ files: files.length, failed, wall_ms: +wallMs.toFixed(1), forward_ms: +forwardMs.toFixed(1) }));
  process.exitCode = failed ? 1 : 0;
}

main().catch((e) => { console.error('classify.js: ' + e.message); process.exit(1); });
