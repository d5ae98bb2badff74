// Tool calling through the server, on a synthetic model: the sample model's weights with a
// Hermes-style chat template that supports tools (fixtures/tools.jinja), written by the
// hearth-test-set-template helper.
//
// The model's weights are random, so what it answers cannot be steered into a tool call. What
// is checked here is the wiring that does not depend on the answer: the request's tools,
// assistant tool calls and tool results reach the template (the server's prompt has exactly as
// many tokens as `hearth template` + `hearth tokenize` give for the same conversation), the
// request fields are validated, and responses keep their shape with tools on. Parsing calls
// out of model output and shaping them into message.tool_calls is tested on real model-output
// strings in tests/chat/test_tool_calls.cpp and tests/server/test_tool_response.cpp.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import OpenAI from 'openai';
import { Ollama } from 'ollama';
import { startServer, modelsDir, hearth, sampleModel, postJson } from './helpers.mjs';

const here = path.dirname(new URL(import.meta.url).pathname);
const setTemplate = process.env.HEARTH_SET_TEMPLATE ||
  path.resolve(here, '../../../build/release/hearth-test-set-template');

// Keys in sorted order: the server reads request bodies into key-sorted JSON objects, while
// `hearth template` keeps a file's key order, and tojson prints keys in the order it gets them.
const tools = [{
  function: {
    description: 'Current weather in a city',
    name: 'get_weather',
    parameters: { properties: { city: { type: 'string' } }, required: ['city'], type: 'object' },
  },
  type: 'function',
}];

let srv, client, ollama, work, modelPath;
before(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'hearth-tools-'));
  modelPath = path.join(work, 'toolmodel.gguf');
  execFileSync(setTemplate, [sampleModel, modelPath, path.join(here, 'fixtures/tools.jinja')]);
  srv = await startServer([], { dir: modelsDir({ 'toolmodel.gguf': modelPath }) });
  client = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  ollama = new Ollama({ host: srv.url });
});
after(async () => { await srv.stop(); });

// Token count of the prompt the template renders for a conversation, by the CLI.
function promptTokens(messages, withTools) {
  const conv = path.join(work, `conv-${Math.random().toString(36).slice(2)}.json`);
  fs.writeFileSync(conv, JSON.stringify(withTools ? { messages, tools } : { messages }));
  const text = execFileSync(hearth, ['template', modelPath, '--messages', conv, '--add-generation-prompt']);
  const file = conv.replace(/\.json$/, '.txt');
  fs.writeFileSync(file, text);
  const ids = execFileSync(hearth, ['tokenize', '--model', modelPath, '--parse-special', '--ids-only', '--file', file])
    .toString().trim().split(/\s+/).filter(Boolean);
  // `hearth template --tokens` (the server's own tokenizing path) agrees with `hearth tokenize`.
  const own = execFileSync(hearth, ['template', modelPath, '--messages', conv, '--add-generation-prompt', '--tokens'])
    .toString().trim().split(/\s+/);
  assert.deepEqual(own, ids);
  return { text: text.toString(), count: ids.length };
}

const question = [{ role: 'user', content: 'What is the weather in Paris?' }];

