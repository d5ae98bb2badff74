// "digest" in /api/tags and /api/ps: the SHA-256 of the model file, as node's crypto computes
// it; a changed file gets a new one; digests are kept in $XDG_CACHE_HOME/hearth across
// restarts; a large file is hashed in the background.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServer, modelsDir, postJson } from './helpers.mjs';

const sha256 = (file) => crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function tags(srv) {
  const r = await fetch(`${srv.url}/api/tags`);
  assert.equal(r.status, 200);
  return Object.fromEntries((await r.json()).models.map((m) => [m.name, m]));
}

test('tags and ps report the sha256 of the file; a changed file gets a new digest', async () => {
  const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'hearth-cache-'));
  const dir = modelsDir();
  const file = path.join(dir, 'stories260K.gguf');
  const original = sha256(file);
  let srv = await startServer([], { dir, env: { XDG_CACHE_HOME: cache } });
  try {
    assert.equal((await tags(srv))['stories260K:latest'].digest, original);
    // ps, once the model is loaded.
    const load = await postJson(`${srv.url}/api/generate`, { model: 'stories260K' });
    assert.equal(load.json.done_reason, 'load');
    const ps = await fetch(`${srv.url}/api/ps`).then((r) => r.json());
    assert.equal(ps.models[0].digest, original);

    // The cache file names the file's digest, size and path.
    const cacheFile = path.join(cache, 'hearth', 'model-digests.tsv');
    const line = fs.readFileSync(cacheFile, 'utf8').split('\n').find((l) => l.endsWith(fs.realpathSync(file)));
    assert.ok(line, fs.readFileSync(cacheFile, 'utf8'));
    assert.deepEqual(line.split('\t').slice(0, 2), [original, String(fs.statSync(file).size)]);

    // Change one byte of the last weight (the file stays a valid GGUF of the same size) and
    // move its mtime: the next listing hashes it again.
    const bytes = fs.readFileSync(file);
    bytes[bytes.length - 1] ^= 0x01;
    fs.writeFileSync(file, bytes);
    const later = new Date(Date.now() + 10000);
    fs.utimesSync(file, later, later);
    const changed = sha256(file);
    assert.notEqual(changed, original);
    assert.equal((await tags(srv))['stories260K:latest'].digest, changed);
    await srv.stop();

    // A restarted server takes the digest from the cache file without reading the model: a
    // value planted there for this (path, size, mtime) is what it reports.
    const planted = 'ab'.repeat(32);
    fs.writeFileSync(cacheFile, fs.readFileSync(cacheFile, 'utf8').replace(changed, planted));
    srv = await startServer([], { dir, env: { XDG_CACHE_HOME: cache } });
    assert.equal((await tags(srv))['stories260K:latest'].digest, planted);
    // Touching the file makes the cached line stale.
    const latest = new Date(Date.now() + 20000);
    fs.utimesSync(file, latest, latest);
    assert.equal((await tags(srv))['stories260K:latest'].digest, changed);
  } finally {
    await srv.stop();
    fs.rmSync(cache, { recursive: true, force: true });
  }
});

test('a large file is listed with an empty digest until the background hash is done', async () => {
  // The sample model followed by 80 MiB of zeros (still a readable GGUF): larger than what a
  // listing hashes while it waits (64 MiB per file).
  const dir = modelsDir();
  const big = path.join(dir, 'big.gguf');
  fs.copyFileSync(path.join(dir, 'stories260K.gguf'), big);
  fs.truncateSync(big, fs.statSync(big).size + 80 * 1024 * 1024);
  const expected = sha256(big);
  const srv = await startServer([], { dir });
  try {
    const first = await tags(srv);
    assert.equal(first['big:latest'].digest, '');
    assert.equal(first['stories260K:latest'].digest, sha256(path.join(dir, 'stories260K.gguf')));
    let digest = '';
    for (let i = 0; i < 300 && digest === ''; i++) {
      await sleep(50);
      digest = (await tags(srv))['big:latest'].digest;
    }
    assert.equal(digest, expected);
  } finally {
    await srv.stop();
    fs.rmSync(big);
  }
});
