import t from 'tap'
import WebSocket from 'ws'
import { once } from 'node:events'
import { connect, listen, until } from './helper'

const fast = { wsMessageRate: 100_000, wsMessageBurst: 100_000, wsFrameRate: 100_000, wsFrameBurst: 100_000 }

t.test('a reader that keeps dropping and resuming from its last seq gets the writer\'s sequence exactly', async (t) => {
  const { wsBase } = await listen(t, fast)
  const total = 600
  const writer = await connect(t, `${wsBase}/ws/r/writer`)
  const received: number[] = []
  const markers: any[] = []
  let writing = true
  // The writer keeps up to 32 messages in flight (a socket may have 64 frames
  // waiting; past that it is told `overloaded`), as a real client with an outbox would.
  let echoed = 0
  writer.socket.on('message', (data) => { if (JSON.parse(data.toString()).type === 'message') echoed++ })
  const written = (async () => {
    for (let i = 1; i <= total; i++) {
      while (i - echoed > 32) await new Promise((resolve) => setTimeout(resolve, 1))
      writer.send({ content: `w${i}` })
    }
    writing = false
  })()

  const open = (since: number) => {
    const socket = new WebSocket(`${wsBase}/ws/r/reader?since=${since}`)
    t.teardown(() => socket.terminate())
    socket.on('message', (data) => {
      const frame = JSON.parse(data.toString())
      if (frame.type === 'message') received.push(frame.seq)
      if (frame.type === 'recovery') markers.push(frame)
    })
    return socket
  }

  let cycles = 0
  while (writing || received.length < total) {
    const last = received.at(-1) ?? 0
    const socket = open(last)
    await once(socket, 'open')
    const target = received.length + 40
    await until(() => received.length >= Math.min(target, total) || (!writing && received.length >= total), 10_000).catch(() => {})
    cycles++
    if (received.length >= total && !writing) break
    // An abrupt drop, as when a phone switches networks.
    socket.terminate()
    await once(socket, 'close')
    if (cycles > 100) break
  }
  await written
  await until(() => received.length >= total, 10_000).catch(() => {})
  t.same(received, Array.from({ length: total }, (_, i) => i + 1), 'no gap, no duplicate, in order')
  t.ok(cycles >= 3, `the reader dropped and resumed (${cycles} connections)`)
  t.ok(markers.every((m) => m.status === 'complete'), 'every resume was a complete replay')
})

t.test('replayed messages come first, then a recovery frame, then the live stream', async (t) => {
  const { app, wsBase } = await listen(t)
  for (let i = 1; i <= 5; i++) await app.inject({ method: 'POST', url: '/rooms/r/messages', payload: { user_id: 'w', content: `m${i}` } })
  const reader = await connect(t, `${wsBase}/ws/r/reader?since=2`)
  await until(() => reader.frames.some((f) => f.type === 'recovery'))
  await app.inject({ method: 'POST', url: '/rooms/r/messages', payload: { user_id: 'w', content: 'live' } })
  await until(() => reader.frames.some((f) => f.content === 'live'))
  t.same(reader.frames.map((f) => f.content ?? f.type), ['m3', 'm4', 'm5', 'recovery', 'live'])
  t.match(reader.frames[3], { type: 'recovery', status: 'complete', room_id: 'r', since: 2, last_seq: 5, replayed: 3 })
})

t.test('a gap past the cap is announced instead of replayed', async (t) => {
  const { app, wsBase } = await listen(t, { recoveryMaxMessages: 5 })
  for (let i = 1; i <= 10; i++) await app.inject({ method: 'POST', url: '/rooms/r/messages', payload: { user_id: 'w', content: `m${i}` } })
  const reader = await connect(t, `${wsBase}/ws/r/reader?since=1`)
  t.match(await reader.ofType('recovery'), { status: 'gap', since: 1, last_seq: 10, message: /history/ })
  t.same(reader.frames.filter((f) => f.type === 'message'), [], 'nothing replayed')
  await app.inject({ method: 'POST', url: '/rooms/r/messages', payload: { user_id: 'w', content: 'after the gap' } })
  t.match(await reader.next((f) => f.type === 'message'), { seq: 11 })
})

t.test('a since past the end of the room (a reset store) does not swallow new messages', async (t) => {
  const { app, wsBase } = await listen(t)
  const reader = await connect(t, `${wsBase}/ws/r/reader?since=500`)
  t.match(await reader.ofType('recovery'), { status: 'complete', last_seq: 0, replayed: 0 })
  await app.inject({ method: 'POST', url: '/rooms/r/messages', payload: { user_id: 'w', content: 'first' } })
  t.match(await reader.next((f) => f.type === 'message'), { seq: 1, content: 'first' })
})

t.test('sockets that did not ask get no recovery frame and no room_state', async (t) => {
  const { app, wsBase } = await listen(t)
  await app.inject({ method: 'POST', url: '/rooms/r/messages', payload: { user_id: 'w', content: 'old' } })
  const plain = await connect(t, `${wsBase}/ws/r/plain?since=abc`)
  await plain.settle()
  t.same(plain.frames, [], 'an invalid since is ignored, and nothing new is sent')
})
