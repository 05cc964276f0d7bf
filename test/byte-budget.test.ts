import t from 'tap'
import { once } from 'node:events'
import WebSocket from 'ws'
import type { FastifyInstance } from 'fastify'
import { dmChannel } from '../src/dm/direct'
import { BUDGET, CONFIG, HEAVY, SLACK, stalled, watchQueues } from './byte-budget'
import { listen, until } from './helper'

// Loopback kernel buffers take ~4 MB before the server's stream holds a byte: every
// history here (~7 MB) is well past that.
const HISTORY = 300

async function heavyRoom (app: FastifyInstance, room: string, count: number): Promise<void> {
  for (let i = 1; i <= count; i++) {
    const res = await app.inject({ method: 'POST', url: `/rooms/${room}/messages`, payload: { user_id: 'w', content: `${i} ${HEAVY.slice(8)}` } })
    if (res.statusCode !== 200) throw new Error(`post ${i}: ${res.statusCode} ${res.body}`)
  }
}

t.test('a client that never reads and floods answered frames is cut with 1013; the server holds no more than the budget for it', async (t) => {
  const { app, wsBase } = await listen(t, CONFIG)
  const queues = watchQueues(app, ['flood'])
  const client = await stalled(t, `${wsBase}/ws/flood/u`)
  await until(() => app.registry.connectionCount === 1)
  // A retried client_id is answered with the stored message (~24 KB); an unknown type
  // of 64 control characters with a ~450-byte error; keep_alive with ping.
  const frames = [
    JSON.stringify({ content: HEAVY, client_id: 'heavy' }),
    JSON.stringify({ type: '\u0001'.repeat(64) }),
    '{"type":"keep_alive"}',
    'not json'
  ]
  const started = Date.now()
  let sent = 0
  while (app.registry.connectionCount === 1 && Date.now() - started < 15_000) {
    client.socket.send(frames[sent++ % frames.length])
    if (sent % 4 === 0) await new Promise((resolve) => setTimeout(resolve, 1))
  }
  t.equal(app.registry.connectionCount, 0, `the flooder was cut (after ${sent} frames)`)
  t.ok(queues.max <= BUDGET + SLACK, `the server held at most the budget for it (${queues.max} bytes at most, budget ${BUDGET})`)
  client.resume()
  t.same(await client.closed(), { code: 1013, reason: 'slow consumer' }, 'close 1013 "slow consumer"')
  t.match((await app.inject({ url: '/metrics' })).body, /parley_ws_slow_consumer_cuts_total 1/, 'counted as a slow-consumer cut')
})

t.test('a replay larger than the budget reaches a reader whole, a page at a time, within the budget', async (t) => {
  const { app, wsBase } = await listen(t, CONFIG)
  await heavyRoom(app, 'big', HISTORY)
  const reads: number[] = []
  const page = app.store.page.bind(app.store)
  app.store.page = async (roomId, query) => {
    if (roomId === 'big') reads.push(query.limit)
    return page(roomId, query)
  }
  const queues = watchQueues(app, ['big'])
  const socket = new WebSocket(`${wsBase}/ws/big/reader?since=0`)
  t.teardown(() => socket.terminate())
  const seqs: number[] = []
  let recovery: any
  socket.on('message', (data) => {
    const frame = JSON.parse(data.toString())
    if (frame.type === 'message') seqs.push(frame.seq)
    if (frame.type === 'recovery') recovery = frame
  })
  await until(() => recovery !== undefined, 20_000)
  t.same(seqs, Array.from({ length: HISTORY }, (_, i) => i + 1), 'every missed message, once, in order')
  t.match(recovery, { status: 'complete', last_seq: HISTORY, replayed: HISTORY })
  t.equal(socket.readyState, WebSocket.OPEN, 'still open')
  t.ok(queues.max <= BUDGET + SLACK, `the server held at most the budget for it (${queues.max} bytes at most, budget ${BUDGET})`)
  t.ok(reads.length > 1 && Math.max(...reads) <= 100, `the history was read in pages (${reads.length} reads of at most ${Math.max(...reads)})`)
  await app.inject({ method: 'POST', url: '/rooms/big/messages', payload: { user_id: 'w', content: 'live' } })
  await until(() => seqs.length === HISTORY + 1)
  t.equal(seqs.at(-1), HISTORY + 1, 'then the live stream')
})

t.test('a replay to a client that never reads is cut with 1013 once it does not drain; the server holds no more than the budget', async (t) => {
  const { app, wsBase } = await listen(t, CONFIG)
  await heavyRoom(app, 'big', HISTORY)
  const queues = watchQueues(app, ['big'])
  const started = Date.now()
  const client = await stalled(t, `${wsBase}/ws/big/stalled?since=0`)
  await until(() => app.registry.connectionCount === 1, 5000)
  await until(() => app.registry.connectionCount === 0, 10_000).catch(() => {})
  t.equal(app.registry.connectionCount, 0, `it was cut (${Date.now() - started} ms after it opened, WS_DRAIN_TIMEOUT_MS=${CONFIG.wsDrainTimeoutMs})`)
  t.ok(queues.max <= BUDGET + SLACK, `the server held at most the budget for it (${queues.max} bytes at most, budget ${BUDGET})`)
  client.resume()
  t.same(await client.closed(), { code: 1013, reason: 'slow consumer' }, 'resumed, it sees close 1013 "slow consumer"')
  await until(() => app.websocketServer.clients.size === 0, 5000)
  const got = client.frames.filter((f) => f.type === 'message').map((f) => f.seq)
  t.ok(got.length < HISTORY, `it got a part of the replay (${got.length} of ${HISTORY})`)
  t.same(got, Array.from({ length: got.length }, (_, i) => i + 1), 'in order, with no hole')
  t.match((await app.inject({ url: '/metrics' })).body, /parley_ws_slow_consumer_cuts_total 1/, 'counted as a slow-consumer cut')
})

