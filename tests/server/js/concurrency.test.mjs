// Continuous batching: 16 requests at once give exactly the serial greedy outputs; a client
// that disconnects mid-stream has its generation cancelled.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, postJson } from './helpers.mjs';

let srv;
before(async () => { srv = await startServer(['--parallel', '4', '--ctx', '4096']); });
after(async () => { await srv.stop(); });

const prompts = ['Once upon a time', 'The little dog', 'Lily and Tom', 'One day, a big bear', 'She was happy',
  'The sun was', 'There was a girl named Sue', 'Tim had a red ball', 'The cat and the bird', 'Mom said',
  'In the garden', 'A small boy', 'The tree was tall', 'Ben liked to', 'It was a rainy day', 'The fish'];

async function metric(name) {
  const text = await fetch(`${srv.url}/metrics`).then((r) => r.text());
  return Number(text.match(new RegExp(`^${name} (\\S+)$`, 'm'))[1]);
}

test('16 concurrent requests equal serial greedy runs', async () => {
  const body = (prompt) => ({ model: 'stories260K', prompt, max_tokens: 48, temperature: 0 });
  const serial = [];
  for (const p of prompts) serial.push((await postJson(`${srv.url}/v1/completions`, body(p))).json.choices[0].text);
  const chats = [];
  for (const p of prompts.slice(0, 4)) {
    chats.push((await postJson(`${srv.url}/api/chat`, { model: 'stories260K', messages: [{ role: 'user', content: p }], stream: false, options: { temperature: 0, num_predict: 32 } })).json.message.content);
  }
  const all = await Promise.all([
    ...prompts.map((p) => postJson(`${srv.url}/v1/completions`, body(p))),
    ...prompts.slice(0, 4).map((p) => postJson(`${srv.url}/api/chat`, { model: 'stories260K', messages: [{ role: 'user', content: p }], stream: false, options: { temperature: 0, num_predict: 32 } })),
  ]);
  all.forEach((r) => assert.equal(r.status, 200, r.text));
  assert.deepEqual(all.slice(0, 16).map((r) => r.json.choices[0].text), serial);
  assert.deepEqual(all.slice(16).map((r) => r.json.message.content), chats);
});

test('disconnect mid-stream cancels the generation', async () => {
  const before = await metric('hearth_cancelled_total');
  const ac = new AbortController();
  const res = await fetch(`${srv.url}/v1/completions`, {
    method: 'POST',
    body: JSON.stringify({ model: 'stories260K', prompt: 'Once upon a time', max_tokens: 4000, ignore_eos: true, stream: true }),
    signal: ac.signal,
  });
  const reader = res.body.getReader();
  let got = 0;
  while (got < 3) { await reader.read(); got++; }
  ac.abort();
  const t0 = Date.now();
  while (Date.now() - t0 < 5000) {
    if (await metric('hearth_cancelled_total') > before && await metric('hearth_active_generations') === 0) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(await metric('hearth_cancelled_total'), before + 1);
  assert.equal(await metric('hearth_active_generations'), 0);
  // The server goes on serving.
  const r = await postJson(`${srv.url}/v1/completions`, { model: 'stories260K', prompt: 'Once', max_tokens: 3 });
  assert.equal(r.status, 200);
});

test('second turn reuses the prompt cache', async () => {
  const first = await postJson(`${srv.url}/api/generate`, { model: 'stories260K', prompt: 'Once upon a time, there was a dog named Max.', stream: false, options: { temperature: 0, num_predict: 20 } });
  const second = await postJson(`${srv.url}/api/generate`, { model: 'stories260K', prompt: ' He liked', context: first.json.context, stream: false, options: { temperature: 0, num_predict: 5 } });
  assert.equal(second.status, 200);
  const m = await fetch(`${srv.url}/metrics`).then((r) => r.text());
  assert.match(m, /hearth_prompt_tokens_total/);
  // Via OpenAI the cached count is reported in usage.
  const msgs = [{ role: 'user', content: 'Tell me a story about a cat.' }];
  const a = await postJson(`${srv.url}/v1/chat/completions`, { model: 'stories260K', messages: msgs, max_tokens: 10, temperature: 0 });
  const b = await postJson(`${srv.url}/v1/chat/completions`, { model: 'stories260K', messages: [...msgs, a.json.choices[0].message, { role: 'user', content: 'More.' }], max_tokens: 10, temperature: 0 });
  assert.ok(b.json.usage.prompt_tokens_details.cached_tokens >= a.json.usage.prompt_tokens - 1, JSON.stringify(b.json.usage));
});
