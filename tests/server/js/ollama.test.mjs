// The official `ollama` client against hearth serve.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Ollama } from 'ollama';
import { startServer } from './helpers.mjs';

let srv, ollama;
before(async () => {
  srv = await startServer();
  ollama = new Ollama({ host: srv.url });
});
after(async () => { await srv.stop(); });

const greedy = { temperature: 0, num_predict: 20 };

test('generate, non-streaming, with timings and context', async () => {
  const r = await ollama.generate({ model: 'stories260K', prompt: 'Once upon a time', options: greedy, stream: false });
  assert.equal(r.done, true);
  assert.equal(r.done_reason, 'length');
  assert.ok(r.response.length > 0);
  assert.equal(r.eval_count, 20);
  assert.ok(r.prompt_eval_count > 0);
  for (const k of ['total_duration', 'load_duration', 'prompt_eval_duration', 'eval_duration']) assert.equal(typeof r[k], 'number');
  assert.ok(Array.isArray(r.context) && r.context.length === r.prompt_eval_count + 20);
  // The context continues the conversation.
  const next = await ollama.generate({ model: 'stories260K', prompt: ' Then', context: r.context, options: greedy, stream: false });
  assert.ok(next.prompt_eval_count > r.context.length);
});

test('generate, streaming, equals non-streaming', async () => {
  const whole = await ollama.generate({ model: 'stories260K', prompt: 'The cat', options: greedy, stream: false });
  let text = '';
  let last = null;
  for await (const part of await ollama.generate({ model: 'stories260K', prompt: 'The cat', options: greedy, stream: true })) {
    text += part.response;
    last = part;
  }
  assert.equal(text, whole.response);
  assert.equal(last.done, true);
  assert.equal(last.eval_count, 20);
});

test('chat, streaming and not', async () => {
  const messages = [{ role: 'user', content: 'Tell me a story' }];
  const whole = await ollama.chat({ model: 'stories260K', messages, options: greedy, stream: false });
  assert.equal(whole.message.role, 'assistant');
  let text = '';
  for await (const part of await ollama.chat({ model: 'stories260K', messages, options: greedy, stream: true })) {
    text += part.message.content;
  }
  assert.equal(text, whole.message.content);
});

test('tags, show, ps, version', async () => {
  const tags = await ollama.list();
  const m = tags.models.find((x) => x.name === 'stories260K:latest');
  assert.ok(m);
  assert.equal(m.details.format, 'gguf');
  assert.equal(m.details.family, 'llama');
  const show = await ollama.show({ model: 'stories260K' });
  assert.equal(show.model_info['general.architecture'], 'llama');
  const ps = await ollama.ps();
  assert.ok(ps.models.some((x) => x.name === 'stories260K:latest'));
  const v = await fetch(`${srv.url}/api/version`).then((r) => r.json());
  assert.match(v.version, /^\d+\.\d+\.\d+/);
});

test('keep_alive 0 unloads; an empty prompt loads', async () => {
  await ollama.generate({ model: 'stories260K', prompt: '', keep_alive: 0 });
  assert.equal((await ollama.ps()).models.length, 0);
  const r = await ollama.generate({ model: 'stories260K', prompt: '', keep_alive: '10m' });
  assert.equal(r.done_reason, 'load');
  assert.equal((await ollama.ps()).models.length, 1);
});

test('unknown model is a 404', async () => {
  await assert.rejects(ollama.generate({ model: 'nope', prompt: 'x' }), (e) => e.status_code === 404 && /nope/.test(e.error));
});
