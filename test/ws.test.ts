import t from 'tap'
import { Writable } from 'node:stream'
import WebSocket from 'ws'
import { buildApp } from '../src/app'
import { build, connect, listen, testConfig, until } from './helper'

const isMessage = (content: string) => (f: any) => f.type === 'message' && f.content === content
/** Frames other than presence (user_joined / user_left come with every socket that opens). */
const chatter = (frames: any[]) => frames.filter((f) => f.type !== 'user_joined' && f.type !== 'user_left')

t.test('a socket auto-registers the user from its query and logs it once', async (t) => {
  const lines: any[] = []
  const stream = new Writable({ write (chunk, _enc, cb) { lines.push(JSON.parse(chunk.toString())); cb() } })
  const app = await buildApp(testConfig(), { logger: { level: 'info', stream } })
  t.teardown(() => app.close())
  await app.listen({ port: 0, host: '127.0.0.1' })
  const url = `ws://127.0.0.1:${(app.server.address() as any).port}/ws/r/u1?username=Alice&avatar_url=${encodeURIComponent('https://example.com/a.png')}`
  const first = await connect(t, url)
  await first.settle()
  first.socket.close()
  await first.closed
  const second = await connect(t, url)
  await second.settle()
  t.match(await app.store.getProfile('r', 'u1'), { username: 'Alice', avatarUrl: 'https://example.com/a.png' })
  t.equal(lines.filter((l) => l.msg === '✅ Auto-registered user u1').length, 1)
})

t.test('a chat frame without type is stored and echoed to every socket, the sender too', async (t) => {
  const { app, wsBase } = await listen(t)
  const alice = await connect(t, `${wsBase}/ws/r/alice?username=Alice`)
  const bob = await connect(t, `${wsBase}/ws/r/bob?username=Bob`)
  alice.send({ content: 'hello' })
  const echo = await alice.next(isMessage('hello'))
  const seen = await bob.next(isMessage('hello'))
  t.same(seen, echo)
  t.match(echo, { type: 'message', room_id: 'r', user_id: 'alice', username: 'Alice', content: 'hello', seq: 1 })
  t.match(echo.timestamp, /Z$/)
  const [stored] = await app.store.latest('r', 10)
  t.equal(stored.id, echo.id, 'the broadcast id is the history id')
  t.equal(alice.binaryFrames + bob.binaryFrames, 0, 'broadcasts are text frames, as a browser needs')
})

t.test('a chat frame with type "message" is a message too', async (t) => {
  const { wsBase } = await listen(t)
  const alice = await connect(t, `${wsBase}/ws/r/alice`)
  alice.send({ type: 'message', content: 'typed' })
  t.match(await alice.next(isMessage('typed')), { username: 'Anonymous' })
})

t.test('the broadcast id equals the id in REST history', async (t) => {
  const { base, wsBase } = await listen(t)
  const alice = await connect(t, `${wsBase}/ws/r/alice`)
  alice.send({ content: 'one' })
  const echo = await alice.next(isMessage('one'))
  const history = await (await fetch(`${base}/rooms/r/messages?limit=100`)).json()
  t.same(history, [echo])
})

t.test('the path user id wins over the frame user id', async (t) => {
  const { wsBase } = await listen(t)
  const alice = await connect(t, `${wsBase}/ws/r/alice`)
  alice.send({ content: 'who am i', user_id: 'mallory' })
  t.equal((await alice.next(isMessage('who am i'))).user_id, 'alice')
})

t.test('keep_alive is answered with ping; neither it nor pong is stored or broadcast', async (t) => {
  const { app, wsBase } = await listen(t)
  const alice = await connect(t, `${wsBase}/ws/r/alice`)
  const bob = await connect(t, `${wsBase}/ws/r/bob`)
  alice.send({ type: 'keep_alive' })
  t.same(await alice.ofType('ping'), { type: 'ping' })
  alice.send({ type: 'pong' })
  await alice.settle()
  await bob.settle()
  t.same(chatter(alice.frames), [])
  t.same(chatter(bob.frames), [], 'nothing reached the other socket')
  t.same(await app.store.latest('r', 10), [])
})

