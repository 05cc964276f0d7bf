import t from 'tap'
import { once } from 'node:events'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import WebSocket from 'ws'
import { listen, until } from './helper'

// A gc() for heap figures, whether or not node was started with --expose-gc.
setFlagsFromString('--expose-gc')
const gc: () => void = (global as any).gc ?? runInNewContext('gc')
const heapMB = () => {
  gc()
  return process.memoryUsage().heapUsed / 1048576
}

// Loopback TCP buffers (the server's send buffer autotunes up to tcp_wmem's 4 MB)
// absorb about 4 MB before ws itself holds a byte: the flood must be well past that
// for the server's own buffer to fill. 2000 frames of ~4 KB are ~8.5 MB.
const MESSAGES = 2000
const CONTENT = 'x'.repeat(4000)
const MAX_BUFFERED = 256 * 1024
const WINDOW = 32
const FLOOD_MS = 30_000

interface Reader { socket: WebSocket, seqs: number[], closed: Promise<{ code: number, reason: string }> }

async function reader (t: tap.Test, url: string): Promise<Reader> {
  const socket = new WebSocket(url)
  t.teardown(() => socket.terminate())
  const seqs: number[] = []
  socket.on('message', (data) => {
    const frame = JSON.parse(data.toString())
    if (frame.type === 'message') seqs.push(frame.seq)
  })
  socket.on('error', () => {})
  const closed = new Promise<{ code: number, reason: string }>((resolve) => {
    socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() }))
  })
  await once(socket, 'open')
  return { socket, seqs, closed }
}

t.test('a reader that never reads is cut with 1013; the healthy readers get every message', async (t) => {
  const { app, wsBase } = await listen(t, {
    maxBufferedBytes: MAX_BUFFERED,
    maxContentLength: 8000,
    wsMessageRate: 100_000,
    wsMessageBurst: 100_000,
    wsFrameRate: 100_000,
    wsFrameBurst: 100_000
  })
  const healthy = await Promise.all([1, 2, 3].map((i) => reader(t, `${wsBase}/ws/flood/reader-${i}`)))
  const stalled = await reader(t, `${wsBase}/ws/flood/stalled`)
  // From here on the client takes nothing off its TCP socket: what the server sends
  // fills the kernel buffers, then piles up in the server's ws socket.
  const stalledTcp = (stalled.socket as any)._socket
  stalledTcp.pause()
  const sender = await reader(t, `${wsBase}/ws/flood/sender`)
  await until(() => app.registry.connectionCount === 5, 10_000)

  const serverSide = [...app.websocketServer.clients].find((s: any) => s._socket.remotePort === stalledTcp.localPort)!
  t.ok(serverSide, 'the stalled socket\'s server side is found')
  let maxBuffered = 0
  const sampler = setInterval(() => { maxBuffered = Math.max(maxBuffered, serverSide.bufferedAmount) }, 2)
  t.teardown(() => clearInterval(sampler))
  let cutAt: number | undefined

  const heapBefore = heapMB()
  const started = Date.now()
  let sent = 0
  while (sent < MESSAGES && Date.now() - started < FLOOD_MS) {
    if (sent - sender.seqs.length < WINDOW) {
      sender.socket.send(JSON.stringify({ content: `${sent} ${CONTENT}` }))
      sent++
    } else {
      await new Promise((resolve) => setImmediate(resolve))
    }
    if (cutAt === undefined && app.registry.connectionCount === 4) cutAt = sent
  }
  await until(() => healthy.every((r) => r.seqs.length >= MESSAGES), FLOOD_MS)
  const deliveredMs = Date.now() - started
  if (cutAt === undefined && app.registry.connectionCount === 4) cutAt = sent
  clearInterval(sampler)
  const heapAfter = heapMB()

  const expected = Array.from({ length: MESSAGES }, (_, i) => i + 1)
  for (const [i, r] of healthy.entries()) {
    t.same(r.seqs, expected, `healthy reader ${i + 1} got every message, in order`)
    t.equal(r.socket.readyState, WebSocket.OPEN, `healthy reader ${i + 1} is still open`)
  }
  t.equal(app.registry.connectionCount, 4, 'the stalled socket left the registry; the other four are there')
  t.ok(maxBuffered <= MAX_BUFFERED + 64 * 1024, `the server never held much more than MAX_BUFFERED_BYTES for it (${maxBuffered} bytes at most)`)
  t.ok(heapAfter < heapBefore + 32, 'the server\'s heap stays bounded')

  // Within the 2 s close timeout, the server lets go of the socket.
  await until(() => app.websocketServer.clients.size === 4, 5000)
  stalledTcp.resume()
  const closed = await Promise.race([stalled.closed, new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 5000))])
  t.ok(closed && (closed.code === 1013 || closed.code === 1006), `the stalled reader, resumed, sees 1013 or a dropped connection (${JSON.stringify(closed)})`)
  if (closed?.code === 1013) t.equal(closed.reason, 'slow consumer')

  t.comment(`${MESSAGES} messages of ${CONTENT.length} bytes to 3 healthy readers in ${deliveredMs} ms`)
  t.comment(`stalled reader cut after ${cutAt ?? 'never'} messages; at most ${maxBuffered} bytes buffered for it (MAX_BUFFERED_BYTES=${MAX_BUFFERED})`)
  t.comment(`heap ${heapBefore.toFixed(1)} MB before, ${heapAfter.toFixed(1)} MB after; the stalled reader saw ${JSON.stringify(closed)}`)
})

t.test('a stalled reader that resumes right after the cut reads what it was sent, then close 1013 "slow consumer"', async (t) => {
  const { app, wsBase } = await listen(t, {
    maxBufferedBytes: MAX_BUFFERED,
    maxContentLength: 8000,
    wsMessageRate: 100_000,
    wsMessageBurst: 100_000,
    wsFrameRate: 100_000,
    wsFrameBurst: 100_000
  })
  const healthy = await reader(t, `${wsBase}/ws/flood/reader`)
  const stalled = await reader(t, `${wsBase}/ws/flood/stalled`)
  const stalledTcp = (stalled.socket as any)._socket
  stalledTcp.pause()
  const sender = await reader(t, `${wsBase}/ws/flood/sender`)
  await until(() => app.registry.connectionCount === 3, 10_000)

  const started = Date.now()
  let sent = 0
  while (app.registry.connectionCount === 3 && sent < MESSAGES && Date.now() - started < FLOOD_MS) {
    if (sent - sender.seqs.length < WINDOW) {
      sender.socket.send(JSON.stringify({ content: `${sent} ${CONTENT}` }))
      sent++
    } else {
      await new Promise((resolve) => setImmediate(resolve))
    }
  }
  t.equal(app.registry.connectionCount, 2, `the stalled reader was cut (after ${sent} messages)`)
  stalledTcp.resume()
  const closed = await Promise.race([stalled.closed, new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 5000))])
  t.same(closed, { code: 1013, reason: 'slow consumer' }, 'it sees close 1013 "slow consumer"')
  const got = stalled.seqs.length
  t.ok(got > 0 && got < sent, `it got a part of the flood (${got} of ${sent})`)
  t.same(stalled.seqs, Array.from({ length: got }, (_, i) => i + 1), 'in order, with no hole: the part before the cut')
  await until(() => healthy.seqs.length >= sent, FLOOD_MS)
  t.equal(healthy.seqs.length, sent, 'the healthy reader got them all')
  await until(() => app.websocketServer.clients.size === 2, 5000)
  t.comment(`resumed after the cut: ${got} of ${sent} messages, then ${JSON.stringify(closed)}`)
})
