// Raw wire format with curl: SSE events for OpenAI, NDJSON lines for Ollama.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, curl } from './helpers.mjs';

let srv;
before(async () => { srv = await startServer(); });
after(async () => { await srv.stop(); });

function split(raw) {
  const i = raw.indexOf('\r\n\r\n');
  return { head: raw.slice(0, i).toLowerCase(), body: raw.slice(i + 4) };
}

test('OpenAI SSE: data: lines, blank-line separated, ending in [DONE]', () => {
  const raw = curl(['-i', `${srv.url}/v1/chat/completions`, '-H', 'Content-Type: application/json', '-d',
    JSON.stringify({ model: 'stories260K', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 10, temperature: 0, stream: true })]);
  const { head, body } = split(raw);
  assert.match(head, /^http\/1\.1 200/);
  assert.match(head, /content-type: text\/event-stream/);
  assert.match(head, /transfer-encoding: chunked/);
  assert.ok(body.endsWith('data: [DONE]\n\n'), JSON.stringify(body.slice(-40)));
  const events = body.split('\n\n').filter((e) => e.length > 0);
  assert.ok(events.length >= 3);
  for (const e of events.slice(0, -1)) {
    assert.ok(e.startsWith('data: '), e);
    assert.ok(!e.slice(6).includes('\n'));
    const j = JSON.parse(e.slice(6));
    assert.equal(j.object, 'chat.completion.chunk');
  }
  const last = JSON.parse(events[events.length - 2].slice(6));
  assert.equal(last.choices[0].finish_reason, 'length');
});

test('OpenAI completions SSE', () => {
  const body = curl([`${srv.url}/v1/completions`, '-d',
    JSON.stringify({ model: 'stories260K', prompt: 'Once', max_tokens: 5, temperature: 0, stream: true })]);
  const events = body.split('\n\n').filter((e) => e.length > 0);
  assert.equal(events[events.length - 1], 'data: [DONE]');
  const text = events.slice(0, -1).map((e) => JSON.parse(e.slice(6)).choices[0].text).join('');
  assert.ok(text.length > 0);
});

test('Ollama NDJSON: one JSON object per line, last one done', () => {
  for (const [route, body] of [
    ['/api/generate', { model: 'stories260K', prompt: 'Once upon a time', options: { num_predict: 8, temperature: 0 } }],
    ['/api/chat', { model: 'stories260K', messages: [{ role: 'user', content: 'Hi' }], options: { num_predict: 8, temperature: 0 } }],
  ]) {
    const raw = curl(['-i', `${srv.url}${route}`, '-d', JSON.stringify(body)]);
    const { head, body: text } = split(raw);
    assert.match(head, /content-type: application\/x-ndjson/);
    assert.ok(text.endsWith('\n'));
    const lines = text.split('\n').slice(0, -1);
    assert.ok(lines.length >= 2);
    const objs = lines.map((l) => JSON.parse(l));
    objs.slice(0, -1).forEach((o) => assert.equal(o.done, false));
    const last = objs[objs.length - 1];
    assert.equal(last.done, true);
    assert.equal(last.eval_count, 8);
    assert.match(last.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z$/);
  }
});

test('metrics is Prometheus text', () => {
  const raw = curl(['-i', `${srv.url}/metrics`]);
  const { head, body } = split(raw);
  assert.match(head, /content-type: text\/plain/);
  for (const name of ['hearth_requests_total', 'hearth_prompt_tokens_total', 'hearth_generated_tokens_total',
    'hearth_queue_depth', 'hearth_models_loaded', 'hearth_tokens_per_second']) {
    assert.match(body, new RegExp(`^# TYPE ${name} (counter|gauge)$`, 'm'));
    assert.match(body, new RegExp(`^${name} [0-9.e+-]+$`, 'm'));
  }
});
