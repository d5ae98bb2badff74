// A client that goes away cancels its generation, also when it asked for a non-streaming
// answer (the server watches the connection while it generates). The server has one slot and
// a long context, so a generation that ran on would hold the slot for many seconds: a short
// request right after the disconnect shows that the slot was freed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServer, postJson, curl, runHearth } from './helpers.mjs';

let srv, data;
before(async () => {
  // A knowledge base for /api/kb/{name}/ask.
  data = fs.mkdtempSync(path.join(os.tmpdir(), 'hearth-kb-data-'));
  const docs = fs.mkdtempSync(path.join(os.tmpdir(), 'hearth-kb-docs-'));
  fs.writeFileSync(path.join(docs, 'pets.md'), '# Cats\n\nThe cat sat on the mat with a red ball.\n');
  const env = { HEARTH_DATA_DIR: data };
  assert.equal(runHearth(['kb', 'create', 'pets'], env).code, 0);
  const add = runHearth(['kb', 'add', 'pets', docs, '--no-progress'], env);
  assert.equal(add.code, 0, add.out);
  fs.rmSync(docs, { recursive: true, force: true });
  srv = await startServer(['--parallel', '1', '--ctx', '16384', '--data-dir', data]);
});
after(async () => {
  await srv.stop();
  fs.rmSync(data, { recursive: true, force: true });
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function metrics() {
  const text = await fetch(`${srv.url}/metrics`).then((r) => r.text());
  const get = (name) => Number(text.match(new RegExp(`^${name} (\\S+)$`, 'm'))[1]);
  return {
    cancelled: get('hearth_cancelled_total'),
    active: get('hearth_active_generations'),
    queued: get('hearth_queue_depth'),
    errors: get('hearth_request_errors_total'),
  };
}

async function waitFor(what, cond, ms = 10000) {
  const t0 = Date.now();
  for (;;) {
    const m = await metrics();
    if (cond(m)) return { m, elapsed: Date.now() - t0 };
    if (Date.now() - t0 > ms) assert.fail(`timed out waiting for ${what}: ${JSON.stringify(m)}`);
    await sleep(10);
  }
}

// Requests whose answers would take far longer than the test: up to 16000 tokens (the sample
// model never ends on its own with Ollama's num_predict -1 or OpenAI's ignore_eos; the
// knowledge-base answer with this seed runs for over a minute).
const longRequests = {
  '/v1/chat/completions': { model: 'stories260K', messages: [{ role: 'user', content: 'Tell me a story' }], max_tokens: 16000, ignore_eos: true },
  '/v1/completions': { model: 'stories260K', prompt: 'Once upon a time', max_tokens: 16000, ignore_eos: true },
  '/api/generate': { model: 'stories260K', prompt: 'Once upon a time', stream: false, options: { num_predict: -1 } },
  '/api/chat': { model: 'stories260K', messages: [{ role: 'user', content: 'Tell me a story' }], stream: false, options: { num_predict: -1 } },
  '/api/kb/pets/ask': { question: 'cat ball', model: 'stories260K', max_tokens: 16000, seed: 1, stream: false },
};

// Starts a request that is aborted by `ac`; resolves to 'aborted' (or what came back instead).
function startAbortable(route, body, ac) {
  return fetch(`${srv.url}${route}`, { method: 'POST', body: JSON.stringify(body), signal: ac.signal })
    .then((r) => `answered ${r.status}`, (e) => (e.name === 'AbortError' ? 'aborted' : `failed: ${e}`));
}

for (const [route, body] of Object.entries(longRequests)) {
  test(`non-streaming ${route}: disconnect cancels the generation`, async () => {
    const before = await metrics();
    assert.equal(before.active, 0);
    const ac = new AbortController();
    const pending = startAbortable(route, body, ac);
    await waitFor('the generation to start', (m) => m.active === 1);
    await sleep(100);  // decoding by now
    ac.abort();
    assert.equal(await pending, 'aborted');
    // Cancelled within a step of noticing (the server looks after every token).
    const { m, elapsed } = await waitFor('the cancellation', (x) => x.cancelled > before.cancelled && x.active === 0);
    assert.equal(m.cancelled, before.cancelled + 1);
    assert.ok(elapsed < 2000, `took ${elapsed} ms`);
    assert.equal(m.errors, before.errors, 'a disconnect is not an error');
    // The only slot is free: a short request gets it at once.
    const t0 = Date.now();
    const r = await postJson(`${srv.url}/v1/completions`, { model: 'stories260K', prompt: 'Once', max_tokens: 5, temperature: 0 });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.usage.completion_tokens, 5);
    assert.ok(Date.now() - t0 < 3000, `follow-up took ${Date.now() - t0} ms`);
  });
}

test('a non-streaming request that leaves while queued is taken out of the queue', async () => {
  const before = await metrics();
  // Occupy the slot with a streaming generation.
  const hold = new AbortController();
  const holder = await fetch(`${srv.url}/v1/completions`, {
    method: 'POST',
    body: JSON.stringify({ ...longRequests['/v1/completions'], stream: true }),
    signal: hold.signal,
  });
  await waitFor('the first generation', (m) => m.active === 1);
  const ac = new AbortController();
  const pending = startAbortable('/api/generate', longRequests['/api/generate'], ac);
  await waitFor('the second request to queue', (m) => m.queued === 1);
  ac.abort();
  assert.equal(await pending, 'aborted');
  const { m } = await waitFor('the queue to empty', (x) => x.queued === 0 && x.cancelled === before.cancelled + 1);
  assert.equal(m.active, 1, 'the streaming generation goes on');
  hold.abort();
  await holder.body?.cancel().catch(() => {});
  await waitFor('the streaming generation to stop', (x) => x.active === 0 && x.cancelled === before.cancelled + 2);
});

test('non-streaming answers keep their framing: Content-Length, application/json', () => {
  for (const [route, body] of [
    ['/v1/chat/completions', { model: 'stories260K', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 4, temperature: 0 }],
    ['/api/generate', { model: 'stories260K', prompt: 'Once', stream: false, options: { num_predict: 4, temperature: 0 } }],
  ]) {
    const raw = curl(['-i', `${srv.url}${route}`, '-d', JSON.stringify(body)]);
    const i = raw.indexOf('\r\n\r\n');
    const head = raw.slice(0, i).toLowerCase();
    const text = raw.slice(i + 4);
    assert.match(head, /^http\/1\.1 200/);
    assert.match(head, /content-type: application\/json/);
    assert.match(head, new RegExp(`content-length: ${Buffer.byteLength(text)}\\r?$`, 'm'));
    assert.doesNotMatch(head, /transfer-encoding/);
    JSON.parse(text);
  }
});
