import t from 'tap'
import { join } from 'node:path'
import WebSocket from 'ws'
import { startServer, type ChildServer } from './child-server'
import { parseMetrics } from './helper'

// Limits raised far above the traffic below, so nothing is refused for rate or size.
const GENEROUS = {
  LOG_LEVEL: 'warn',
  HISTORY_MAX_LIMIT: '10000',
  RATE_LIMIT_MAX: '1000000',
  RATE_LIMIT_WINDOW_MS: '60000',
  WS_MESSAGE_RATE: '100000',
  WS_MESSAGE_BURST: '100000',
  WS_FRAME_RATE: '100000',
  WS_FRAME_BURST: '100000',
  SHUTDOWN_GRACE_MS: '3000',
  // The WAL checkpoint worker copies every 50 ms (default 500), so kills land in and between its checkpoints.
  SQLITE_CHECKPOINT_INTERVAL_MS: '50'
}

const ROOM = 'crash-room'
const REST_WORKERS = 6
const WS_WINDOW = 16
const ROUNDS = Number(process.env.CRASH_ROUNDS ?? 2)
// Kill once this many messages were acknowledged in the round, or after this long.
const ACKS_BEFORE_KILL = Number(process.env.CRASH_ACKS ?? 1000)
const MAX_ROUND_MS = 10_000

interface Message { id: string, seq: number, content: string, room_id: string, user_id: string, timestamp: string }

/**
 * One round of traffic against `server`: REST posts from several workers at once and
 * chat frames over one socket, each recorded as sent before it leaves and as
 * acknowledged when its 200 or its echo arrives. The child is SIGKILLed while sends
 * are in flight.
 */
async function trafficThenKill (t: tap.Test, server: ChildServer, round: number, sent: Set<string>, acked: Map<string, Message>) {
  let stop = false
  let ackedThisRound = 0
  let restInFlight = 0
  const unexpected: string[] = []
  const ack = (message: Message) => {
    acked.set(message.content, message)
    ackedThisRound++
  }

  async function restWorker (worker: number) {
    for (let i = 0; !stop && i < 20_000; i++) {
      const content = `rest-${round}-${worker}-${i}`
      sent.add(content)
      restInFlight++
      try {
        const res = await fetch(`${server.base}/rooms/${ROOM}/messages`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ user_id: `rest-${worker}`, content }),
          signal: AbortSignal.timeout(5000)
        })
        const body = await res.text()
        if (res.status === 200) ack(JSON.parse(body))
        else unexpected.push(`${res.status} ${body}`)
      } catch {
        return // the server is gone
      } finally {
        restInFlight--
      }
    }
  }

  const socket = new WebSocket(`${server.wsBase}/ws/${ROOM}/ws-${round}`)
  t.teardown(() => socket.terminate())
  let wsSent = 0
  let wsAcked = 0
  let wake = () => {}
  socket.on('error', () => {})
  socket.on('message', (data) => {
    const frame = JSON.parse(data.toString())
    if (frame.type === 'message' && frame.user_id === `ws-${round}`) {
      wsAcked++
      ack(frame)
    } else if (frame.type === 'error') {
      unexpected.push(`error frame ${JSON.stringify(frame)}`)
    }
    wake()
  })
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()))
  socket.on('close', () => wake())
  await new Promise<void>((resolve, reject) => {
    socket.once('open', resolve)
    socket.once('error', reject)
  })

  async function wsWorker () {
    for (let i = 0; !stop && i < 50_000 && socket.readyState === WebSocket.OPEN; i++) {
      while (wsSent - wsAcked >= WS_WINDOW && !stop && socket.readyState === WebSocket.OPEN) {
        await new Promise<void>((resolve) => {
          wake = resolve
          setTimeout(resolve, 50)
        })
      }
      if (stop || socket.readyState !== WebSocket.OPEN) return
      const content = `ws-${round}-${i}`
      sent.add(content)
      wsSent++
      socket.send(JSON.stringify({ content }))
    }
  }

  const started = Date.now()
  const workers = [wsWorker(), ...Array.from({ length: REST_WORKERS }, (_, w) => restWorker(w))]
  while (ackedThisRound < ACKS_BEFORE_KILL && Date.now() - started < MAX_ROUND_MS) {
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
  const metrics = parseMetrics(await fetch(`${server.base}/metrics`).then((res) => res.text(), () => ''))
  const checkpoints = (thread: string) => metrics.get(`parley_sqlite_checkpoint_seconds_count{thread="${thread}"}`) ?? 0
  const inFlight = { rest: restInFlight, ws: wsSent - wsAcked }
  server.kill('SIGKILL')
  const exit = await server.exited
  stop = true
  await Promise.all(workers)
  await closed
  t.equal(exit.signal, 'SIGKILL', `round ${round}: the child died of SIGKILL`)
  t.ok(inFlight.rest + inFlight.ws > 0, `round ${round}: sends were in flight at the kill (${inFlight.rest} REST, ${inFlight.ws} socket)`)
  t.same(unexpected, [], `round ${round}: nothing was refused before the kill`)
  t.comment(`round ${round}: killed after ${Date.now() - started} ms with ${ackedThisRound} acknowledged, in flight: ${inFlight.rest} REST, ${inFlight.ws} socket frames; ` +
    `checkpoints before the kill: ${checkpoints('worker')} on the worker, ${checkpoints('main')} catch-ups before a WAL restart`)
}

