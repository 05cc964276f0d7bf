import t from 'tap'
import { randomBytes } from 'node:crypto'
import { spawn, spawnSync } from 'node:child_process'
import Redis from 'ioredis'
import pg from 'pg'
import { connect, listen, until } from './helper'
import { freePort, startServer } from './child-server'

const databaseUrl = process.env.TEST_DATABASE_URL
const redisUrl = process.env.TEST_REDIS_URL

if (!databaseUrl || !redisUrl) {
  t.comment('TEST_DATABASE_URL and TEST_REDIS_URL are not both set: skipping the two-instance suite')
  t.test('two instances', { skip: 'TEST_DATABASE_URL and TEST_REDIS_URL are not both set' }, async () => {})
} else {
  scaleOut(databaseUrl, redisUrl)
}

function scaleOut (databaseUrl: string, redisUrl: string): void {
  const fast = { wsMessageRate: 100_000, wsMessageBurst: 100_000, wsFrameRate: 100_000, wsFrameBurst: 100_000, rateLimitMax: 1_000_000 }
  const admin = new pg.Pool({ connectionString: databaseUrl, max: 1 })
  const schemas: string[] = []
  t.teardown(async () => {
    for (const schema of schemas) await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
    await admin.end()
  })

  /** One shared "cluster": a fresh PostgreSQL schema and Redis prefix for two or more instances. */
  function cluster () {
    const id = randomBytes(6).toString('hex')
    schemas.push(`parley_test_${id}`)
    return { databaseUrl, databaseSchema: `parley_test_${id}`, redisUrl, redisPrefix: `test-${id}`, ...fast }
  }

  const post = (base: string, room: string, body: object) => fetch(`${base}/rooms/${room}/messages`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body)
  }).then((res) => res.json())

  t.test('a socket on A receives what is posted on B, in seq order, and so does one on B', async (t) => {
    const shared = cluster()
    const a = await listen(t, shared)
    const b = await listen(t, shared)
    const onA = await connect(t, `${a.wsBase}/ws/r/reader-a`)
    const onB = await connect(t, `${b.wsBase}/ws/r/reader-b`)
    await Promise.all([onA.settle(), onB.settle()])
    const total = 200
    // Writers on both instances at once: commits interleave, publishes can overtake.
    await Promise.all(Array.from({ length: total }, (_, i) => post(i % 2 ? a.base : b.base, 'r', { user_id: `w${i % 4}`, content: `m${i}` })))
    const seqs = (frames: any[]) => frames.filter((f) => f.type === 'message').map((f) => f.seq)
    await until(() => seqs(onA.frames).length >= total && seqs(onB.frames).length >= total, 10_000)
    const expected = Array.from({ length: total }, (_, i) => i + 1)
    t.same(seqs(onA.frames), expected, 'A: every message once, in seq order')
    t.same(seqs(onB.frames), expected, 'B: every message once, in seq order')
  })

  t.test('presence and typing cross instances', async (t) => {
    const shared = cluster()
    const a = await listen(t, shared)
    const b = await listen(t, shared)
    const alice = await connect(t, `${a.wsBase}/ws/r/alice?username=Alice`)
    await alice.settle()
    const bob = await connect(t, `${b.wsBase}/ws/r/bob?username=Bob&presence=1`)
    const state = await bob.ofType('room_state')
    t.same(state.online.map((m: any) => m.user_id).sort(), ['alice', 'bob'], 'B sees alice, online on A')
    t.match(await alice.ofType('user_joined'), { user_id: 'bob', username: 'Bob', online_count: 2 })
    // A second tab of bob, on A: one user, no second join.
    const bobTab2 = await connect(t, `${a.wsBase}/ws/r/bob`)
    await bobTab2.settle()
    alice.send({ type: 'typing_start' })
    t.match(await bob.ofType('typing_start'), { user_id: 'alice', username: 'Alice' })
    t.same(alice.frames.filter((f) => f.type === 'user_joined'), [], 'no second user_joined for a second tab on another instance')
    const users = await (await fetch(`${b.base}/rooms/r/users`)).json() as any[]
    t.same(users.filter((u: any) => u.online).map((u: any) => u.user_id).sort(), ['alice', 'bob'])
    bob.socket.close()
    await bob.closed
    await alice.settle()
    t.same(alice.frames.filter((f) => f.type === 'user_left'), [], 'bob still has a tab on A')
    bobTab2.socket.close()
    t.match(await alice.ofType('user_left'), { user_id: 'bob', online_count: 1 })
  })

  t.test('a client resumes on B from where it was on A with no gap', async (t) => {
    const shared = cluster()
    const a = await listen(t, shared)
    const b = await listen(t, shared)
    for (let i = 1; i <= 5; i++) await post(a.base, 'r', { user_id: 'w', content: `m${i}` })
    const first = await connect(t, `${a.wsBase}/ws/r/reader?since=0`)
    await first.ofType('recovery')
    const lastSeen = Math.max(...first.frames.filter((f) => f.type === 'message').map((f) => f.seq))
    first.socket.terminate()
    for (let i = 6; i <= 10; i++) await post(i % 2 ? a.base : b.base, 'r', { user_id: 'w', content: `m${i}` })
    const resumed = await connect(t, `${b.wsBase}/ws/r/reader?since=${lastSeen}`)
    t.match(await resumed.ofType('recovery'), { status: 'complete', since: 5, last_seq: 10, replayed: 5 })
    await post(a.base, 'r', { user_id: 'w', content: 'm11' })
    // A lost publish is read from the store by B's sequencer within a second or so; a
    // loaded CI machine gets more time, and a failure says what each side saw.
    await until(() => resumed.frames.some((f) => f.content === 'm11'), 15_000)
      .catch(async (err) => t.fail(`m11 never came: ${resumed.frames.map((f) => f.seq)} ${err} A: ${(a.app.broker as any).status} ` +
        `B: ${(b.app.broker as any).status} B rooms ${b.app.registry.roomCount} conns ${b.app.registry.connectionCount} ` +
        `B lastSeq ${await b.app.store.lastSeq('r')}`))
    t.same(resumed.frames.filter((f) => f.type === 'message').map((f) => f.seq), [6, 7, 8, 9, 10, 11])
  })

  t.test('an instance that stops cleanly takes its users out of presence at once', async (t) => {
    const shared = cluster()
    const a = await listen(t, shared)
    const b = await listen(t, shared)
    const watcher = await connect(t, `${b.wsBase}/ws/r/watcher`)
    await watcher.settle()
    const carol = await connect(t, `${a.wsBase}/ws/r/carol?username=Carol`)
    await watcher.ofType('user_joined')
    await a.app.close()
    await carol.closed
    t.match(await watcher.ofType('user_left', 5000), { user_id: 'carol', username: 'Carol', online_count: 1 })
  })

  t.test('an instance killed with SIGKILL has its users expire from presence within the TTL', async (t) => {
    const shared = cluster()
    const ttl = 1500
    const b = await listen(t, { ...shared, presenceTtlMs: ttl })
    const a = await startServer(t, {
      DATABASE_URL: databaseUrl,
      DATABASE_SCHEMA: shared.databaseSchema,
      REDIS_URL: redisUrl,
      REDIS_PREFIX: shared.redisPrefix,
      PRESENCE_TTL_MS: String(ttl),
      LOG_LEVEL: 'warn'
    })
    const watcher = await connect(t, `${b.wsBase}/ws/r/watcher`)
    await watcher.settle()
    const dave = await connect(t, `${a.wsBase}/ws/r/dave?username=Dave`)
    await watcher.ofType('user_joined')
    const killedAt = Date.now()
    a.kill('SIGKILL')
    await dave.closed
    const left = await watcher.ofType('user_left', ttl * 4)
    const after = Date.now() - killedAt
    t.match(left, { user_id: 'dave', username: 'Dave' })
    t.ok(after < ttl * 3, `dave left B's presence ${after} ms after A died (TTL ${ttl} ms)`)
  })

  t.test('an instance holds two Redis connections: its commands and its subscriber', async (t) => {
    const shared = cluster()
    await listen(t, shared)
    await listen(t, shared)
    const raw = new Redis(redisUrl)
    t.teardown(() => raw.disconnect())
    const names = async () => (await raw.client('LIST') as string).split('\n')
      .map((line) => /(?:^| )name=(\S*)/.exec(line)?.[1] ?? '').filter((name) => name.startsWith(`${shared.redisPrefix}:`)).sort()
    await until(async () => (await names()).length === 4, 5000).catch(() => {})
    t.same(await names(), [`${shared.redisPrefix}:commands`, `${shared.redisPrefix}:commands`, `${shared.redisPrefix}:subscriber`, `${shared.redisPrefix}:subscriber`],
      'two instances: a command connection and a subscriber each')
  })

  t.test('readiness reports the store and the broker', async (t) => {
    const app = await listen(t, cluster())
    const res = await fetch(`${app.base}/health`)
    t.equal(res.status, 200)
    t.same(await res.json(), { status: 'ok', store: 'ok', broker: 'ok' })
    const broken = await listen(t, { ...cluster(), redisUrl: 'redis://127.0.0.1:1' })
    const down = await fetch(`${broken.base}/health`)
    t.equal(down.status, 503)
    // Coarse states only: the error's text (it may name internal hosts) goes to the log.
    t.same(await down.json(), { status: 'unavailable', store: 'ok', broker: 'unavailable' })
  })
}

