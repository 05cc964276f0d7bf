import t from 'tap'
import { Writable } from 'node:stream'
import { buildApp } from '../src/app'
import { build, connect, listen, testConfig, until } from './helper'
import { pairKey } from '../src/store/direct-store'

t.test('chat messages past the per-socket rate get rate_limited and are not stored', async (t) => {
  const { app, wsBase } = await listen(t, { wsMessageRate: 0.001, wsMessageBurst: 3 })
  const socket = await connect(t, `${wsBase}/ws/r/u`)
  for (let i = 0; i < 6; i++) socket.send({ content: `m${i}` })
  await socket.settle()
  const errors = socket.frames.filter((f) => f.type === 'error')
  t.equal(errors.length, 3)
  t.match(errors[0], { code: 'rate_limited', message: /at most/ })
  t.same((await app.store.latest('r', 10)).map((m) => m.content), ['m0', 'm1', 'm2'])
})

t.test('frames of any kind past the frame rate are refused, the socket stays open', async (t) => {
  const { wsBase } = await listen(t, { wsFrameRate: 0.001, wsFrameBurst: 4, wsAbuseLimit: 100 })
  const socket = await connect(t, `${wsBase}/ws/r/u`)
  for (let i = 0; i < 7; i++) socket.send({ type: 'keep_alive' })
  const errors = await Promise.all([0, 1, 2].map(() => socket.ofType('error')))
  t.equal(errors.filter((f) => f.code === 'rate_limited').length, 3)
  t.equal(socket.frames.filter((f) => f.type === 'ping').length, 4)
  t.equal(socket.socket.readyState, socket.socket.OPEN)
})

t.test('sustained abuse closes the socket with 1008', async (t) => {
  const { app, wsBase } = await listen(t, { wsMessageRate: 0.001, wsMessageBurst: 1, wsAbuseLimit: 5 })
  const socket = await connect(t, `${wsBase}/ws/r/u`)
  for (let i = 0; i < 20; i++) socket.send({ content: `flood ${i}` })
  const { code, reason } = await socket.closed
  t.equal(code, 1008)
  t.match(reason, /rate limit/)
  // The server finishes the socket's taken frames before its cleanup: wait for that.
  await until(() => app.registry.connectionCount === 0)
  t.equal((await app.store.latest('r', 100)).length, 1, 'only the one allowed message is stored')
})

t.test('a DM socket that keeps sending past its limits is closed with 1008, as a room socket is', async (t) => {
  const { app, wsBase } = await listen(t, { wsMessageRate: 0.001, wsMessageBurst: 1, wsAbuseLimit: 5 })
  const socket = await connect(t, `${wsBase}/ws/dm/flooder`)
  for (let i = 0; i < 20; i++) socket.send({ type: 'dm_message', receiver_id: 'friend', content: `flood ${i}`, client_id: `c${i}` })
  t.match(await socket.closed, { code: 1008, reason: /rate limit/ })
  const refused = socket.frames.filter((f) => f.type === 'error')
  t.ok(refused.length >= 5 && refused.every((f) => f.code === 'rate_limited'), 'each refused frame was answered rate_limited before the close')
  await until(() => app.registry.connectionCount === 0)
  const stored = await app.store.directPage(pairKey('flooder', 'friend'), { limit: 100 })
  t.equal(stored.length, 1, 'only the one allowed DM is stored')
})

t.test('protocol pings are limited as frames: within the rate each gets its pong, a flood closes the socket with 1008', async (t) => {
  const { app, wsBase } = await listen(t, { wsFrameRate: 0.001, wsFrameBurst: 4, wsAbuseLimit: 5 })
  for (const path of ['/ws/r/calm', '/ws/dm/calm']) {
    const calm = await connect(t, `${wsBase}${path}`)
    const pongs: string[] = []
    calm.socket.on('pong', (data) => pongs.push(data.toString()))
    for (const payload of ['a', 'b', 'c', 'd']) calm.socket.ping(payload)
    await until(() => pongs.length === 4)
    t.same(pongs, ['a', 'b', 'c', 'd'], `${path}: four pings within the burst, four pongs echoing them`)
    // Past the burst: unanswered strikes, below the abuse limit the socket stays.
    for (let i = 0; i < 5; i++) calm.socket.ping('late')
    calm.send({ type: 'keep_alive' })
    await calm.ofType('ping')
    t.equal(calm.socket.readyState, calm.socket.OPEN, `${path}: five strikes, still open`)
    t.equal(pongs.length, 4, `${path}: pings past the rate get no pong`)
    calm.socket.close()
    await calm.closed
  }
  for (const path of ['/ws/r/flood', '/ws/dm/flood']) {
    const flood = await connect(t, `${wsBase}${path}`)
    for (let i = 0; i < 50; i++) flood.socket.ping(String(i))
    t.match(await flood.closed, { code: 1008, reason: /rate limit/ }, `${path}: a ping flood is closed as abuse`)
  }
  await until(() => app.registry.connectionCount === 0)
})

