#!/usr/bin/env node
// Times `tumortracer classify` against the Node peer (classify.js: onnxruntime-node + sharp) on the same files
// with the same model, whole process each, RUNS times each, interleaved (the order rotates every run) so that all
// sides see the same load on a shared machine. Our binary runs twice per round:
//   - auto:   `classify --models DIR PATH...`, the job a user runs by default: the gate looks at every image and
//             routes it (to the model in DIR, which replaces the bundled model of the same id); the headline ratio.
//   - forced: `classify --models DIR --model ID PATH...`, the model forced; the gate and the checks still run.
// The peer does no gate: it runs the model on every file. Prints every run, the medians, the ratio of each of our
// modes' median wall time to the peer's (the goal is held on auto), each side's ORT forward time of the model
// (summed session runs, from --timings and from the peer's own report) and the wall time beyond it, our gate's run
// (--timings gate_ms: its normalisation, forward and decision, on a goroutine of its own that overlaps the model's
// runs, so it is part of the time beyond the model's forward), and how often the labels agree. Exits 1 when a run
// fails, when a file gets no answer (in auto mode an image the gate refuses or routes elsewhere is not the same job;
// one the model's own out-of-scope statistics refuse after its forward run is, and is counted apart).
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

// parseCSV maps path → {label, model, scopeRefused} for the answered rows of a CSV whose first columns are path,
// status (our CSV and the peer's both name the label and model columns in their header). A row our binary refused by
// the model's out-of-scope statistics (status refused, the model named, a scope_score) counts as answered: the
// model's forward ran on it as on the others, so the job is the same; its label is empty and agrees with nothing.
function parseCSV(text) {
  const lines = text.split('\n').filter(Boolean);
  const head = splitCSV(lines.shift());
  const li = head.indexOf('label');
  const mi = head.indexOf('model');
  const si = head.indexOf('scope_score');
  const out = new Map();
  for (const l of lines) {
    const f = splitCSV(l);
    const scopeRefused = f[1] === 'refused' && si >= 0 && f[si] !== '' && f[mi] !== '';
    if (f[1] === 'ok' || scopeRefused) out.set(f[0], { label: f[li], model: f[mi], scopeRefused });
  }
  return out;
}

// splitCSV splits one CSV line into its fields (RFC 4180 quoting: our reasons carry commas and quotes).
function splitCSV(line) {
  const out = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cur += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
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
  const csv = (side) => path.join(tmp, side + '.csv');
  const sides = {
    auto: () => run(o.bin, ['classify', '--timings', '--models', o.models, '-o', csv('auto'), ...o.paths], csv('auto')),
    forced: () => run(o.bin, ['classify', '--timings', '--model', o.model, '--models', o.models, '-o', csv('forced'), ...o.paths], csv('forced')),
    peer: () => run(process.execPath, [path.join(__dirname, 'classify.js'), '--models', o.models, '-o', csv('peer'), ...o.paths], csv('peer')),
  };
  const names = Object.keys(sides);
  const res = { auto: [], forced: [], peer: [] };
  let files = 0;
  try {
    for (const side of names) sides[side](); // warm the page cache and the binaries, untimed
    for (let i = 0; i < o.runs; i++) {
      const order = names.map((_, j) => names[(i + j) % names.length]);
      for (const side of order) {
        const r = sides[side]();
        res[side].push(r);
        files = r.report.files;
        let extra = '';
        if (side !== 'peer') extra = `, gate ${r.report.gate_ms} ms, decode ${r.report.decode_ms} ms, preprocess ${r.report.preprocess_ms} ms (summed over workers)`;
        console.log(`run ${i + 1} ${side.padEnd(6)} wall ${r.wall.toFixed(0)} ms, forward ${r.report.forward_ms} ms${extra}`);
        if (r.rows.size !== files) throw new Error(`${side}: ${r.rows.size} answered records for ${files} files`);
        const other = [...r.rows.values()].filter((v) => v.model !== o.model).length;
        if (other > 0) throw new Error(`${side}: ${other} files answered by another model than ${o.model}`);
      }
    }
  } catch (e) {
    console.error('bench.js: ' + e.message);
    process.exit(1);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  const agree = (side) => {
    const peer = res.peer[res.peer.length - 1].rows;
    let same = 0;
    for (const [p, v] of res[side][res[side].length - 1].rows) if (peer.get(p)?.label === v.label) same++;
    return same;
  };
  const gate = (r) => r.report.gate_ms || 0;
  const stat = (side) => ({
    wall: median(res[side].map((r) => r.wall)),
    fwd: median(res[side].map((r) => r.report.forward_ms)),
    gate: median(res[side].map(gate)),
    beyond: median(res[side].map((r) => r.wall - r.report.forward_ms)),
  });
  const st = Object.fromEntries(names.map((n) => [n, stat(n)]));
  const per = (ms) => (ms / files).toFixed(3);
  const label = { auto: 'tumortracer (auto: gate routes)', forced: `tumortracer (--model ${o.model})`, peer: 'node peer (no gate)' };
  console.log(`\n${files} files, ${o.runs} runs each, interleaved; medians (ms per image in brackets):`);
  for (const n of names) {
    const a = st[n];
    const g = n === 'peer' ? '' : ` (gate's run beside it ${a.gate.toFixed(0)} ms, ${per(a.gate)})`;
    console.log(`  ${label[n].padEnd(34)} wall ${a.wall.toFixed(0)} ms (${per(a.wall)}), ORT forward ${a.fwd.toFixed(0)} ms (${per(a.fwd)}), beyond forward ${a.beyond.toFixed(0)} ms (${per(a.beyond)})${g}`);
  }
  console.log(`  labels agree with the peer on ${agree('auto')} (auto) and ${agree('forced')} (forced) of ${files} files`);
  const refused = (side) => [...res[side][res[side].length - 1].rows.values()].filter((v) => v.scopeRefused).length;
  if (refused('auto') + refused('forced') > 0) {
    console.log(`  refused by the model's out-of-scope check after its forward run: ${refused('auto')} (auto), ${refused('forced')} (forced)`);
  }
  for (const n of ['auto', 'forced']) {
    const ratio = st[n].wall / st.peer.wall;
    const goal = n === 'auto' ? ` (goal <= ${o.goal}): ${ratio <= o.goal ? 'met' : 'NOT met'}` : ' (reported; the goal is held on auto, the default job)';
    console.log(`ratio tumortracer ${n}/peer (median wall) = ${ratio.toFixed(3)}${goal}`);
  }
  console.log(`ratio beyond the model's forward (ours includes the gate's run): auto ${(st.auto.beyond / st.peer.beyond).toFixed(3)}, forced ${(st.forced.beyond / st.peer.beyond).toFixed(3)}`);
}

main();
