// Starts `hearth serve` on a free port for a test file and stops it afterwards.
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const sourceDir = path.resolve(here, '../../..');
export const hearth = process.env.HEARTH_BINARY || path.join(sourceDir, 'build/release/hearth');
export const sampleModel = path.join(sourceDir, 'models/stories260K.gguf');

// A fresh models directory holding the sample model (as stories260K.gguf) plus `extra` files.
export function modelsDir(extra = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hearth-serve-'));
  fs.copyFileSync(sampleModel, path.join(dir, 'stories260K.gguf'));
  for (const [name, src] of Object.entries(extra)) fs.copyFileSync(src, path.join(dir, name));
  return dir;
}

// Runs `hearth serve --port 0 ...args`; resolves with {url, proc, output(), stop()} once the URL
// is printed, rejects if it exits first.
// The server's cache (model digests) goes to a fresh XDG_CACHE_HOME unless `env` names one.
export function startServer(args = [], { env = {}, dir } = {}) {
  const models = dir ?? modelsDir();
  const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'hearth-cache-'));
  const proc = spawn(hearth, ['serve', '--port', '0', '--models-dir', models, '-t', '2', ...args], {
    env: { ...process.env, HEARTH_API_KEY: '', XDG_CACHE_HOME: cache, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  return new Promise((resolve, reject) => {
    const onData = (d) => {
      out += d.toString();
      const m = out.match(/listening on (http:\/\/\S+)/);
      if (m) {
        proc.stdout.off('data', onData);
        proc.stdout.on('data', (d2) => { out += d2.toString(); });
        resolve({
          url: m[1],
          proc,
          models,
          cache: env.XDG_CACHE_HOME ?? cache,
          output: () => out,
          stop: () => new Promise((res) => {
            const done = (code) => {
              fs.rmSync(cache, { recursive: true, force: true });  // the one made here, not env's
              res(code);
            };
            if (proc.exitCode !== null) return done(proc.exitCode);
            proc.once('exit', done);
            proc.kill('SIGTERM');
          }),
        });
      }
    };
    proc.stdout.on('data', onData);
    proc.stderr.on('data', (d) => { out += d.toString(); });
    proc.once('exit', (code) => reject(new Error(`hearth serve exited with ${code}: ${out}`)));
    setTimeout(() => reject(new Error(`hearth serve did not start: ${out}`)), 20000).unref();
  });
}

// Runs hearth to completion: {code, out}.
export function runHearth(args, env = {}) {
  try {
    const out = execFileSync(hearth, args, { env: { ...process.env, HEARTH_API_KEY: '', ...env }, stdio: 'pipe', timeout: 20000 });
    return { code: 0, out: out.toString() };
  } catch (e) {
    return { code: e.status, out: (e.stdout?.toString() ?? '') + (e.stderr?.toString() ?? '') };
  }
}

export async function postJson(url, body, headers = {}) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, headers: res.headers, text, json };
}

export function curl(args) {
  return execFileSync('curl', ['-sS', '-N', ...args], { timeout: 20000 }).toString();
}
