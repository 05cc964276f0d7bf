import t from 'tap'
import { once } from 'node:events'
import { connect as netConnect, type Socket } from 'node:net'
import { join } from 'node:path'
import WebSocket from 'ws'
import { startServer, type ChildServer } from './child-server'

const GRACE_MS = 3000
const baseEnv = (dir: string) => ({
  DATABASE_URL: join(dir, 'p.db'),
  SHUTDOWN_GRACE_MS: String(GRACE_MS),
  HISTORY_MAX_LIMIT: '10000',
  RATE_LIMIT_MAX: '1000000',
  WS_MESSAGE_RATE: '100000',
  WS_MESSAGE_BURST: '100000',
  WS_FRAME_RATE: '100000',
  WS_FRAME_BURST: '100000'
})

interface Client { socket: WebSocket, frames: any[], closed: Promise<{ code: number, reason: string }> }

async function open (t: tap.Test, url: string): Promise<Client> {
  const socket = new WebSocket(url)
  t.teardown(() => socket.terminate())
  const frames: any[] = []
  socket.on('message', (data) => frames.push(JSON.parse(data.toString())))
  socket.on('error', () => {})
  const closed = new Promise<{ code: number, reason: string }>((resolve) => {
    socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() }))
  })
  await once(socket, 'open')
  return { socket, frames, closed }
}

