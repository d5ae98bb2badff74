// JSON mode: OpenAI response_format {type: "json_object"} and Ollama format "json" make even the
// sample model (which never writes JSON by itself) answer with a parseable JSON object.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { Ollama } from 'ollama';
import { startServer } from './helpers.mjs';

let srv, client, ollama;
before(async () => {
  srv = await startServer();
  client = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  ollama = new Ollama({ host: srv.url });
});
after(async () => { await srv.stop(); });

const messages = [{ role: 'user', content: 'Describe a cat as JSON' }];

function parsesAsObject(text) {
  const v = JSON.parse(text);
  assert.equal(typeof v, 'object');
  assert.ok(v !== null && !Array.isArray(v), text);
}

test('chat completions with response_format json_object, greedy and sampled', async () => {
  for (const opts of [{ temperature: 0 }, { temperature: 1, seed: 1 }, { temperature: 1, seed: 2 }]) {
    const r = await client.chat.completions.create({
      model: 'stories260K', messages, max_tokens: 60, response_format: { type: 'json_object' }, ...opts,
    });
    parsesAsObject(r.choices[0].message.content);
    assert.equal(r.choices[0].finish_reason, 'stop');  // closed within the budget, not cut off
    assert.ok(r.usage.completion_tokens <= 60);
  }
});

test('chat completions json_object, streamed, equals non-streamed', async () => {
  const req = { model: 'stories260K', messages, max_tokens: 40, temperature: 0, response_format: { type: 'json_object' } };
  const whole = await client.chat.completions.create(req);
  let text = '';
  for await (const chunk of await client.chat.completions.create({ ...req, stream: true })) {
    text += chunk.choices[0]?.delta?.content ?? '';
  }
  assert.equal(text, whole.choices[0].message.content);
  parsesAsObject(text);
});

test('completions with response_format json_object', async () => {
  const r = await client.completions.create({
    model: 'stories260K', prompt: 'Once upon a time', max_tokens: 50, temperature: 0.8, seed: 3,
    response_format: { type: 'json_object' },
  });
  parsesAsObject(r.choices[0].text);
});

test('without response_format the sample model does not write JSON', async () => {
  const r = await client.chat.completions.create({ model: 'stories260K', messages, max_tokens: 30, temperature: 0 });
  assert.throws(() => JSON.parse(r.choices[0].message.content));
});

test('ollama chat and generate with format json', async () => {
  const chat = await ollama.chat({ model: 'stories260K', messages, format: 'json', options: { temperature: 0, num_predict: 60 }, stream: false });
  parsesAsObject(chat.message.content);
  assert.equal(chat.done_reason, 'stop');
  let text = '';
  for await (const part of await ollama.chat({ model: 'stories260K', messages, format: 'json', options: { temperature: 0.7, seed: 4, num_predict: 60 }, stream: true })) {
    text += part.message.content;
  }
  parsesAsObject(text);
  const gen = await ollama.generate({ model: 'stories260K', prompt: 'The little dog', format: 'json', options: { seed: 5, num_predict: 50 }, stream: false });
  parsesAsObject(gen.response);
});