t.test('a slow reader of a long paged replay is not cut by the live messages held meanwhile; they follow it, each once', async (t) => {
  const { app, wsBase } = await listen(t, CONFIG)
  await heavyRoom(app, 'big', HISTORY)
  const queues = watchQueues(app, ['big'])
  const socket = new WebSocket(`${wsBase}/ws/big/reader?since=0`)
  t.teardown(() => socket.terminate())
  const seqs: number[] = []
  let recovered = false
  socket.on('message', (data) => {
    const frame = JSON.parse(data.toString())
    if (frame.type === 'message') seqs.push(frame.seq)
    if (frame.type === 'recovery') recovered = true
  })
  const closed = new Promise((resolve) => socket.on('close', resolve))
  await once(socket, 'open')
  // A reader on a slow link: one chunk (64 KB at most) every 5 ms.
  const tcp = (socket as any)._socket
  let throttled = true
  tcp.on('data', () => {
    if (!throttled) return
    tcp.pause()
    setTimeout(() => tcp.resume(), 5)
  })
  // Small live messages while the replay is under way.
  let live = 0
  while (!recovered && live < 200) {
    await app.inject({ method: 'POST', url: '/rooms/big/messages', payload: { user_id: 'w', content: `live ${++live}` } })
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
  await Promise.race([until(() => seqs.length >= HISTORY + live, 30_000), closed])
  throttled = false
  t.equal(socket.readyState, WebSocket.OPEN, 'the reader is still open')
  t.same(seqs, Array.from({ length: HISTORY + live }, (_, i) => i + 1), `replay and live (${live} posted during the replay), each once, in order`)
  t.ok(queues.max <= BUDGET + SLACK, `the server held at most the budget for it (${queues.max} bytes at most, budget ${BUDGET})`)
})

t.test('a protocol ping is answered with a pong that echoes it', async (t) => {
  const { wsBase } = await listen(t, CONFIG)
  for (const path of ['/ws/r/u', '/ws/dm/u']) {
    const socket = new WebSocket(`${wsBase}${path}`)
    t.teardown(() => socket.terminate())
    await once(socket, 'open')
    socket.ping(Buffer.from('are you there'))
    const [data] = await once(socket, 'pong')
    t.equal(data.toString(), 'are you there', `${path}: the pong echoes the ping`)
  }
})

t.test('a DM socket\'s offline push is paced by the budget: a reader gets it all, a client that never reads is cut', async (t) => {
  const { app, wsBase } = await listen(t, CONFIG)
  for (let i = 1; i <= HISTORY; i++) {
    const res = await app.inject({ method: 'POST', url: '/messages/direct', payload: { sender_id: 'alice', receiver_id: 'bob', content: `${i} ${HEAVY.slice(8)}` } })
    if (res.statusCode !== 200) throw new Error(`dm ${i}: ${res.statusCode} ${res.body}`)
  }
  for (let i = 1; i <= HISTORY; i++) {
    const res = await app.inject({ method: 'POST', url: '/messages/direct', payload: { sender_id: 'alice', receiver_id: 'carol', content: `${i} ${HEAVY.slice(8)}` } })
    if (res.statusCode !== 200) throw new Error(`dm ${i}: ${res.statusCode} ${res.body}`)
  }
  const queues = watchQueues(app, [dmChannel('bob'), dmChannel('carol')])

  const reader = new WebSocket(`${wsBase}/ws/dm/bob`)
  t.teardown(() => reader.terminate())
  const got: string[] = []
  reader.on('message', (data) => {
    const frame = JSON.parse(data.toString())
    if (frame.type === 'dm_message') got.push(frame.content.split(' ')[0])
  })
  await until(() => got.length >= HISTORY, 20_000)
  t.same(got, Array.from({ length: HISTORY }, (_, i) => String(i + 1)), 'the reader got every DM, once, oldest first')
  t.equal(reader.readyState, WebSocket.OPEN, 'and is still open')

  const client = await stalled(t, `${wsBase}/ws/dm/carol`)
  await until(() => app.registry.connections(dmChannel('carol')).size === 1, 5000)
  await until(() => app.registry.connections(dmChannel('carol')).size === 0, 10_000).catch(() => {})
  t.equal(app.registry.connections(dmChannel('carol')).size, 0, 'the client that never reads was cut')
  t.ok(queues.max <= BUDGET + SLACK, `the server held at most the budget for either (${queues.max} bytes at most, budget ${BUDGET})`)
  client.resume()
  t.same(await client.closed(), { code: 1013, reason: 'slow consumer' }, 'resumed, it sees close 1013 "slow consumer"')
  t.match((await app.inject({ url: '/metrics' })).body, /parley_ws_slow_consumer_cuts_total 1/, 'counted as a slow-consumer cut')
})
