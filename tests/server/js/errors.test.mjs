// Malformed requests: each gets its status and an error in its API's shape naming the problem,
// and none of them disturbs a request running beside them.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, postJson } from './helpers.mjs';

let srv;
before(async () => { srv = await startServer(['--ctx', '64', '--max-body-mb', '1']); });
after(async () => { await srv.stop(); });

const chat = (extra) => ({ model: 'stories260K', messages: [{ role: 'user', content: 'hi' }], max_tokens: 2, ...extra });
const comp = (extra) => ({ model: 'stories260K', prompt: 'hi', max_tokens: 2, ...extra });
const gen = (extra) => ({ model: 'stories260K', prompt: 'hi', stream: false, options: { num_predict: 2 }, ...extra });
const ochat = (extra) => ({ model: 'stories260K', messages: [{ role: 'user', content: 'hi' }], stream: false, options: { num_predict: 2 }, ...extra });
const long = 'Once upon a time there was a girl. '.repeat(20);

// [route, body, status, regex the message must match, OpenAI param (optional)]
const cases = [
  ['/v1/chat/completions', '{"model": "stories260K",', 400, /not valid JSON/],
  ['/v1/chat/completions', '', 400, /empty/],
  ['/v1/chat/completions', '[1,2]', 400, /JSON object/],
  ['/v1/chat/completions', { messages: [{ role: 'user', content: 'x' }] }, 400, /'model' is required/, 'model'],
  ['/v1/chat/completions', chat({ model: 42 }), 400, /'model' must be a string/, 'model'],
  ['/v1/chat/completions', chat({ model: 'missing' }), 404, /missing/, 'model'],
  ['/v1/chat/completions', { model: 'stories260K' }, 400, /'messages' is required/, 'messages'],
  ['/v1/chat/completions', chat({ messages: 'hi' }), 400, /'messages' must be an array/, 'messages'],
  ['/v1/chat/completions', chat({ messages: [] }), 400, /at least one message/, 'messages'],
  ['/v1/chat/completions', chat({ messages: [{ content: 'x' }] }), 400, /messages\[0\]\.role/, 'messages[0].role'],
  ['/v1/chat/completions', chat({ messages: [{ role: 'wizard', content: 'x' }] }), 400, /must be one of/, 'messages[0].role'],
  ['/v1/chat/completions', chat({ messages: [{ role: 'user', content: 5 }] }), 400, /messages\[0\]\.content/, 'messages[0].content'],
  ['/v1/chat/completions', chat({ messages: [{ role: 'user', content: [{ type: 'image_url' }] }] }), 400, /not supported/],
  ['/v1/chat/completions', chat({ temperature: 3 }), 400, /'temperature' must be between 0 and 2/, 'temperature'],
  ['/v1/chat/completions', chat({ temperature: 'hot' }), 400, /'temperature' must be a number/, 'temperature'],
  ['/v1/chat/completions', chat({ top_p: 1.5 }), 400, /'top_p'/, 'top_p'],
  ['/v1/chat/completions', chat({ max_tokens: -1 }), 400, /'max_tokens'/, 'max_tokens'],
  ['/v1/chat/completions', chat({ max_tokens: 2.5 }), 400, /'max_tokens' must be an integer/, 'max_tokens'],
  ['/v1/chat/completions', chat({ n: 0 }), 400, /'n' must be between 1 and 16/, 'n'],
  ['/v1/chat/completions', chat({ stop: ['a', 'b', 'c', 'd', 'e'] }), 400, /'stop' has 5 items/, 'stop'],
  ['/v1/chat/completions', chat({ stop: 7 }), 400, /'stop' must be a string or an array/, 'stop'],
  ['/v1/chat/completions', chat({ presence_penalty: 9 }), 400, /'presence_penalty'/, 'presence_penalty'],
  ['/v1/chat/completions', chat({ frequency_penalty: 'x' }), 400, /'frequency_penalty'/, 'frequency_penalty'],
  ['/v1/chat/completions', chat({ stream: 'yes' }), 400, /'stream' must be true or false/, 'stream'],
  ['/v1/chat/completions', chat({ stream_options: { include_usage: true } }), 400, /only allowed with/, 'stream_options'],
  ['/v1/chat/completions', chat({ top_logprobs: 2 }), 400, /needs "logprobs": true/, 'top_logprobs'],
  ['/v1/chat/completions', chat({ logprobs: true, top_logprobs: 50 }), 400, /'top_logprobs'/, 'top_logprobs'],
  ['/v1/chat/completions', chat({ seed: 'abc' }), 400, /'seed' must be an integer/, 'seed'],
  ['/v1/chat/completions', chat({ response_format: { type: 'json_schema', json_schema: { name: 'x', schema: {} } } }), 400, /json_schema is not supported yet/, 'response_format'],
  ['/v1/chat/completions', chat({ response_format: { type: 'yaml' } }), 400, /'response_format.type' must be/, 'response_format'],
  ['/v1/chat/completions', chat({ tools: [{ type: 'function', function: { description: 'x' } }] }), 400, /function\.name/, 'tools[0].function.name'],
  ['/v1/chat/completions', chat({ logit_bias: { abc: 1 } }), 400, /not a token id/, 'logit_bias'],
  ['/v1/chat/completions', chat({ messages: [{ role: 'user', content: long }] }), 400, /the prompt is \d+ tokens but the context limit is 64/, 'prompt'],
  ['/v1/completions', { model: 'stories260K' }, 400, /'prompt' is required/, 'prompt'],
  ['/v1/completions', comp({ prompt: { text: 'x' } }), 400, /'prompt' must be a string/, 'prompt'],
  ['/v1/completions', comp({ prompt: [1, 100000] }), 400, /outside the vocabulary/, 'prompt'],
  ['/v1/completions', comp({ prompt: long }), 400, /context limit is 64/, 'prompt'],
  ['/v1/completions', comp({ logprobs: 9 }), 400, /'logprobs' must be between 0 and 5/, 'logprobs'],
  ['/v1/completions', comp({ echo: true }), 400, /'echo' is not supported/, 'echo'],
  ['/api/generate', '{nope', 400, /not valid JSON/],
  ['/api/generate', { prompt: 'x' }, 400, /'model' is required/],
  ['/api/generate', gen({ model: 'ghost' }), 404, /ghost/],
  ['/api/generate', gen({ options: 'hot' }), 400, /'options' must be an object/],
  ['/api/generate', gen({ options: { temperature: -1 } }), 400, /'options\.temperature'/],
  ['/api/generate', gen({ options: { num_predict: 'many' } }), 400, /'options\.num_predict' must be an integer/],
  ['/api/generate', gen({ options: { num_ctx: 4 } }), 400, /'options\.num_ctx' must be at least 16/],
  ['/api/generate', gen({ keep_alive: '5 parsecs' }), 400, /'keep_alive'/],
  ['/api/generate', gen({ context: ['a'] }), 400, /'context' must be an array of token ids/],
  ['/api/generate', gen({ context: [999999] }), 400, /outside the vocabulary/],
  ['/api/generate', gen({ format: { type: 'object' } }), 400, /'format' with a JSON schema is not supported yet/],
  ['/api/generate', gen({ format: 'xml' }), 400, /'format' must be "json"/],
  ['/api/generate', gen({ prompt: long }), 400, /the prompt is \d+ tokens but the context limit is 64/],
  ['/api/chat', ochat({ messages: {} }), 400, /'messages' must be an array/],
  ['/api/chat', ochat({ messages: [{ role: 'user', content: 'x', images: ['aGk='] }] }), 400, /images/],
  ['/api/show', {}, 400, /'model' is required/],
  ['/api/show', { model: 'ghost' }, 404, /ghost/],
];