async function waitFor<T> (find: () => T | undefined, what: string, ms = 5000): Promise<T> {
  const deadline = Date.now() + ms
  for (;;) {
    const found = find()
    if (found !== undefined) return found
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

/** Error-level (and worse) pino lines the child printed, and raw lines that look like a crash. */
function errorLines (child: ChildServer): string[] {
  return child.output().split('\n').filter((line) => {
    try {
      return JSON.parse(line).level >= 50
    } catch {
      return /error|uncaught|unhandled|    at /i.test(line)
    }
  })
}

async function history (base: string, room: string): Promise<any[]> {
  const res = await fetch(`${base}/rooms/${encodeURIComponent(room)}/messages?limit=10000`)
  if (res.status !== 200) throw new Error(`history answered ${res.status}`)
  return await res.json() as any[]
}

t.test('SIGTERM closes every socket with 1012, finishes in-flight frames and exits 0 within SHUTDOWN_GRACE_MS', async (t) => {
  const dir = t.testdir()
  const child = await startServer(t, baseEnv(dir))
  const alice = await open(t, `${child.wsBase}/ws/r/alice?username=Alice`)
  const bob = await open(t, `${child.wsBase}/ws/r/bob`)
  const carol = await open(t, `${child.wsBase}/ws/other/carol`)

  alice.socket.send(JSON.stringify({ content: 'acknowledged before SIGTERM' }))
  const echo = await waitFor(() => alice.frames.find((f) => f.content === 'acknowledged before SIGTERM'), 'the echo')
  const res = await fetch(`${child.base}/rooms/r/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ user_id: 'poster', content: 'posted before SIGTERM' })
  })
  t.equal(res.status, 200)
  const posted = await res.json() as any

  // A burst still on its way when the signal lands: whatever of it is stored must be
  // a prefix of it (frames are handled in order) and nothing may fail on a closed store.
  const BURST = 40
  for (let i = 0; i < BURST; i++) alice.socket.send(JSON.stringify({ content: `burst-${i}` }))
  const signalled = Date.now()
  child.kill('SIGTERM')

  const codes = await Promise.all([alice, bob, carol].map(async (c) => (await c.closed).code))
  t.same(codes, [1012, 1012, 1012], 'every socket, in every room, is closed with 1012')
  const exit = await child.exited
  const exitMs = exit.at - signalled
  t.comment(`exit ${exitMs} ms after SIGTERM (SHUTDOWN_GRACE_MS=${GRACE_MS})`)
  t.same({ code: exit.code, signal: exit.signal }, { code: 0, signal: null }, 'the process exits with code 0')
  t.ok(exitMs < GRACE_MS, `the process exits within SHUTDOWN_GRACE_MS (${exitMs} ms)`)
  t.same(errorLines(child), [], 'nothing failed during shutdown (no error-level log line)')

  const restarted = await startServer(t, baseEnv(dir))
  const stored = await history(restarted.base, 'r')
  t.same(stored.map((m) => m.seq), stored.map((_, i) => i + 1), 'seqs have no gap')
  t.same(stored.find((m) => m.id === echo.id), echo, 'the socket message acknowledged before SIGTERM survives the restart')
  t.same(stored.find((m) => m.id === posted.id), posted, 'the REST message acknowledged before SIGTERM survives the restart')
  const burst = stored.map((m) => m.content).filter((c: string) => c.startsWith('burst-'))
  t.same(burst, burst.map((_, i) => `burst-${i}`), 'the stored part of the burst is a prefix of it, in order')
  const echoed = alice.frames.filter((f) => f.type === 'message' && f.content.startsWith('burst-'))
  t.ok(burst.length >= echoed.length, 'every echoed burst frame is stored')
  t.comment(`burst: ${BURST} sent just before SIGTERM, ${echoed.length} echoed, ${burst.length} stored`)
})

/** A WebSocket client done by hand that completes the handshake and then never reads again. */
async function stalledSocket (t: tap.Test, port: number, path: string): Promise<{ socket: Socket, resume (): Promise<Buffer> }> {
  const socket = netConnect(port, '127.0.0.1')
  t.teardown(() => socket.destroy())
  socket.on('error', () => {})
  await once(socket, 'connect')
  socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n')
  let received = Buffer.alloc(0)
  const onData = (chunk: Buffer) => { received = Buffer.concat([received, chunk]) }
  socket.on('data', onData)
  await waitFor(() => (received.includes('\r\n\r\n') ? true : undefined), 'the 101 response')
  if (!received.toString('latin1').startsWith('HTTP/1.1 101')) throw new Error(`handshake refused: ${received.toString('latin1')}`)
  socket.pause()
  const afterHandshake = received.subarray(received.indexOf('\r\n\r\n') + 4)
  received = afterHandshake
  return {
    socket,
    async resume () {
      const ended = new Promise((resolve) => socket.once('close', resolve))
      socket.resume()
      await Promise.race([ended, new Promise((resolve) => setTimeout(resolve, 2000))])
      return received
    }
  }
}

/** The close code in the first server close frame (opcode 8, unmasked) in `data`, if any. */
function closeCodeIn (data: Buffer): number | undefined {
  let offset = 0
  while (offset + 2 <= data.length) {
    const opcode = data[offset] & 0x0f
    let length = data[offset + 1] & 0x7f
    let header = 2
    if (length === 126) { length = data.readUInt16BE(offset + 2); header = 4 }
    else if (length === 127) { length = Number(data.readBigUInt64BE(offset + 2)); header = 10 }
    if (opcode === 8) return length >= 2 ? data.readUInt16BE(offset + header) : undefined
    offset += header + length
  }
  return undefined
}

t.test('a socket that never reads does not hold the exit past SHUTDOWN_GRACE_MS', async (t) => {
  const child = await startServer(t, baseEnv(t.testdir()))
  const healthy = await open(t, `${child.wsBase}/ws/r/healthy`)
  const stalled = await stalledSocket(t, child.port, '/ws/r/stalled')
  // An HTTP keep-alive connection left idle must not hold the exit either.
  await (await fetch(`${child.base}/`)).arrayBuffer()

  const signalled = Date.now()
  child.kill('SIGTERM')
  t.equal((await healthy.closed).code, 1012, 'the healthy socket is closed with 1012')
  const exit = await child.exited
  const exitMs = exit.at - signalled
  t.comment(`exit ${exitMs} ms after SIGTERM with a stalled socket (SHUTDOWN_GRACE_MS=${GRACE_MS})`)
  t.same({ code: exit.code, signal: exit.signal }, { code: 0, signal: null }, 'the process exits with code 0')
  t.ok(exitMs < GRACE_MS, `the process exits within SHUTDOWN_GRACE_MS (${exitMs} ms)`)
  const code = closeCodeIn(await stalled.resume())
  t.ok(code === undefined || code === 1012, `the stalled socket, resumed, sees 1012 or nothing (${code})`)
})

t.test('an upgrade refused by the router (414, bad URL) does not hold the shutdown', async (t) => {
  const child = await startServer(t, baseEnv(t.testdir()))
  // A socket URL past the router's maxParamLength: Fastify answers 414 itself.
  const socket = netConnect(child.port, '127.0.0.1')
  t.teardown(() => socket.destroy())
  socket.on('error', () => {})
  await once(socket, 'connect')
  socket.write(`GET /ws/r/${'x'.repeat(600)} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n')
  const [answer] = await once(socket, 'data') as [Buffer]
  t.match(answer.toString('latin1'), /^HTTP\/1\.1 4\d\d/, 'the upgrade is refused with a 4xx')
  // The client is gone; only the server's end could hold the process now.
  socket.destroy()

  const signalled = Date.now()
  child.kill('SIGTERM')
  const exit = await child.exited
  const exitMs = exit.at - signalled
  t.comment(`exit ${exitMs} ms after SIGTERM with code ${exit.code} after a refused upgrade (SHUTDOWN_GRACE_MS=${GRACE_MS})`)
  t.same({ code: exit.code, signal: exit.signal }, { code: 0, signal: null }, 'the process exits with code 0')
  t.ok(exitMs < GRACE_MS, `the process exits before SHUTDOWN_GRACE_MS (${exitMs} ms)`)
})