t.test('kill -9 in the middle of traffic loses no acknowledged message, leaves no seq gap, duplicates nothing', async (t) => {
  const env = { ...GENEROUS, DATABASE_URL: join(t.testdir(), 'p.db') }
  const sent = new Set<string>()
  const acked = new Map<string, Message>()

  for (let round = 1; round <= ROUNDS; round++) {
    const server = await startServer(t, env)
    await trafficThenKill(t, server, round, sent, acked)
  }

  const server = await startServer(t, env)
  // The whole history, forward a page at a time: one page is capped by HISTORY_MAX_BYTES (~4,500 of these messages).
  const history: Message[] = []
  for (let pages = 0; pages < 100; pages++) {
    const res = await fetch(`${server.base}/rooms/${ROOM}/messages?limit=1000&after=${history.at(-1)?.seq ?? 0}`)
    t.equal(res.status, 200)
    const page = await res.json() as Message[]
    if (page.length === 0) break
    history.push(...page)
  }
  t.comment(`messages sent: ${sent.size}, acknowledged: ${acked.size}, found after restart: ${history.length}`)

  t.same(history.map((m) => m.seq), history.map((_, i) => i + 1), 'seqs are 1..N with no gap')
  t.ok(history.length >= acked.size, 'at least every acknowledged message is there')
  t.ok(history.length <= sent.size, 'no more messages than were sent')

  const byId = new Map(history.map((m) => [m.id, m]))
  const lost: string[] = []
  const changed: Array<{ acknowledged: Message, stored: Message }> = []
  for (const message of acked.values()) {
    const stored = byId.get(message.id)
    if (!stored) lost.push(message.content)
    else if (stored.seq !== message.seq || stored.content !== message.content || stored.timestamp !== message.timestamp) {
      changed.push({ acknowledged: message, stored })
    }
  }
  t.same(lost.slice(0, 20), [], `no acknowledged message is lost (${lost.length} lost)`)
  t.same(changed.slice(0, 5), [], 'every acknowledged message keeps its id, seq, content and timestamp')

  const contents = history.map((m) => m.content)
  t.equal(new Set(contents).size, contents.length, 'no content is stored twice')
  t.equal(byId.size, history.length, 'no id is stored twice')
  t.same(contents.filter((c) => !sent.has(c)), [], 'nothing is stored that was not sent')

  // The restarted server carries on from the recovered seq.
  const next = await fetch(`${server.base}/rooms/${ROOM}/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ user_id: 'after', content: 'after the crash' })
  })
  t.equal(next.status, 200)
  t.equal((await next.json() as Message).seq, history.length + 1, 'the next message continues the sequence')
})
