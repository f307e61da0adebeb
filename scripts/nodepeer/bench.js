#!/usr/bin/env node
// Times `tumortracer classify` against the Node peer (classify.js: onnxruntime-node + sharp) on the same files
// with the same model, whole process each, RUNS times each, interleaved (ours then the peer, then the peer then
// ours, …) so that both see the same load on a shared machine. Prints every run, the medians, the ratio of our
// median wall time to the peer's, each side's ORT forward time (summed session runs, from --timings and from
// the peer's own report) and the time beyond it, and how often the two agree on the label. Exits 1 when a run
// fails or the files' records are missing.
//
//   node scripts/nodepeer/bench.js --bin bin/tumortracer --models DIR --model ID [--runs 5] [--goal 0.75] PATH...
//
// `make bench-classify` runs it on ../shared/data/chest-xray/test with pipeline/testdata/cxr-pneumonia-1.0.0.
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

function usage(msg) {
  if (msg) console.error('bench.js: ' + msg);
  console.error('usage: node scripts/nodepeer/bench.js --bin BIN --models DIR --model ID [--runs N] [--goal R] PATH...');
  process.exit(2);
}

function parseArgs(argv) {
  const o = { runs: 5, goal: 0.75, paths: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (['--bin', '--models', '--model', '--runs', '--goal'].includes(a)) {
      if (i + 1 >= argv.length) usage(`${a} needs a value`);
      o[a.slice(2)] = argv[++i];
    } else if (a.startsWith('-')) {
      usage(`unknown flag ${a}`);
    } else {
      o.paths.push(a);
    }
  }
  o.runs = Number(o.runs);
  o.goal = Number(o.goal);
  if (!o.bin || !o.models || !o.model) usage('--bin, --models and --model are needed');
  if (!Number.isInteger(o.runs) || o.runs < 1) usage('--runs needs a whole number');
  if (o.paths.length === 0) usage('no files given');
  return o;
}

// run starts one whole process, waits for it and returns its wall time, the JSON line it printed on stderr and the
// CSV it wrote.
function run(cmd, args, csv) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 28 });
  const wall = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.error) throw new Error(`${cmd}: ${r.error.message}`);
  const report = r.stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l)).pop();
  if (r.status !== 0 || !report) throw new Error(`${cmd} ${args.join(' ')} exited with ${r.status}:\n${r.stderr}`);
  return { wall, report, rows: parseCSV(fs.readFileSync(csv, 'utf8')) };
}

// parseCSV maps path → label for the ok rows of a CSV whose first three columns are path, status, error.
function parseCSV(text) {
  const lines = text.split('\n').filter(Boolean);
  const head = lines.shift().split(',');
  const li = head.indexOf('label');
  const out = new Map();
  for (const l of lines) {
    const f = l.split(',');
    if (f[1] === 'ok') out.set(f[0], f[li]);
  }
  return out;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

function main() {
  const o = parseArgs(process.argv.slice(2));
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tt-bench-'));
  const oursCSV = path.join(tmp, 'ours.csv');
  const peerCSV = path.join(tmp, 'peer.csv');
  const ours = () => run(o.bin, ['classify', '--timings', '--model', o.model, '--models', o.models, '-o', oursCSV, ...o.paths], oursCSV);
  const peer = () => run(process.execPath, [path.join(__dirname, 'classify.js'), '--models', o.models, '-o', peerCSV, ...o.paths], peerCSV);
  const res = { ours: [], peer: [] };
  let files = 0;
  try {
    ours(); // warm the page cache and the binaries, untimed
    peer();
    for (let i = 0; i < o.runs; i++) {
      const order = i % 2 === 0 ? ['ours', 'peer'] : ['peer', 'ours'];
      for (const side of order) {
        const r = side === 'ours' ? ours() : peer();
        res[side].push(r);
        files = r.report.files;
        const fwd = r.report.forward_ms;
        let extra = '';
        if (side === 'ours') extra = `, decode ${r.report.decode_ms} ms, preprocess ${r.report.preprocess_ms} ms (summed over workers)`;
        console.log(`run ${i + 1} ${side.padEnd(4)} wall ${r.wall.toFixed(0)} ms, forward ${fwd} ms${extra}`);
        if (r.rows.size !== files) throw new Error(`${side}: ${r.rows.size} ok records for ${files} files`);
      }
    }
  } catch (e) {
    console.error('bench.js: ' + e.message);
    process.exit(1);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  const last = res.ours[res.ours.length - 1].rows;
  const other = res.peer[res.peer.length - 1].rows;
  let same = 0;
  for (const [p, label] of last) if (other.get(p) === label) same++;
  const stat = (side) => {
    const wall = median(res[side].map((r) => r.wall));
    const fwd = median(res[side].map((r) => r.report.forward_ms));
    const beyond = median(res[side].map((r) => r.wall - r.report.forward_ms));
    return { wall, fwd, beyond };
  };
  const a = stat('ours');
  const b = stat('peer');
  const per = (ms) => (ms / files).toFixed(3);
  console.log(`\n${files} files, ${o.runs} runs each, interleaved; medians (ms per image in brackets):`);
  console.log(`  tumortracer  wall ${a.wall.toFixed(0)} ms (${per(a.wall)}), ORT forward ${a.fwd.toFixed(0)} ms (${per(a.fwd)}), beyond forward ${a.beyond.toFixed(0)} ms (${per(a.beyond)})`);
  console.log(`  node peer    wall ${b.wall.toFixed(0)} ms (${per(b.wall)}), ORT forward ${b.fwd.toFixed(0)} ms (${per(b.fwd)}), beyond forward ${b.beyond.toFixed(0)} ms (${per(b.beyond)})`);
  console.log(`  labels agree on ${same} of ${files} files`);
  const ratio = a.wall / b.wall;
  console.log(`ratio tumortracer/peer (median wall) = ${ratio.toFixed(3)} (goal <= ${o.goal}): ${ratio <= o.goal ? 'met' : 'NOT met'}`);
  console.log(`ratio beyond forward = ${(a.beyond / b.beyond).toFixed(3)}`);
}

main();
