// The knowledge-base routes: POST /api/kb/{name}/search and /api/kb/{name}/ask (NDJSON stream
// of answer pieces, then a final object with sources, citations and dropped sources). The
// sample model writes nonsense, so the answer is checked for its structure only.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServer, postJson, runHearth, curl } from './helpers.mjs';

let srv, data, docs;
before(async () => {
  data = fs.mkdtempSync(path.join(os.tmpdir(), 'hearth-kb-data-'));
  docs = fs.mkdtempSync(path.join(os.tmpdir(), 'hearth-kb-docs-'));
  fs.writeFileSync(path.join(docs, 'pets.md'), '# Cats\n\nThe cat sat on the mat with a red ball.\n');
  fs.writeFileSync(path.join(docs, 'lily.txt'), 'Lily gave the cat a ball and the cat was happy.\n');
  fs.writeFileSync(path.join(docs, 'long.md'),
    '# Cat stories\n\n' + 'Once upon a time a small cat found a ball in the big green garden. '.repeat(30) + '\n');
  const env = { HEARTH_DATA_DIR: data };
  assert.equal(runHearth(['kb', 'create', 'pets'], env).code, 0);
  const add = runHearth(['kb', 'add', 'pets', docs, '--no-progress'], env);
  assert.equal(add.code, 0, add.out);
  srv = await startServer(['--data-dir', data]);
});
after(async () => {
  await srv.stop();
  fs.rmSync(data, { recursive: true, force: true });
  fs.rmSync(docs, { recursive: true, force: true });
});

test('search returns ranked chunks with file, section, page, score and snippet', async () => {
  const r = await postJson(`${srv.url}/api/kb/pets/search`, { query: 'red ball', k: 3 });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.kb, 'pets');
  assert.ok(r.json.results.length >= 1 && r.json.results.length <= 3);
  const top = r.json.results[0];
  assert.equal(top.path, path.join(docs, 'pets.md'));
  assert.equal(top.section, 'Cats');
  assert.equal(top.page, 0);
  assert.equal(typeof top.score, 'number');
  assert.match(top.snippet, /\[red\]/);
  assert.match(top.text, /The cat sat on the mat/);
  for (let i = 1; i < r.json.results.length; i++) assert.ok(r.json.results[i - 1].score >= r.json.results[i].score);
});

test('search errors: unknown knowledge base, missing query, bad k, bad JSON', async () => {
  let r = await postJson(`${srv.url}/api/kb/ghost/search`, { query: 'cat' });
  assert.equal(r.status, 404);
  assert.match(r.json.error, /ghost/);
  r = await postJson(`${srv.url}/api/kb/pets/search`, { k: 2 });
  assert.equal(r.status, 400);
  assert.match(r.json.error, /'query' is required/);
  r = await postJson(`${srv.url}/api/kb/pets/search`, { query: 'cat', k: 0 });
  assert.equal(r.status, 400);
  assert.match(r.json.error, /'k'/);
  r = await postJson(`${srv.url}/api/kb/pets/search`, '{"query":');
  assert.equal(r.status, 400);
  assert.match(r.json.error, /not valid JSON/);
});

test('ask streams NDJSON answer pieces, then sources, citations and dropped', async () => {
  const res = await fetch(`${srv.url}/api/kb/pets/ask`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ question: 'cat ball', model: 'stories260K', k: 8, max_tokens: 16, seed: 1 }),
  });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /application\/x-ndjson/);
  const lines = (await res.text()).split('\n').filter((l) => l.length > 0).map((l) => JSON.parse(l));
  assert.ok(lines.length >= 2);
  const last = lines.at(-1);
  const pieces = lines.slice(0, -1);
  for (const p of pieces) {
    assert.equal(p.done, false);
    assert.equal(typeof p.response, 'string');
  }
  assert.equal(last.done, true);
  assert.equal(last.answer, pieces.map((p) => p.response).join(''));
  assert.ok(last.sources.length >= 2, JSON.stringify(last));
  last.sources.forEach((s, i) => {
    assert.equal(s.number, i + 1);
    assert.ok(s.path.startsWith(docs));
    assert.equal(typeof s.cited, 'boolean');
  });
  assert.ok(Array.isArray(last.citations));
  assert.ok(Array.isArray(last.dropped));
  assert.ok(last.prompt_tokens <= last.budget);
  assert.ok(last.completion_tokens <= 16);
});

test('ask without streaming, with a small context: dropped sources are reported', async () => {
  const r = await postJson(`${srv.url}/api/kb/pets/ask`, {
    question: 'cat ball', model: 'stories260K', max_context_tokens: 260, max_tokens: 4, stream: false, show_context: true,
  });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.done, true);
  assert.ok(r.json.dropped.length >= 1, r.text);
  for (const d of r.json.dropped) {
    assert.equal(d.path, path.join(docs, 'long.md'));
    assert.ok(d.tokens > 0);
    assert.ok(d.rank >= 1);
  }
  assert.ok(r.json.prompt_tokens <= 260);
  assert.match(r.json.prompt, /\[1\] /);
  assert.match(r.json.prompt, /Question: cat ball/);
  assert.doesNotMatch(r.json.prompt, /Once upon a time/);
});

test('ask errors: unknown knowledge base or model, missing fields, context too small', async () => {
  const ask = (name, body) => postJson(`${srv.url}/api/kb/${name}/ask`, { stream: false, max_tokens: 2, ...body });
  let r = await ask('ghost', { question: 'cat', model: 'stories260K' });
  assert.equal(r.status, 404);
  assert.match(r.json.error, /ghost/);
  r = await ask('pets', { question: 'cat', model: 'nomodel' });
  assert.equal(r.status, 404);
  assert.match(r.json.error, /nomodel/);
  r = await ask('pets', { model: 'stories260K' });
  assert.equal(r.status, 400);
  assert.match(r.json.error, /'question' is required/);
  r = await ask('pets', { question: 'cat' });
  assert.equal(r.status, 400);
  assert.match(r.json.error, /'model' is required/);
  r = await ask('pets', { question: 'cat', model: 'stories260K', max_context_tokens: 10 });
  assert.equal(r.status, 400);
  assert.match(r.json.error, /tokens/);
  r = await ask('pets', { question: 'cat', model: 'stories260K', k: 'many' });
  assert.equal(r.status, 400);
  assert.match(r.json.error, /'k'/);
});

test('ask over curl: one JSON object per line', () => {
  const out = curl(['-X', 'POST', `${srv.url}/api/kb/pets/ask`, '-H', 'Content-Type: application/json',
    '-d', JSON.stringify({ question: 'cat', model: 'stories260K', max_tokens: 4 })]);
  const lines = out.trim().split('\n');
  for (const l of lines) JSON.parse(l);
  assert.equal(JSON.parse(lines.at(-1)).done, true);
});