t.test('a room at its socket cap refuses the next socket with 1013', async (t) => {
  const { wsBase } = await listen(t, { maxSocketsPerRoom: 2 })
  const a = await connect(t, `${wsBase}/ws/full/a`)
  const b = await connect(t, `${wsBase}/ws/full/b`)
  await Promise.all([a.settle(), b.settle()])
  const c = await connect(t, `${wsBase}/ws/full/c`)
  t.equal((await c.closed).code, 1013)
  const elsewhere = await connect(t, `${wsBase}/ws/other/c`)
  await elsewhere.settle()
})

t.test('an address at its socket cap is refused with 1008', async (t) => {
  const { wsBase } = await listen(t, { maxSocketsPerIp: 2 })
  const a = await connect(t, `${wsBase}/ws/r1/a`)
  const b = await connect(t, `${wsBase}/ws/r2/b`)
  await Promise.all([a.settle(), b.settle()])
  const c = await connect(t, `${wsBase}/ws/r3/c`)
  t.equal((await c.closed).code, 1008)
  a.socket.close()
  await a.closed
  const d = await connect(t, `${wsBase}/ws/r3/d`)
  await d.settle()
  t.pass('a freed slot can be used again')
})

t.test('one IPv6 /64 is one address for the socket cap, as for the REST limit', async (t) => {
  // Behind one trusted proxy the client address is the X-Forwarded-For entry.
  const { wsBase } = await listen(t, { maxSocketsPerIp: 2, trustProxy: 1 })
  const from = (ip: string) => ({ headers: { 'x-forwarded-for': ip } })
  const a = await connect(t, `${wsBase}/ws/r1/a`, from('2001:db8:1:2::1'))
  const b = await connect(t, `${wsBase}/ws/r2/b`, from('2001:db8:1:2:ffff::9'))
  await Promise.all([a.settle(), b.settle()])
  const c = await connect(t, `${wsBase}/ws/r3/c`, from('2001:db8:1:2:abcd::77'))
  t.equal((await c.closed).code, 1008, 'a third address of the same /64 is over the cap')
  const d = await connect(t, `${wsBase}/ws/dm/d`, from('2001:db8:1:2:abcd::78'))
  t.equal((await d.closed).code, 1008, 'DM sockets count the same way')
  const other = await connect(t, `${wsBase}/ws/r3/e`, from('2001:db8:1:3::1'))
  await other.settle()
  t.pass('another /64 is another address')
})

t.test('MAX_SOCKETS caps the open sockets of an instance, room and DM alike: 1013', async (t) => {
  const { wsBase } = await listen(t, { maxSockets: 2 })
  const a = await connect(t, `${wsBase}/ws/r1/a`)
  const b = await connect(t, `${wsBase}/ws/dm/b`)
  await Promise.all([a.settle(), b.settle()])
  const c = await connect(t, `${wsBase}/ws/r2/c`)
  t.match(await c.closed, { code: 1013, reason: 'server is full; try again later' })
  const d = await connect(t, `${wsBase}/ws/dm/d`)
  t.equal((await d.closed).code, 1013)
  a.socket.close()
  await a.closed
  const e = await connect(t, `${wsBase}/ws/r2/e`)
  await e.settle()
  t.pass('a freed socket makes room')
})