if (databaseUrl && process.env.TEST_REDIS_URL) {
  const canRunRedis = spawnSync('redis-server', ['--version']).status === 0
  t.test('while Redis is away, messages are stored and delivered locally; when it returns the other instance catches up in order', {
    skip: canRunRedis ? false : 'redis-server is not installed here'
  }, async (t) => {
    const port = await freePort()
    const startRedis = async () => {
      const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' })
      t.teardown(() => proc.kill('SIGKILL'))
      await until(() => spawnSync('redis-cli', ['-p', String(port), 'ping']).stdout?.toString().trim() === 'PONG', 5000)
      return proc
    }
    let redis = await startRedis()
    const id = randomBytes(6).toString('hex')
    const schema = `parley_test_${id}`
    const admin = new pg.Pool({ connectionString: databaseUrl, max: 1 })
    t.teardown(async () => {
      await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
      await admin.end()
    })
    const shared = { databaseUrl, databaseSchema: schema, redisUrl: `redis://127.0.0.1:${port}`, redisPrefix: `test-${id}`, rateLimitMax: 1_000_000 }
    const a = await listen(t, shared)
    const b = await listen(t, shared)
    const onA = await connect(t, `${a.wsBase}/ws/r/reader-a`)
    const onB = await connect(t, `${b.wsBase}/ws/r/reader-b`)
    await Promise.all([onA.settle(), onB.settle()])
    const postA = (content: string) => fetch(`${a.base}/rooms/r/messages`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user_id: 'w', content })
    })
    const seqs = (frames: any[]) => frames.filter((f) => f.type === 'message').map((f) => f.seq)

    await postA('before')
    await until(() => seqs(onB.frames).length === 1)

    redis.kill('SIGKILL')
    await new Promise((resolve) => redis.once('exit', resolve))
    const during = await postA('during the outage')
    t.equal(during.status, 200, 'a message is still accepted and stored while Redis is away')
    await until(() => seqs(onA.frames).length === 2, 5000)
    t.equal((await fetch(`${a.base}/health`)).status, 503, 'readiness reports the broker down')

    redis = await startRedis()
    // Delivery resumes once ioredis has reconnected and re-subscribed.
    const deadline = Date.now() + 10_000
    while ((await fetch(`${a.base}/health`)).status !== 200 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100))
    await new Promise((resolve) => setTimeout(resolve, 300))
    await postA('after')
    await until(() => seqs(onB.frames).length >= 3, 5000)
    t.same(seqs(onA.frames), [1, 2, 3], 'A (the writer) saw everything')
    t.same(seqs(onB.frames), [1, 2, 3], 'B caught up on the message it missed, in order, once')
  })
}
