import t from 'tap'
import type { Test } from 'tap'
import { randomBytes } from 'node:crypto'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import pg from 'pg'
import WebSocket from 'ws'
import { parseMetrics, until } from './helper'
import { freePort, hog, startServer, type ChildServer } from './child-server'

// The delivery guarantee on PostgreSQL + Redis with several instances, under pressure:
// a writer at 250 messages/s, a reader that drops and resumes with since= on
// alternating instances, both CPUs kept busy by another process, many rounds in one
// run; then a round with Redis restarted mid-run and one with the writer's instance
// killed (SIGKILL). Every round: each seq once, in order, no gap, nothing refused as
// overloaded, and the last hop never had a duplicate to drop.

const databaseUrl = process.env.TEST_DATABASE_URL
const redisUrl = process.env.TEST_REDIS_URL
const canRunRedis = spawnSync('redis-server', ['--version']).status === 0
const ROUNDS = Number(process.env.EXACTLY_ONCE_ROUNDS ?? 12)
const MESSAGES = 400
const SEND_EVERY_MS = 4
const RESUMES = 6

if (!databaseUrl || !redisUrl) {
  t.comment('TEST_DATABASE_URL and TEST_REDIS_URL are not both set: skipping the exactly-once pressure suite')
  t.test('exactly once under pressure', { skip: 'TEST_DATABASE_URL and TEST_REDIS_URL are not both set' }, async () => {})
} else if (!canRunRedis) {
  t.test('exactly once under pressure', { skip: 'redis-server is not installed here (the suite restarts its own)' }, async () => {})
} else {
  pressure(databaseUrl)
}

async function startRedis (port: number): Promise<ChildProcess> {
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' })
  await until(() => spawnSync('redis-cli', ['-p', String(port), 'ping']).stdout?.toString().trim() === 'PONG', 5000)
  return proc
}

interface Socket {
  ws: WebSocket
  frames: any[]
  closed: Promise<void>
}

/** A client socket; `onFrame` is attached before the upgrade completes, so no frame is missed. */
async function open (url: string, onFrame: (frame: any) => void = () => {}): Promise<Socket> {
  const ws = new WebSocket(url)
  const frames: any[] = []
  ws.on('message', (data) => {
    const frame = JSON.parse(data.toString())
    frames.push(frame)
    onFrame(frame)
  })
  ws.on('error', () => {})
  const closed = once(ws, 'close').then(() => {})
  await once(ws, 'open')
  return { ws, frames, closed }
}