t.test('NEW_ROOMS_PER_IP caps the rooms one address brings into being: 429, or close 1008 on a socket', async (t) => {
  const { app, wsBase } = await listen(t, { newRoomsPerIp: 3, trustProxy: 1 })
  const from = (ip: string) => ({ 'x-forwarded-for': ip })
  const me = from('203.0.113.5')
  t.equal((await app.inject({ method: 'POST', url: '/rooms/r1/join', headers: me, payload: { user_id: 'u' } })).statusCode, 200)
  t.equal((await app.inject({ method: 'POST', url: '/rooms/r2/messages', headers: me, payload: { user_id: 'u', content: 'x' } })).statusCode, 200)
  const third = await connect(t, `${wsBase}/ws/r3/u`, { headers: me })
  await third.settle()
  const join = await app.inject({ method: 'POST', url: '/rooms/r4/join', headers: me, payload: { user_id: 'u' } })
  t.equal(join.statusCode, 429)
  t.match(join.json(), { error: 'Too Many Requests', code: 'too_many_rooms', message: /at most 3 new rooms/ })
  t.equal((await app.inject({ method: 'POST', url: '/rooms/r4/messages', headers: me, payload: { user_id: 'u', content: 'x' } })).statusCode, 429)
  t.equal((await app.inject({ method: 'POST', url: '/rooms', headers: me, payload: { name: 'mine' } })).statusCode, 429)
  const socket = await connect(t, `${wsBase}/ws/r4/u`, { headers: me })
  t.match(await socket.closed, { code: 1008, reason: /too many new rooms/ })
  t.equal((await app.inject({ method: 'POST', url: '/rooms/r1/messages', headers: me, payload: { user_id: 'u', content: 'old room' } })).statusCode, 200, 'an existing room is always usable')
  t.equal((await app.inject({ method: 'POST', url: '/rooms/r4/join', headers: from('198.51.100.2'), payload: { user_id: 'v' } })).statusCode, 200, 'another address has its own quota')
  t.same((await app.inject('/rooms')).json().map((room: { id: string }) => room.id).sort(), ['r1', 'r2', 'r3', 'r4'], 'nothing made past the quota')
  t.equal((await app.inject({ method: 'POST', url: '/rooms/r4/join', headers: me, payload: { user_id: 'u' } })).statusCode, 200, 'a room someone else made is an existing room')
})

t.test('REST past its rate limit gets 429 with {error, message}', async (t) => {
  const app = await build(t, { rateLimitMax: 3 })
  for (let i = 0; i < 3; i++) t.equal((await app.inject('/rooms/r/messages')).statusCode, 200)
  const res = await app.inject('/rooms/r/messages')
  t.equal(res.statusCode, 429)
  t.match(res.json(), { error: 'Too Many Requests', message: /rate limit exceeded/ })
})

t.test('one typing_start per keystroke reaches the room once; typing_stop always does', async (t) => {
  const { app, wsBase } = await listen(t, { typingThrottleMs: 60_000 })
  const alice = await connect(t, `${wsBase}/ws/r/alice?username=Alice`)
  await until(async () => (await app.presence.online('r')).includes('alice'))
  const bob = await connect(t, `${wsBase}/ws/r/bob`)
  for (let i = 0; i < 5; i++) alice.send({ type: 'typing_start', timestamp: Date.now() })
  alice.send({ type: 'typing_stop' })
  // Relays are published before alice's ping is answered; bob's own round trip then flushes them.
  await alice.settle()
  await bob.settle()
  // bob learns alice is online (a snapshot user_joined) as he connects; the relays follow.
  t.same(bob.frames.filter((f) => !f.snapshot).map((f) => f.type), ['typing_start', 'typing_stop'])
})

t.test('a typing user who falls silent gets a typing_stop', async (t) => {
  const { wsBase } = await listen(t, { typingTimeoutMs: 200 })
  const alice = await connect(t, `${wsBase}/ws/r/alice?username=Alice`)
  const bob = await connect(t, `${wsBase}/ws/r/bob`)
  alice.send({ type: 'typing_start' })
  await bob.ofType('typing_start')
  t.match(await bob.ofType('typing_stop', 3000), { user_id: 'alice', username: 'Alice' })
})

t.test('bad input is logged at info or warn, never error', async (t) => {
  const lines: any[] = []
  const stream = new Writable({ write (chunk, _enc, cb) { lines.push(JSON.parse(chunk.toString())); cb() } })
  const app = await buildApp(testConfig({ maxFrameBytes: 1024 }), { logger: { level: 'info', stream } })
  t.teardown(() => app.close())
  await app.listen({ port: 0, host: '127.0.0.1' })
  const wsBase = `ws://127.0.0.1:${(app.server.address() as any).port}`
  const socket = await connect(t, `${wsBase}/ws/r/u`)
  socket.send('{nope')
  socket.send({ type: 'bogus' })
  await socket.settle()
  socket.send({ content: 'x'.repeat(2000) })
  await socket.closed
  await app.inject({ method: 'POST', url: '/rooms/r/messages', payload: { user_id: 5 } })
  await app.inject({ method: 'POST', url: '/rooms/r/messages', headers: { 'content-type': 'application/json' }, payload: '{' })
  t.ok(lines.some((l) => /frame refused/.test(l.msg)), 'refusals are logged')
  t.same(lines.filter((l) => l.level >= 50).map((l) => l.msg), [], 'no error-level lines')
})