t.test('typing goes to the other sockets, not back to the sender, and stop carries the same username', async (t) => {
  const { app, wsBase } = await listen(t)
  const alice = await connect(t, `${wsBase}/ws/r/alice?username=Alice`)
  const bob = await connect(t, `${wsBase}/ws/r/bob?username=Bob`)
  alice.send({ type: 'typing_start', timestamp: Date.now() })
  const start = await bob.ofType('typing_start')
  t.match(start, { type: 'typing_start', room_id: 'r', user_id: 'alice', username: 'Alice', timestamp: String })
  // A join in between changes the profile; the stop still matches the start.
  await app.inject({ method: 'POST', url: '/rooms/r/join', payload: { user_id: 'alice', username: 'Alice Renamed' } })
  alice.send({ type: 'typing_stop', timestamp: Date.now() })
  const stop = await bob.ofType('typing_stop')
  t.equal(stop.username, start.username)
  await alice.settle()
  t.same(chatter(alice.frames), [], 'the sender got no typing frame')
})

t.test('a chat message ends the sender\'s typing', async (t) => {
  const { wsBase } = await listen(t)
  const alice = await connect(t, `${wsBase}/ws/r/alice?username=Alice`)
  const bob = await connect(t, `${wsBase}/ws/r/bob`)
  alice.send({ type: 'typing_start' })
  await bob.ofType('typing_start')
  alice.send({ content: 'done typing' })
  await bob.next(isMessage('done typing'))
  t.match(await bob.ofType('typing_stop'), { user_id: 'alice', username: 'Alice' })
})

t.test('a user who disconnects while typing gets a typing_stop', async (t) => {
  const { wsBase } = await listen(t)
  const alice = await connect(t, `${wsBase}/ws/r/alice?username=Alice`)
  const bob = await connect(t, `${wsBase}/ws/r/bob`)
  alice.send({ type: 'typing_start' })
  await bob.ofType('typing_start')
  alice.socket.close()
  t.match(await bob.ofType('typing_stop'), { user_id: 'alice', username: 'Alice' })
})

t.test('a reconnect without username and with a placeholder avatar keeps the registered profile', async (t) => {
  const { app, wsBase } = await listen(t)
  await app.inject({ method: 'POST', url: '/rooms/r/join', payload: { user_id: 'u1', username: 'Alice', avatar_url: 'https://example.com/alice.png' } })
  const placeholder = encodeURIComponent('https://ui-avatars.com/api/?name=User')
  const socket = await connect(t, `${wsBase}/ws/r/u1?avatar_url=${placeholder}`)
  socket.send({ content: 'back again', username: '' })
  const message = await socket.next(isMessage('back again'))
  t.match(message, { username: 'Alice', avatar: 'https://example.com/alice.png', avatar_url: 'https://example.com/alice.png' })
  t.match(await app.store.getProfile('r', 'u1'), { username: 'Alice', avatarUrl: 'https://example.com/alice.png' })
})

t.test('a frame\'s username and avatar apply to that message only', async (t) => {
  const { app, wsBase } = await listen(t)
  const socket = await connect(t, `${wsBase}/ws/r/u1?username=Alice`)
  socket.send({ content: 'nick', username: 'Ally', avatar: 'https://example.com/x.png' })
  t.match(await socket.next(isMessage('nick')), { username: 'Ally', avatar: 'https://example.com/x.png' })
  t.match(await app.store.getProfile('r', 'u1'), { username: 'Alice', avatarUrl: null })
})

t.test('a bad avatar_url in the query is ignored, never refused', async (t) => {
  const { app, wsBase } = await listen(t)
  const socket = await connect(t, `${wsBase}/ws/r/u1?username=Alice&avatar_url=${encodeURIComponent('javascript:alert(1)')}`)
  await socket.settle()
  const huge = await connect(t, `${wsBase}/ws/r/u2?avatar_url=https://x.com/${'a'.repeat(3000)}`)
  await huge.settle()
  t.match(await app.store.getProfile('r', 'u1'), { username: 'Alice', avatarUrl: null })
  t.match(await app.store.getProfile('r', 'u2'), { avatarUrl: null })
})

