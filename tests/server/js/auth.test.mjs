// API keys, binding rules, busy port and CORS.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { Ollama } from 'ollama';
import { startServer, runHearth, modelsDir } from './helpers.mjs';

test('without a key every route is open and CORS is off', async () => {
  const srv = await startServer();
  try {
    const r = await fetch(`${srv.url}/v1/models`, { headers: { Origin: 'http://evil.example' } });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('access-control-allow-origin'), null);
  } finally { await srv.stop(); }
});

test('with a key: /health open, the rest needs Bearer', async () => {
  const srv = await startServer(['--api-key', 's3cret']);
  try {
    assert.equal((await fetch(`${srv.url}/health`)).status, 200);
    const none = await fetch(`${srv.url}/v1/models`);
    assert.equal(none.status, 401);
    assert.match((await none.json()).error.message, /API key/);
    const wrong = await fetch(`${srv.url}/api/tags`, { headers: { Authorization: 'Bearer nope' } });
    assert.equal(wrong.status, 401);
    assert.equal(typeof (await wrong.json()).error, 'string');
    assert.equal((await fetch(`${srv.url}/metrics`)).status, 401);
    assert.equal((await fetch(`${srv.url}/api/tags`, { headers: { Authorization: 'Bearer s3cret' } })).status, 200);
    const client = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: 's3cret', maxRetries: 0 });
    const c = await client.completions.create({ model: 'stories260K', prompt: 'Once', max_tokens: 3 });
    assert.equal(c.usage.completion_tokens, 3);
    const bad = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: 'wrong', maxRetries: 0 });
    await assert.rejects(bad.models.list(), (e) => e instanceof OpenAI.AuthenticationError);
    const ollama = new Ollama({ host: srv.url, headers: { Authorization: 'Bearer s3cret' } });
    assert.ok((await ollama.list()).models.length >= 1);
  } finally { await srv.stop(); }
});

test('HEARTH_API_KEY works like --api-key', async () => {
  const srv = await startServer([], { env: { HEARTH_API_KEY: 'envkey' } });
  try {
    assert.equal((await fetch(`${srv.url}/api/tags`)).status, 401);
    assert.equal((await fetch(`${srv.url}/api/tags`, { headers: { Authorization: 'Bearer envkey' } })).status, 200);
  } finally { await srv.stop(); }
});

test('a non-loopback host without a key refuses to start', () => {
  const r = runHearth(['serve', '--host', '0.0.0.0', '--port', '0', '--models-dir', modelsDir()]);
  assert.equal(r.code, 2);
  assert.match(r.out, /API key/);
  assert.match(r.out, /HEARTH_API_KEY/);
});

test('a busy port names --port', async () => {
  const srv = await startServer();
  try {
    const port = new URL(srv.url).port;
    const r = runHearth(['serve', '--port', port, '--models-dir', srv.models]);
    assert.notEqual(r.code, 0);
    assert.match(r.out, new RegExp(`127\\.0\\.0\\.1:${port}`));
    assert.match(r.out, /--port/);
  } finally { await srv.stop(); }
});

test('--cors allows one origin and answers preflight', async () => {
  const srv = await startServer(['--cors', 'http://app.example']);
  try {
    const r = await fetch(`${srv.url}/v1/models`);
    assert.equal(r.headers.get('access-control-allow-origin'), 'http://app.example');
    const pre = await fetch(`${srv.url}/v1/chat/completions`, { method: 'OPTIONS' });
    assert.equal(pre.status, 204);
    assert.match(pre.headers.get('access-control-allow-headers'), /Authorization/);
  } finally { await srv.stop(); }
});