function pressure (databaseUrl: string): void {
  const id = randomBytes(6).toString('hex')
  const schema = `parley_test_once_${id}`
  const admin = new pg.Pool({ connectionString: databaseUrl, max: 1, options: `-c search_path=${schema}` })
  let redis: ChildProcess | undefined
  let redisPort = 0
  const servers: { a?: ChildServer, b?: ChildServer, c?: ChildServer } = {}

  t.before(async () => {
    redisPort = await freePort()
    redis = await startRedis(redisPort)
    const env = {
      DATABASE_URL: databaseUrl,
      DATABASE_SCHEMA: schema,
      REDIS_URL: `redis://127.0.0.1:${redisPort}`,
      REDIS_PREFIX: `test-once-${id}`,
      WS_MESSAGE_RATE: '100000',
      WS_MESSAGE_BURST: '100000',
      WS_FRAME_RATE: '100000',
      WS_FRAME_BURST: '100000',
      WS_ABUSE_LIMIT: '100000',
      MAX_SOCKETS_PER_IP: '100000',
      RATE_LIMIT_MAX: '100000000',
      LOG_LEVEL: 'warn'
    }
    // One at a time: the first runs the migrations.
    servers.a = await startServer(t, env)
    servers.b = await startServer(t, env)
    servers.c = await startServer(t, env)
  })
  t.teardown(async () => {
    redis?.kill('SIGKILL')
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
    await admin.end()
  })

  /**
   * One round in room `room`: the writer on `writerOn` sends MESSAGES messages, one
   * every SEND_EVERY_MS, each with a client_id; the reader starts on A and resumes
   * RESUMES times with since=, alternating B and A. `during` runs mid-round (a Redis
   * restart, a SIGKILL) and may name an instance for the writer to move to.
   */
  async function round (t: Test, room: string, writerOn: ChildServer, during?: () => Promise<ChildServer | undefined>) {
    const hogs = hog(15_000)
    t.teardown(() => { for (const h of hogs) h.kill('SIGKILL') })
    const acked = new Set<string>()
    const errors: any[] = []
    const watch = (frame: any) => {
      if (frame.type === 'message' && frame.user_id === 'writer') acked.add(frame.client_id)
      if (frame.type === 'error') errors.push(frame)
    }
    let writer = await open(`${writerOn.wsBase}/ws/${room}/writer`, watch)

    // The reader: every connection's chat seqs, in arrival order. Like the client, it
    // reconnects with since= when the server closes its socket (a 1011 while Redis is away).
    const connections: number[][] = []
    let lastSeen = 0
    let done = false
    let reader!: Socket
    const connectReader = async (on: ChildServer, since?: number) => {
      const seqs: number[] = []
      connections.push(seqs)
      const socket = await open(`${on.wsBase}/ws/${room}/reader${since === undefined ? '' : `?since=${since}`}`, (frame) => {
        if (frame.type !== 'message') return
        seqs.push(frame.seq)
        lastSeen = Math.max(lastSeen, frame.seq)
      })
      socket.ws.on('close', () => {
        if (done || reader !== socket) return
        setTimeout(() => { if (!done && reader === socket) void connectReader(on, lastSeen).catch(() => {}) }, 200)
      })
      reader = socket
      return socket
    }
    const first = await connectReader(servers.a!)
    // A socket without since= gets what is stored after its registration: wait for it
    // (the keep_alive is answered after it) before the writer starts.
    first.ws.send(JSON.stringify({ type: 'keep_alive' }))
    await until(() => first.frames.some((f) => f.type === 'ping'), 5000)

    let sent = 0
    const content = (i: number) => `message ${i}`
    const clientId = (i: number) => `${room}-${i}`
    const sending = (async () => {
      while (sent < MESSAGES) {
        if (writer.ws.readyState === WebSocket.OPEN) {
          writer.ws.send(JSON.stringify({ content: content(sent), client_id: clientId(sent) }))
          sent++
        }
        await new Promise((resolve) => setTimeout(resolve, SEND_EVERY_MS))
      }
    })()
    const resuming = (async () => {
      for (let i = 0; i < RESUMES; i++) {
        await new Promise((resolve) => setTimeout(resolve, 150 + Math.random() * 200))
        const dropped = reader
        reader = undefined as unknown as Socket
        dropped.ws.terminate()
        await dropped.closed
        await connectReader(i % 2 === 0 ? servers.b! : servers.a!, lastSeen)
      }
    })()
    if (during !== undefined) {
      await new Promise((resolve) => setTimeout(resolve, 500))
      const moveTo = await during()
      if (moveTo !== undefined) {
        // The writer's instance is gone: reconnect elsewhere and resend what was not
        // acknowledged, with the same client_ids (a retry is stored once).
        await writer.closed
        writer = await open(`${moveTo.wsBase}/ws/${room}/writer`, watch)
        for (let i = 0; i < sent; i++) {
          if (!acked.has(clientId(i))) writer.ws.send(JSON.stringify({ content: content(i), client_id: clientId(i) }))
        }
      }
    }
    await Promise.all([sending, resuming])
    await until(() => acked.size === MESSAGES, 20_000).catch(() => {})
    t.equal(acked.size, MESSAGES, 'every message was acknowledged to the writer')
    const { rows: [{ last }] } = await admin.query<{ last: string }>('SELECT COALESCE(MAX(seq), 0) AS last FROM messages WHERE room_id = $1', [room])
    await until(() => lastSeen >= Number(last), 20_000).catch(() => {})
    done = true
    for (const h of hogs) h.kill('SIGKILL')

    const all = connections.flat()
    const expected = Array.from({ length: Number(last) }, (_, i) => i + 1)
    t.equal(Number(last), MESSAGES, 'each message stored once (retries included)')
    t.same(all, expected, `the reader saw seqs 1..${last} exactly once, in order, over ${connections.length} connections`)
    for (const [i, seqs] of connections.entries()) {
      t.ok(seqs.every((seq, j) => j === 0 || seq > seqs[j - 1]), `connection ${i}: strictly increasing`)
    }
    t.same(errors.filter((e) => e.code === 'overloaded'), [], 'no frame refused as overloaded')
    t.same(errors, [], 'no error frame at all')
    writer.ws.terminate()
    reader.ws.terminate()
  }

  async function duplicatesDropped (server: ChildServer): Promise<number> {
    const series = parseMetrics(await (await fetch(`${server.base}/metrics`)).text())
    return series.get('parley_ws_duplicates_dropped_total') ?? NaN
  }

  t.test(`${ROUNDS} rounds: writer on C at 250 msgs/s, reader resuming on A and B, CPUs busy`, async (t) => {
    for (let i = 0; i < ROUNDS; i++) {
      await t.test(`round ${i + 1}`, (t) => round(t, `once-${i}`, servers.c!))
    }
    for (const [name, server] of Object.entries(servers)) {
      t.equal(await duplicatesDropped(server!), 0, `instance ${name}: the last hop never had a duplicate to drop`)
    }
    // For the record: how long the writer's commits took with the CPUs busy.
    const series = parseMetrics(await (await fetch(`${servers.c!.base}/metrics`)).text())
    const bucket = (le: string) => series.get(`parley_store_append_seconds_bucket{le="${le}"}`)
    const count = series.get('parley_store_append_seconds_count')
    t.comment(`commits on C: ${count}; within 5 ms ${bucket('0.005')}, 25 ms ${bucket('0.025')}, 100 ms ${bucket('0.1')}, 250 ms ${bucket('0.25')}`)
  })

  t.test('Redis restarted mid-round, 4 rounds: still exact', async (t) => {
    // A publish in flight when Redis goes must not hold the writer's answers (which
    // happened in 1 of 4 runs of one round): several rounds, so luck cannot pass it.
    for (let r = 1; r <= 4; r++) {
      await t.test(`Redis round ${r}`, async (t) => {
        await round(t, `once-redis-${r}`, servers.c!, async () => {
          redis!.kill('SIGKILL')
          await once(redis!, 'exit')
          await new Promise((resolve) => setTimeout(resolve, 300))
          redis = await startRedis(redisPort)
          return undefined
        })
      })
    }
  })

  t.test('DMs, 6 rounds with the CPUs busy: the receiver moves between A and B, each DM reaches it once, oldest first', async (t) => {
    const COUNT = 200
    for (let r = 0; r < 6; r++) {
      await t.test(`DM round ${r + 1}`, async (t) => {
        const hogs = hog(15_000)
        t.teardown(() => { for (const h of hogs) h.kill('SIGKILL') })
        const sender = `dm-sender-${r}`
        const receiver = `dm-receiver-${r}`
        const sent: string[] = []
        const errors: any[] = []
        const writer = await open(`${servers.c!.wsBase}/ws/dm/${sender}?username=S`, (f) => {
          if (f.type === 'dm_sent') sent.push(f.id)
          if (f.type === 'error') errors.push(f)
        })
        // Every connection's DMs in arrival order.
        const connections: string[][] = []
        const connectReceiver = (on: ChildServer) => {
          const ids: string[] = []
          connections.push(ids)
          return open(`${on.wsBase}/ws/dm/${receiver}`, (f) => { if (f.type === 'dm_message') ids.push(f.id) })
        }
        let reader = await connectReceiver(servers.a!)
        const sending = (async () => {
          for (let i = 0; i < COUNT; i++) {
            writer.ws.send(JSON.stringify({ type: 'dm_message', receiver_id: receiver, content: `dm ${i}` }))
            await new Promise((resolve) => setTimeout(resolve, 8))
          }
        })()
        for (let i = 0; i < 4; i++) {
          await new Promise((resolve) => setTimeout(resolve, 200 + Math.random() * 200))
          reader.ws.close()
          await reader.closed
          // Away for a moment: what is written meanwhile waits in the store.
          await new Promise((resolve) => setTimeout(resolve, 50 + Math.random() * 100))
          reader = await connectReceiver(i % 2 === 0 ? servers.b! : servers.a!)
        }
        await sending
        await until(() => sent.length === COUNT, 20_000).catch(() => {})
        const received = () => connections.flat()
        await until(() => received().length >= COUNT, 20_000).catch(() => {})
        for (const h of hogs) h.kill('SIGKILL')
        t.same(errors, [], 'no DM refused')
        t.equal(sent.length, COUNT, 'every DM stored and confirmed to the sender')
        t.equal(new Set(received()).size, received().length, 'no DM reached the receiver twice')
        t.same([...received()].sort(), [...sent].sort(), 'every DM reached the receiver')
        for (const [i, ids] of connections.entries()) t.ok(ids.every((id, j) => j === 0 || id > ids[j - 1]), `connection ${i}: oldest first`)
        writer.ws.terminate()
        reader.ws.terminate()
      })
    }
  })

  t.test('the writer\'s instance killed with SIGKILL mid-round: every acknowledged message once, in order', async (t) => {
    await round(t, 'once-kill', servers.c!, async () => {
      servers.c!.kill('SIGKILL')
      await servers.c!.exited
      return servers.a!
    })
    for (const name of ['a', 'b'] as const) {
      t.equal(await duplicatesDropped(servers[name]!), 0, `instance ${name}: the last hop never had a duplicate to drop`)
    }
  })
}