t.test('a REST post reaches the room\'s sockets and no other room\'s', async (t) => {
  const { base, wsBase } = await listen(t)
  const inRoom = await connect(t, `${wsBase}/ws/r1/a`)
  const elsewhere = await connect(t, `${wsBase}/ws/r2/b`)
  const res = await fetch(`${base}/rooms/r1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ user_id: 'poster', username: 'P', content: 'over rest' })
  })
  const posted = await res.json()
  t.same(await inRoom.next(isMessage('over rest')), posted)
  await elsewhere.settle()
  t.same(chatter(elsewhere.frames), [])
})

t.test('bad frames get an error frame, store nothing, and leave the socket open', async (t) => {
  const { app, wsBase } = await listen(t, { maxContentLength: 20 })
  const alice = await connect(t, `${wsBase}/ws/r/alice`)
  const bob = await connect(t, `${wsBase}/ws/r/bob`)
  const cases: Array<[string, string | Buffer, string]> = [
    ['invalid JSON', '{nope', 'invalid_json'],
    ['an array', '[1,2]', 'invalid_frame'],
    ['a number', '42', 'invalid_frame'],
    ['an unknown type', JSON.stringify({ type: 'launch_missiles' }), 'unknown_type'],
    ['a numeric type', JSON.stringify({ type: 7 }), 'unknown_type'],
    ['empty content', JSON.stringify({ content: '' }), 'empty_content'],
    ['blank content', JSON.stringify({ content: ' \n ' }), 'empty_content'],
    ['no content', JSON.stringify({ username: 'x' }), 'invalid_frame'],
    ['numeric content', JSON.stringify({ content: 5 }), 'invalid_frame'],
    ['oversized content', JSON.stringify({ content: 'x'.repeat(21) }), 'content_too_long'],
    ['a string typing timestamp', JSON.stringify({ type: 'typing_start', timestamp: 'now' }), 'invalid_frame']
  ]
  for (const [name, frame, code] of cases) {
    alice.send(frame)
    const error = await alice.ofType('error')
    t.match(error, { type: 'error', code, message: String }, name)
  }
  alice.socket.send(Buffer.from([0xff, 0xfe]), { binary: true })
  t.match(await alice.ofType('error'), { code: 'binary_not_supported' }, 'a binary frame')
  t.equal(alice.socket.readyState, WebSocket.OPEN, 'the socket is still open')
  alice.send({ content: 'still works' })
  await alice.next(isMessage('still works'))
  await bob.next(isMessage('still works'))
  t.same(chatter(bob.frames), [], 'the other socket saw no error frames')
  t.same((await app.store.latest('r', 10)).map((m) => m.content), ['still works'], 'only the good message is stored')
})

t.test('a frame over the size limit closes the socket with 1009', async (t) => {
  const { app, wsBase } = await listen(t, { maxFrameBytes: 2048 })
  const alice = await connect(t, `${wsBase}/ws/r/alice`)
  alice.send({ content: 'x'.repeat(4096) })
  t.equal((await alice.closed).code, 1009)
  t.same(await app.store.latest('r', 10), [])
})

t.test('an invalid room or user id closes with 4004', async (t) => {
  const { wsBase } = await listen(t)
  const socket = await connect(t, `${wsBase}/ws/r/${'u'.repeat(200)}`)
  t.equal((await socket.closed).code, 4004)
})

t.test('a foreign Origin is refused on the upgrade; a listed one and none are allowed', async (t) => {
  const { wsBase } = await listen(t, { corsOrigins: ['https://app.example.com'], corsOriginPattern: null })
  const refused = new WebSocket(`${wsBase}/ws/r/u`, { origin: 'https://evil.example.com' })
  refused.on('error', () => {})
  const status = await new Promise<number>((resolve) => refused.on('unexpected-response', (req, res) => {
    resolve(res.statusCode!)
    req.destroy()
  }))
  t.equal(status, 403)
  const allowed = await connect(t, `${wsBase}/ws/r/u`, { origin: 'https://app.example.com' })
  await allowed.settle()
  const noOrigin = await connect(t, `${wsBase}/ws/r/u2`)
  await noOrigin.settle()
})

t.test('a page served by Parley itself (same origin) may open a socket', async (t) => {
  const { wsBase } = await listen(t, { corsOrigins: [], corsOriginPattern: null })
  const own = wsBase.replace('ws://', 'http://')
  const socket = await connect(t, `${wsBase}/ws/r/u`, { origin: own })
  await socket.settle()
  const spoofed = new WebSocket(`${wsBase}/ws/r/u`, { origin: 'http://127.0.0.1:1' })
  spoofed.on('error', () => {})
  const status = await new Promise<number>((resolve) => spoofed.on('unexpected-response', (req, res) => {
    resolve(res.statusCode!)
    req.destroy()
  }))
  t.equal(status, 403, 'another port is another origin')
})

t.test('DNS rebinding: a Host and Origin of another name that match each other are refused; PUBLIC_URL is this server\'s origin', async (t) => {
  const { wsBase } = await listen(t, { corsOrigins: [], corsOriginPattern: null, publicUrl: 'https://chat.example.com' })
  const port = new URL(wsBase).port
  const upgradeStatus = (headers: Record<string, string>) => new Promise<number>((resolve) => {
    const socket = new WebSocket(`${wsBase}/ws/r/u`, { headers })
    socket.on('error', () => {})
    socket.on('open', () => {
      socket.terminate()
      resolve(101)
    })
    socket.on('unexpected-response', (req, res) => {
      resolve(res.statusCode!)
      req.destroy()
    })
  })
  t.equal(await upgradeStatus({ host: `rebind.attacker.example:${port}`, origin: `http://rebind.attacker.example:${port}` }), 403, 'a rebinding page')
  t.equal(await upgradeStatus({ host: 'chat.example.com', origin: 'https://chat.example.com' }), 101, 'the public origin')
  t.equal(await upgradeStatus({ origin: `http://localhost:${port}` }), 101, 'a loopback page on this port')
  t.equal(await upgradeStatus({ origin: `http://localhost.attacker.example:${port}` }), 403)
})

t.test('a plain GET of the socket URL answers 426', async (t) => {
  const app = await build(t)
  const res = await app.inject('/ws/r/u')
  t.equal(res.statusCode, 426)
  t.match(res.json(), { error: 'Upgrade Required', message: String })
})

t.test('socket routes carry no CORS headers (browsers apply none to sockets); REST routes do', async (t) => {
  const app = await build(t, { corsOrigins: ['https://app.example.com'] })
  const origin = 'https://app.example.com'
  for (const url of ['/ws/r/u', '/ws/dm/u']) {
    const res = await app.inject({ url, headers: { origin } })
    t.equal(res.statusCode, 426, url)
    t.equal(res.headers['access-control-allow-origin'], undefined, `${url}: no CORS header`)
  }
  const rest = await app.inject({ url: '/rooms', headers: { origin } })
  t.equal(rest.headers['access-control-allow-origin'], origin)
  t.equal((await app.inject({ url: '/ws/r/u', headers: { origin: 'https://evil.example' } })).statusCode, 403, 'a foreign origin is still refused')
})

t.test('injectWS: a socket echoes its own message', async (t) => {
  const app = await build(t)
  const socket = await app.injectWS('/ws/r/u1?username=Inj')
  t.teardown(() => socket.terminate())
  const echo = new Promise<any>((resolve) => socket.on('message', (data) => resolve(JSON.parse(data.toString()))))
  socket.send(JSON.stringify({ content: 'injected' }))
  t.match(await echo, { type: 'message', content: 'injected', username: 'Inj' })
})

t.test('a socket that stops answering protocol pings is terminated', async (t) => {
  const { app, wsBase } = await listen(t, { wsPingIntervalMs: 50 })
  const socket = new WebSocket(`${wsBase}/ws/r/silent`, { autoPong: false })
  t.teardown(() => socket.terminate())
  const closed = new Promise<number>((resolve) => socket.on('close', (code) => resolve(code)))
  t.equal(await closed, 1006, 'terminated without a close frame')
  await until(() => app.registry.connectionCount === 0)
  t.equal(app.registry.roomCount, 0, 'the registry is empty')
})

t.test('a peer that never answers pings cannot stay alive by sending pongs of its own', async (t) => {
  const { app, wsBase } = await listen(t, { wsPingIntervalMs: 50 })
  const socket = new WebSocket(`${wsBase}/ws/r/pretender`, { autoPong: false })
  t.teardown(() => socket.terminate())
  const closed = new Promise<number>((resolve) => socket.on('close', (code) => resolve(code)))
  await new Promise((resolve) => socket.once('open', resolve))
  // Unsolicited pongs, faster than the server pings: none echoes a ping's payload.
  const pretend = setInterval(() => socket.pong(Buffer.from('alive')), 10)
  t.teardown(() => clearInterval(pretend))
  const outcome = await Promise.race([closed, new Promise((resolve) => setTimeout(() => resolve('still open after 3 s'), 3000))])
  t.equal(outcome, 1006, 'terminated all the same')
  await until(() => app.registry.connectionCount === 0)
})

t.test('a peer that answers pings stays open', async (t) => {
  const { wsBase } = await listen(t, { wsPingIntervalMs: 50 })
  const socket = await connect(t, `${wsBase}/ws/r/awake`)
  await new Promise((resolve) => setTimeout(resolve, 400))
  await socket.settle()
  t.equal(socket.socket.readyState, WebSocket.OPEN, 'eight pings later, still open')
})

t.test('heartbeat pings are spread over the interval, not sent to every socket at once', async (t) => {
  // 1 s interval: ten slices of 100 ms. Twenty sockets, two per slice.
  const { wsBase } = await listen(t, { wsPingIntervalMs: 1000 })
  const pings: number[] = []
  const sockets = await Promise.all(Array.from({ length: 20 }, (_, i) => connect(t, `${wsBase}/ws/r/beat-${i}`)))
  const pinged = new Set<number>()
  sockets.forEach((s, i) => s.socket.on('ping', () => {
    pings.push(performance.now())
    pinged.add(i)
  }))
  await until(() => pinged.size === 20, 5000)
  t.equal(pinged.size, 20, 'every socket pinged within an interval or two')
  // Pings sent in one tick arrive together; ticks are 100 ms apart. Count the bursts.
  const bursts: number[] = []
  let last = -Infinity
  for (const at of pings.sort((a, b) => a - b)) {
    if (at - last > 30) bursts.push(0)
    bursts[bursts.length - 1]++
    last = at
  }
  t.ok(bursts.length >= 4, `pings in ${bursts.length} bursts (${bursts.join(', ')}), not one`)
  t.ok(Math.max(...bursts) <= 8, `at most 8 pings in one burst (${bursts.join(', ')})`)
  for (const s of sockets) t.equal(s.socket.readyState, WebSocket.OPEN, 'answering sockets stay open')
})

t.test('shutdown closes sockets with 1012, never 4004', async (t) => {
  const { app, wsBase } = await listen(t)
  const socket = await connect(t, `${wsBase}/ws/r/u`)
  await socket.settle()
  await app.close()
  t.equal((await socket.closed).code, 1012)
})

t.test('answers come in the order of the frames, and a refused send names its client_id', async (t) => {
  const { wsBase } = await listen(t, { maxContentLength: 10 })
  const socket = await connect(t, `${wsBase}/ws/r/u`)
  await socket.settle()
  socket.send({ content: 'first', client_id: 'c-1' })
  socket.send('oops')
  socket.send({ content: 'x'.repeat(11), client_id: 'c-2' })
  socket.send({ type: 'keep_alive' })
  await until(() => socket.frames.some((f) => f.type === 'ping'))
  t.same(chatter(socket.frames).map((f) => f.type === 'error' ? `error:${f.code}:${f.client_id}` : f.type), [
    'message', 'error:invalid_json:undefined', 'error:content_too_long:c-2', 'ping'
  ])
})

t.test('a failed read of the sender\'s account fails that frame only: the next frame reads it again and is stored', async (t) => {
  const { app, wsBase } = await listen(t)
  const getUser = app.store.getUser
  let calls = 0
  app.store.getUser = async (id) => {
    if (calls++ === 0) throw new Error('database away')
    return getUser.call(app.store, id)
  }
  const socket = await connect(t, `${wsBase}/ws/r/u?username=Ada`)
  socket.send({ content: 'first' })
  t.match(await socket.ofType('error'), { code: 'internal_error' })
  socket.send({ content: 'second' })
  t.match(await socket.ofType('message'), { content: 'second', username: 'Ada' })
  t.equal(calls, 2, 'read again, not the failure kept')
  t.same((await app.store.latest('r', 10)).map((m) => m.content), ['second'])
})