test(`${cases.length} malformed requests`, async (t) => {
  assert.ok(cases.length >= 30);
  // A good request streams alongside the bad ones and must be unaffected.
  const good = postJson(`${srv.url}/v1/completions`, comp({ max_tokens: 30, temperature: 0 }));
  for (const [route, body, status, re, param] of cases) {
    await t.test(`${route} ${typeof body === 'string' ? body : JSON.stringify(body).slice(0, 80)}`, async () => {
      const r = await postJson(`${srv.url}${route}`, body);
      assert.equal(r.status, status, r.text);
      assert.ok(r.json, `not JSON: ${r.text}`);
      if (route.startsWith('/v1/')) {
        assert.equal(typeof r.json.error.message, 'string');
        assert.match(r.json.error.message, re);
        assert.equal(r.json.error.type, status === 404 ? 'not_found_error' : 'invalid_request_error');
        if (param) assert.equal(r.json.error.param, param);
      } else {
        assert.equal(typeof r.json.error, 'string');
        assert.match(r.json.error, re);
      }
    });
  }
  const g = await good;
  assert.equal(g.status, 200);
  assert.equal(g.json.usage.completion_tokens, 30);
});

test('body larger than the limit is 413', async () => {
  const r = await postJson(`${srv.url}/v1/completions`, comp({ prompt: 'x'.repeat(2 << 20) }));
  assert.equal(r.status, 413);
});

test('unknown route is a 404 with a JSON error', async () => {
  const r = await fetch(`${srv.url}/v1/nothing`);
  assert.equal(r.status, 404);
  assert.match((await r.json()).error.message, /no route/);
});

test('overload gives 503 with Retry-After', async () => {
  const busy = await startServer(['--parallel', '1', '--max-queue', '1']);
  try {
    const body = { model: 'stories260K', prompt: 'Once', max_tokens: 2000, temperature: 0, ignore_eos: true };
    const reqs = Array.from({ length: 6 }, () => postJson(`${busy.url}/v1/completions`, { ...body }));
    const res = await Promise.all(reqs);
    const over = res.filter((r) => r.status === 503);
    assert.ok(over.length >= 1, res.map((r) => r.status).join(','));
    assert.equal(over[0].headers.get('retry-after'), '1');
    assert.match(over[0].json.error.message, /busy/);
    assert.ok(res.some((r) => r.status === 200));
  } finally {
    await busy.stop();
  }
});
