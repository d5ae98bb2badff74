#!/usr/bin/env node
// Load test of `hearth serve`: aggregate generation tokens/s with 1, 2, 4, 8 concurrent streams,
// time to first token, and second-turn time to first token with and without the prompt cache.
// Needs only node (built-in fetch). Starts its own server unless --url is given.
//
//   node bench/serve_bench.mjs [--hearth build/release/hearth] [--model models/stories260K.gguf]
//        [--tokens 128] [--streams 1,2,4,8] [--threads N] [--parallel 8] [--rounds 3] [--url http://127.0.0.1:11434]
import { spawn } from 'node:child_process';
import path from 'node:path';

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => {
  if (a.startsWith('--')) acc.push([a.slice(2), all[i + 1]]);
  return acc;
}, []));
const hearth = args.hearth ?? 'build/release/hearth';
const modelPath = args.model ?? 'models/stories260K.gguf';
const model = path.basename(modelPath, '.gguf');
const tokens = Number(args.tokens ?? 128);
const streams = (args.streams ?? '1,2,4,8').split(',').map(Number);
const parallel = Number(args.parallel ?? Math.max(...streams));
const rounds = Number(args.rounds ?? 3);

async function startServer() {
  const a = ['serve', '--port', '0', '--models-dir', path.dirname(modelPath), '--model', model,
    '--parallel', String(parallel), '--ctx', String(args.ctx ?? 1024)];
  if (args.threads) a.push('-t', args.threads);
  const proc = spawn(hearth, a, { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  const url = await new Promise((resolve, reject) => {
    proc.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/listening on (http:\/\/\S+)/);
      if (m) resolve(m[1]);
    });
    proc.once('exit', (c) => reject(new Error(`hearth serve exited (${c})`)));
  });
  return { url, stop: () => proc.kill('SIGTERM') };
}

// One streamed completion: {ttft, total, n} (seconds, tokens).
async function stream(url, prompt, extra = {}) {
  const t0 = performance.now();
  const res = await fetch(`${url}/v1/completions`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ model, prompt, max_tokens: tokens, temperature: 0, ignore_eos: true, stream: true,
      stream_options: { include_usage: true }, ...extra }),
  });
  if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
  const reader = res.body.getReader();
  const dec = new TextDecoder();
  let ttft = null, buf = '', n = 0;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += dec.decode(value, { stream: true });
    let i;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const ev = buf.slice(0, i);
      buf = buf.slice(i + 2);
      if (!ev.startsWith('data: ') || ev === 'data: [DONE]') continue;
      const j = JSON.parse(ev.slice(6));
      // The first event carrying a choice: a model with random weights may emit tokens whose
      // text is empty (control tokens, partial UTF-8), which still count as its first token.
      if (ttft === null && j.choices?.length) ttft = (performance.now() - t0) / 1000;
      if (j.usage) n = j.usage.completion_tokens;
    }
  }
  return { ttft, total: (performance.now() - t0) / 1000, n };
}

const prompts = ['Once upon a time', 'The little dog', 'Lily and Tom went to the park', 'One day, a big bear',
  'She was happy because', 'The sun was hot', 'There was a girl named Sue', 'Tim had a red ball'];

const srv = args.url ? { url: args.url, stop() {} } : await startServer();
try {
  await stream(srv.url, 'warm up');
  console.log(`model ${model}, ${tokens} tokens per stream, ${rounds} rounds (stream counts alternated)`);
  console.log('streams  aggregate tok/s  per-stream tok/s  mean TTFT ms');
  // Each round runs every stream count once, and the figures add up over the rounds: on a
  // machine whose memory speed drifts, one stream and four measured minutes apart can land in
  // different phases, and alternating them keeps the ratio between figures of the same time.
  const sums = new Map(streams.map((k) => [k, { tokens: 0, wall: 0, ttft: 0, n: 0 }]));
  for (let round = 0; round < rounds; ++round) {
    for (const k of streams) {
      const t0 = performance.now();
      const rs = await Promise.all(Array.from({ length: k }, (_, i) => stream(srv.url, prompts[i % prompts.length] + ` (${i})`)));
      const s = sums.get(k);
      s.wall += (performance.now() - t0) / 1000;
      s.tokens += rs.reduce((a, r) => a + r.n, 0);
      s.ttft += rs.reduce((a, r) => a + r.ttft, 0);
      s.n += rs.length;
    }
  }
  let base = 0;
  for (const k of streams) {
    const s = sums.get(k);
    const agg = s.tokens / s.wall;
    if (k === 1) base = agg;
    const ttft = s.ttft / s.n * 1000;
    console.log(`${String(k).padStart(7)}  ${agg.toFixed(1).padStart(15)}  ${(agg / k).toFixed(1).padStart(16)}  ${ttft.toFixed(1).padStart(12)}` +
      (k > 1 && base ? `   (${(agg / base).toFixed(2)}x of 1 stream)` : ''));
  }
  // Second turn of a chat-like exchange: the history is the first prompt + answer.
  const history = 'Once upon a time, there was a little girl named Lily. She loved to play outside. '.repeat(Number(args.history ?? 6));
  const first = await fetch(`${srv.url}/v1/completions`, { method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ model, prompt: history, max_tokens: 32, temperature: 0 }) }).then((r) => r.json());
  const turn2 = history + first.choices[0].text + ' Then';
  const cached = await stream(srv.url, turn2, { max_tokens: 8 });
  const uncached = await stream(srv.url, turn2 + ' ', { max_tokens: 8, cache_prompt: false });
  console.log(`second turn (${first.usage.prompt_tokens + 32}+ tokens of history): TTFT with prompt cache ` +
    `${(cached.ttft * 1000).toFixed(1)} ms, without ${(uncached.ttft * 1000).toFixed(1)} ms`);
} finally {
  srv.stop();
}
