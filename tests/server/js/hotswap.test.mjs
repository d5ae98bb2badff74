// Two models behind one server: requests switch between them without a restart; a changed file
// or changed load parameters reload; a memory budget unloads the least recently used.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServer, postJson, runHearth, modelsDir, sampleModel } from './helpers.mjs';

let q8;
before(() => {
  q8 = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'hearth-q8-')), 'stories-q8.gguf');
  const r = runHearth(['quantize', sampleModel, q8, 'Q8_0']);
  assert.equal(r.code, 0, r.out);
});

const ask = (url, model, extra = {}) =>
  postJson(`${url}/api/generate`, { model, prompt: 'Once upon a time', stream: false, options: { temperature: 0, num_predict: 16, ...extra } });
const ps = async (url) => (await fetch(`${url}/api/ps`).then((r) => r.json())).models;

test('alternating and concurrent requests to two models', async () => {
  const srv = await startServer([], { dir: modelsDir({ 'stories-q8.gguf': q8 }) });
  try {
    const a = await ask(srv.url, 'stories260K');
    const b = await ask(srv.url, 'stories-q8');
    assert.equal(a.status, 200);
    assert.equal(b.status, 200);
    assert.equal((await ps(srv.url)).length, 2);
    const mixed = await Promise.all([0, 1, 2, 3, 4, 5].map((i) => ask(srv.url, i % 2 ? 'stories-q8' : 'stories260K')));
    mixed.forEach((r, i) => assert.equal(r.json.response, (i % 2 ? b : a).json.response));
    const tags = (await fetch(`${srv.url}/api/tags`).then((r) => r.json())).models.map((m) => m.name).sort();
    assert.deepEqual(tags, ['stories-q8:latest', 'stories260K:latest']);
  } finally { await srv.stop(); }
});

test('a replaced file and new load parameters reload the model', async () => {
  const srv = await startServer();
  try {
    await ask(srv.url, 'stories260K');
    const before = (await ps(srv.url))[0];
    fs.copyFileSync(q8, path.join(srv.models, 'stories260K.gguf'));  // same name, other file
    const r = await ask(srv.url, 'stories260K');
    assert.equal(r.status, 200);
    const after = (await ps(srv.url))[0];
    assert.ok(after.size < before.size, `${after.size} vs ${before.size}`);
    await ask(srv.url, 'stories260K', { num_ctx: 128 });
    const models = await ps(srv.url);
    assert.equal(models.length, 1);
    assert.equal(models[0].context_length, 128);
  } finally { await srv.stop(); }
});

test('a memory budget for one model swaps them, least recently used out', async () => {
  const srv = await startServer(['--ctx', '256', '--memory-mb', '2'], { dir: modelsDir({ 'stories-q8.gguf': q8 }) });
  try {
    for (const model of ['stories260K', 'stories-q8', 'stories260K']) {
      const r = await ask(srv.url, model);
      assert.equal(r.status, 200, r.text);
      const loaded = await ps(srv.url);
      assert.deepEqual(loaded.map((m) => m.name), [`${model}:latest`]);
    }
  } finally { await srv.stop(); }
});
