import t from 'tap'
import { createMetrics, secondsSinceStored } from '../src/ops/metrics'
import { build, connect, listen, parseMetrics, until } from './helper'

t.test('after a short scenario /metrics counts messages, deliveries, refusals, cuts and sockets', async (t) => {
  const { app, base, wsBase } = await listen(t, { wsMessageRate: 0.001, wsMessageBurst: 2 })
  const post = (body: object) => fetch(`${base}/rooms/m/messages`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body)
  }).then((res) => res.json())

  const alice = await connect(t, `${wsBase}/ws/m/alice`)
  const bob = await connect(t, `${wsBase}/ws/m/bob`)
  const carol = await connect(t, `${wsBase}/ws/m/carol`)
  const dave = await connect(t, `${wsBase}/ws/n/dave`)
  await Promise.all([alice, bob, carol, dave].map((s) => s.settle()))

  await post({ user_id: 'rest', content: 'one', client_id: 'k-1' })
  await post({ user_id: 'rest', content: 'one', client_id: 'k-1' })
  await post({ user_id: 'rest', content: 'two' })
  alice.send({ content: 'three' })
  alice.send({ content: 'four' })
  alice.send({ content: 'five, over the burst' })
  alice.send('not json')
  await alice.settle()
  await until(() => bob.frames.filter((f) => f.type === 'message').length === 4)

  // Carol stops reading: her socket reports more queued than MAX_BUFFERED_BYTES, as a
  // peer that stalled would (the real flood is test/slow-consumer.test.ts).
  const carolPort = (carol.socket as any)._socket.localPort
  const stalled = [...app.websocketServer.clients].find((s: any) => s._socket.remotePort === carolPort)!
  Object.defineProperty((stalled as any)._socket, 'writableLength', { get: () => Number.MAX_SAFE_INTEGER })
  await post({ user_id: 'rest', content: 'six' })
  t.match(await carol.closed, { code: 1013, reason: 'slow consumer' })
  await until(() => app.registry.connectionCount === 3)
  t.equal((await fetch(`${base}/nope`)).status, 404)

  const res = await fetch(`${base}/metrics`)
  t.equal(res.status, 200)
  t.equal(res.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8')
  const text = await res.text()
  const m = parseMetrics(text)
  t.match(text, /# HELP parley_messages_stored_total .+\n# TYPE parley_messages_stored_total counter/)

  t.equal(m.get('parley_messages_stored_total'), 5, 'three REST, two socket messages')
  t.equal(m.get('parley_messages_deduplicated_total'), 1, 'the REST retry')
  t.equal(m.get('parley_store_append_seconds_count'), 5)
  t.ok(m.get('parley_store_append_seconds_sum')! > 0)
  t.equal(m.get('parley_ws_deliveries_total{kind="message"}'), 15, 'five messages to three sockets each')
  t.ok(m.get('parley_ws_deliveries_total{kind="event"}')! >= 3, 'presence events were delivered too')
  t.equal(m.get('parley_broadcast_latency_seconds_count'), 5, 'one latency per broadcast, not per socket')
  t.equal(m.get('parley_broadcast_latency_seconds_bucket{le="+Inf"}'), 5)
  t.equal(m.get('parley_ws_frames_refused_total{code="rate_limited"}'), 1)
  t.equal(m.get('parley_ws_frames_refused_total{code="invalid_json"}'), 1)
  t.equal(m.get('parley_ws_frames_refused_total{code="overloaded"}'), 0, 'known codes start at 0')
  t.equal(m.get('parley_ws_slow_consumer_cuts_total'), 1)
  t.equal(m.get('parley_ws_abuse_closes_total'), 0)
  t.equal(m.get('parley_ws_connections'), 3, 'alice, bob and dave are open')
  t.equal(m.get('parley_ws_rooms'), 2)
  t.equal(m.get('parley_ws_connections_opened_total'), 4)
  t.equal(m.get('parley_http_requests_total{method="POST",route="/rooms/:room_id/messages",status="200"}'), 4)
  t.equal(m.get('parley_http_requests_total{method="GET",route="unmatched",status="404"}'), 1, 'unknown URLs share one series')
  t.ok(m.has('parley_http_request_duration_seconds_count{method="POST",route="/rooms/:room_id/messages"}'))
  t.ok(m.has('process_cpu_user_seconds_total'), 'process metrics')
  t.ok(m.has('nodejs_eventloop_lag_seconds'))
  t.notOk([...m.keys()].some((key) => /alice|bob|carol|dave|room_id="|user_id="/.test(key)), 'no label names a socket, user or room')
})

t.test('each app counts its own traffic; the process metrics are shared', async (t) => {
  const one = await build(t)
  const two = await build(t)
  await one.inject({ method: 'POST', url: '/rooms/r/messages', payload: { user_id: 'u', content: 'hi' } })
  const [a, b] = await Promise.all([one, two].map(async (app) => parseMetrics((await app.inject('/metrics')).body)))
  t.equal(a.get('parley_messages_stored_total'), 1)
  t.equal(b.get('parley_messages_stored_total'), 0)
  t.ok(a.has('process_resident_memory_bytes') && b.has('process_resident_memory_bytes'))
})

t.test('createMetrics can be called many times in one process', async (t) => {
  const metrics = [createMetrics(), createMetrics()]
  metrics[0].frameRefused('invalid_json')
  const [a, b] = await Promise.all(metrics.map(async (m) => parseMetrics(await m.text())))
  t.equal(a.get('parley_ws_frames_refused_total{code="invalid_json"}'), 1)
  t.equal(b.get('parley_ws_frames_refused_total{code="invalid_json"}'), 0)
})

t.test('the broadcast latency reads the message\'s own timestamp, not one inside its content', async (t) => {
  const frame = JSON.stringify({ type: 'message', content: '"timestamp":"1999-01-01T00:00:00.000Z"', timestamp: '2026-11-24T12:00:00.000Z', seq: 1 })
  t.equal(secondsSinceStored(frame, Date.parse('2026-11-24T12:00:00.250Z')), 0.25)
  t.equal(secondsSinceStored(frame, Date.parse('2026-11-24T11:59:59.000Z')), 0, 'a clock behind the writer\'s is no negative latency')
  t.equal(secondsSinceStored('{"type":"typing_start"}'), undefined)
})
