// The official `openai` client against hearth serve: chat and completions, streaming or not.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startServer } from './helpers.mjs';

let srv, client;
before(async () => {
  srv = await startServer();
  client = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: 'unused', maxRetries: 0 });
});
after(async () => { await srv.stop(); });

test('models.list names the sample model', async () => {
  const list = await client.models.list();
  assert.ok(list.data.some((m) => m.id === 'stories260K'));
});

test('completions, non-streaming, greedy is deterministic', async () => {
  const req = { model: 'stories260K', prompt: 'Once upon a time', max_tokens: 24, temperature: 0 };
  const a = await client.completions.create(req);
  const b = await client.completions.create(req);
  assert.equal(a.object, 'text_completion');
  assert.equal(a.choices[0].finish_reason, 'length');
  assert.ok(a.choices[0].text.length > 0);
  assert.equal(a.choices[0].text, b.choices[0].text);
  assert.equal(a.usage.completion_tokens, 24);
  assert.equal(a.usage.total_tokens, a.usage.prompt_tokens + 24);
});

test('completions, streaming, equals non-streaming', async () => {
  const req = { model: 'stories260K', prompt: 'The little dog', max_tokens: 20, temperature: 0 };
  const whole = await client.completions.create(req);
  const stream = await client.completions.create({ ...req, stream: true });
  let text = '';
  let finish = null;
  for await (const chunk of stream) {
    text += chunk.choices[0]?.text ?? '';
    finish = chunk.choices[0]?.finish_reason ?? finish;
  }
  assert.equal(text, whole.choices[0].text);
  assert.equal(finish, 'length');
});

test('chat, non-streaming', async () => {
  const r = await client.chat.completions.create({
    model: 'stories260K',
    messages: [{ role: 'system', content: 'Tell a story.' }, { role: 'user', content: 'Once upon a time' }],
    max_tokens: 16,
    temperature: 0,
  });
  assert.equal(r.object, 'chat.completion');
  assert.equal(r.choices[0].message.role, 'assistant');
  assert.equal(typeof r.choices[0].message.content, 'string');
  assert.ok(['stop', 'length'].includes(r.choices[0].finish_reason));
  assert.ok(r.usage.prompt_tokens > 5);
});

test('chat, streaming with include_usage', async () => {
  const messages = [{ role: 'user', content: 'Tell me about Lily' }];
  const whole = await client.chat.completions.create({ model: 'stories260K', messages, max_completion_tokens: 12, temperature: 0 });
  const stream = await client.chat.completions.create({
    model: 'stories260K', messages, max_completion_tokens: 12, temperature: 0, stream: true,
    stream_options: { include_usage: true },
  });
  let text = '';
  let usage = null;
  let role = null;
  for await (const chunk of stream) {
    if (chunk.usage) usage = chunk.usage;
    const d = chunk.choices[0]?.delta;
    if (d?.role) role = d.role;
    text += d?.content ?? '';
  }
  assert.equal(role, 'assistant');
  assert.equal(text, whole.choices[0].message.content);
  assert.deepEqual(usage.completion_tokens, whole.usage.completion_tokens);
});

test('n, stop, seed and logprobs', async () => {
  const r = await client.chat.completions.create({
    model: 'stories260K', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 8, n: 3, temperature: 1,
    seed: 7, logprobs: true, top_logprobs: 2,
  });
  assert.equal(r.choices.length, 3);
  for (const c of r.choices) {
    assert.ok(c.logprobs.content.length >= 1);
    for (const lp of c.logprobs.content) {
      assert.ok(lp.logprob <= 0);
      assert.equal(lp.top_logprobs.length, 2);
    }
  }
  const again = await client.chat.completions.create({
    model: 'stories260K', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 8, n: 3, temperature: 1, seed: 7,
  });
  assert.deepEqual(again.choices.map((c) => c.message.content), r.choices.map((c) => c.message.content));
  const s = await client.completions.create({ model: 'stories260K', prompt: 'Once upon a time', max_tokens: 40, temperature: 0, stop: ['.'] });
  assert.ok(!s.choices[0].text.includes('.'));
  assert.equal(s.choices[0].finish_reason, 'stop');
  const lp = await client.completions.create({ model: 'stories260K', prompt: 'Once', max_tokens: 4, temperature: 0, logprobs: 3 });
  assert.equal(lp.choices[0].logprobs.tokens.length, 4);
  assert.equal(lp.choices[0].logprobs.top_logprobs[0] && Object.keys(lp.choices[0].logprobs.top_logprobs[0]).length, 3);
});

test('unknown model is a 404 NotFoundError', async () => {
  await assert.rejects(
    client.chat.completions.create({ model: 'no-such-model', messages: [{ role: 'user', content: 'x' }] }),
    (e) => e instanceof OpenAI.NotFoundError && /no-such-model/.test(e.message),
  );
});