test('the template sees the tools: prompt equals `hearth template` with tools', async () => {
  const rendered = promptTokens(question, true);
  assert.match(rendered.text, /<tools>\{"function": \{"description": "Current weather in a city", "name": "get_weather"/);
  const r = await client.chat.completions.create({
    model: 'toolmodel', messages: question, tools, max_tokens: 4, temperature: 0,
  });
  assert.equal(r.usage.prompt_tokens, rendered.count);
  const plain = await client.chat.completions.create({ model: 'toolmodel', messages: question, max_tokens: 4, temperature: 0 });
  assert.equal(plain.usage.prompt_tokens, promptTokens(question, false).count);
  assert.ok(rendered.count > plain.usage.prompt_tokens + 20, 'the tool list is part of the prompt');
  // Random weights: the answer is text or a call; either way the message has a valid shape.
  const m = r.choices[0].message;
  assert.equal(m.role, 'assistant');
  if (m.tool_calls) {
    assert.equal(r.choices[0].finish_reason, 'tool_calls');
    for (const tc of m.tool_calls) JSON.parse(tc.function.arguments);
  } else {
    assert.equal(typeof m.content, 'string');
    assert.ok(['stop', 'length'].includes(r.choices[0].finish_reason));
  }
});

test('tool_choice "none" hides the tools; a named function shows only that one', async () => {
  const none = await client.chat.completions.create({
    model: 'toolmodel', messages: question, tools, tool_choice: 'none', max_tokens: 2, temperature: 0,
  });
  assert.equal(none.usage.prompt_tokens, promptTokens(question, false).count);
  const named = await client.chat.completions.create({
    model: 'toolmodel', messages: question, tools, max_tokens: 2, temperature: 0,
    tool_choice: { type: 'function', function: { name: 'get_weather' } },
  });
  assert.equal(named.usage.prompt_tokens, promptTokens(question, true).count);
  await assert.rejects(
    client.chat.completions.create({
      model: 'toolmodel', messages: question, tools, max_tokens: 2,
      tool_choice: { type: 'function', function: { name: 'nope' } },
    }),
    (e) => e.status === 400 && /nope/.test(e.message));
});

test('round trip: an assistant tool call and the tool result are rendered into the next prompt', async () => {
  const history = [
    ...question,
    { role: 'assistant', content: null, tool_calls: [{ id: 'call_abc', type: 'function',
      function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
    { role: 'tool', tool_call_id: 'call_abc', content: '{"temperature_c": 22}' },
  ];
  // What `hearth template` gets: arguments as an object, as transformers passes them.
  const forCli = history.map((m) => (m.tool_calls
    ? { ...m, tool_calls: m.tool_calls.map((tc) => ({ ...tc, function: { ...tc.function, arguments: JSON.parse(tc.function.arguments) } })) }
    : m));
  const rendered = promptTokens(forCli, true);
  assert.match(rendered.text, /<tool_call>\n\{"name": "get_weather", "arguments": \{"city": "Paris"\}\}\n<\/tool_call>/);
  assert.match(rendered.text, /<tool_response>\n\{"temperature_c": 22\}\n<\/tool_response>/);
  const r = await client.chat.completions.create({ model: 'toolmodel', messages: history, tools, max_tokens: 4, temperature: 0 });
  assert.equal(r.usage.prompt_tokens, rendered.count);
});

test('streaming with tools: one answer, finish reason, usage, [DONE]', async () => {
  const stream = await client.chat.completions.create({
    model: 'toolmodel', messages: question, tools, max_tokens: 12, temperature: 0, stream: true,
    stream_options: { include_usage: true },
  });
  let content = '';
  let calls = 0;
  let finish = null;
  let usage = null;
  for await (const chunk of stream) {
    const c = chunk.choices[0];
    if (c?.delta?.content) content += c.delta.content;
    if (c?.delta?.tool_calls) calls += c.delta.tool_calls.length;
    if (c?.finish_reason) finish = c.finish_reason;
    if (chunk.usage) usage = chunk.usage;
  }
  const whole = await client.chat.completions.create({
    model: 'toolmodel', messages: question, tools, max_tokens: 12, temperature: 0,
  });
  assert.equal(finish, whole.choices[0].finish_reason);
  assert.equal(content, whole.choices[0].message.content ?? '');
  assert.equal(calls, whole.choices[0].message.tool_calls?.length ?? 0);
  assert.equal(usage.prompt_tokens, promptTokens(question, true).count);
});

test('Ollama /api/chat with tools', async () => {
  const r = await ollama.chat({
    model: 'toolmodel', messages: question, tools, options: { temperature: 0, num_predict: 4 }, stream: false,
  });
  assert.equal(r.prompt_eval_count, promptTokens(question, true).count);
  assert.equal(r.message.role, 'assistant');
  assert.equal(typeof r.message.content, 'string');
  if (r.message.tool_calls) for (const tc of r.message.tool_calls) assert.equal(typeof tc.function.arguments, 'object');
  // A tool result and the assistant's call (arguments as an object, Ollama's way).
  const history = [...question,
    { role: 'assistant', content: '', tool_calls: [{ function: { name: 'get_weather', arguments: { city: 'Paris' } } }] },
    { role: 'tool', tool_name: 'get_weather', content: 'sunny' }];
  const r2 = await ollama.chat({ model: 'toolmodel', messages: history, tools, options: { num_predict: 2 }, stream: false });
  assert.equal(r2.prompt_eval_count, promptTokens(history, true).count);
  const s = await ollama.chat({ model: 'toolmodel', messages: question, tools, options: { num_predict: 4 }, stream: true });
  let done = false;
  for await (const part of s) if (part.done) done = true;
  assert.ok(done);
});

test('malformed tools are 400s naming the field', async () => {
  const cases = [
    [{ tools: 'get_weather' }, 'tools'],
    [{ tools: [{ type: 'function', function: { description: 'no name' } }] }, 'tools[0].function.name'],
    [{ tools, tool_choice: 'always' }, 'tool_choice'],
    [{ messages: [{ role: 'assistant', content: null, tool_calls: [{ function: { name: 'f', arguments: '{bad' } }] }] },
      'messages[0].tool_calls[0].function.arguments'],
  ];
  for (const [extra, param] of cases) {
    const r = await postJson(`${srv.url}/v1/chat/completions`, { model: 'toolmodel', messages: question, ...extra });
    assert.equal(r.status, 400, JSON.stringify(extra));
    assert.equal(r.json.error.param, param);
  }
});
