import t from 'tap'
import { createAuth, SOCKET_PROTOCOL } from '../src/access/auth'
import { build, connect, listen } from './helper'

// With AUTH_SECRET, reads are behind tokens too, and a token's rooms claim limits it.
const secret = 'a-test-secret-of-at-least-32-characters!'
const auth = createAuth(secret)
const bearer = (userId: string, rooms?: string[]) => ({ authorization: `Bearer ${auth.sign(userId, 60, rooms === undefined ? {} : { rooms })}` })

const READS = ['/rooms', '/rooms/r/messages', '/rooms/r/users', '/users/alice', '/users/search?q=a']

t.test('with AUTH_SECRET every read needs a valid token: 401 without one', async (t) => {
  const app = await build(t, { authSecret: secret })
  await app.inject({ method: 'POST', url: '/rooms/r/join', headers: bearer('alice'), payload: { user_id: 'alice', username: 'Alice' } })
  const posted = await app.inject({ method: 'POST', url: '/rooms/r/messages', headers: bearer('alice'), payload: { user_id: 'alice', content: 'secret history' } })
  t.equal(posted.statusCode, 200)
  for (const url of READS) {
    const none = await app.inject(url)
    t.equal(none.statusCode, 401, `${url} without a token`)
    t.match(none.json(), { error: 'Unauthorized', code: 'unauthorized' })
    t.notMatch(none.body, /secret history/)
    t.equal((await app.inject({ url, headers: { authorization: 'Bearer forged' } })).statusCode, 401, `${url} with a bad token`)
    t.equal((await app.inject({ url, headers: bearer('bob') })).statusCode, url === '/users/alice' ? 200 : 200, `${url} with any user's token`)
  }
  t.match((await app.inject({ url: '/rooms/r/messages', headers: bearer('bob') })).json(), [{ content: 'secret history' }])
  t.equal((await app.inject('/health')).statusCode, 200, 'health stays open')
})

t.test('PUBLIC_READS keeps reads open with AUTH_SECRET; writes still need tokens', async (t) => {
  const app = await build(t, { authSecret: secret, publicReads: true })
  for (const url of READS) t.not((await app.inject(url)).statusCode, 401, url)
  t.equal((await app.inject({ method: 'POST', url: '/rooms/r/messages', payload: { user_id: 'alice', content: 'x' } })).statusCode, 401)
})

t.test('a rooms claim limits a token to those rooms on REST: 403 forbidden_room elsewhere', async (t) => {
  const app = await build(t, { authSecret: secret })
  const limited = bearer('alice', ['r1'])
  const call = (method: 'GET' | 'POST', url: string, payload?: object) => app.inject({ method, url, headers: limited, payload })
  t.equal((await call('POST', '/rooms/r1/join', { user_id: 'alice' })).statusCode, 200)
  t.equal((await call('POST', '/rooms/r1/messages', { user_id: 'alice', content: 'in r1' })).statusCode, 200)
  t.equal((await call('GET', '/rooms/r1/messages')).statusCode, 200)
  t.equal((await call('GET', '/rooms/r1/users')).statusCode, 200)
  await app.inject({ method: 'POST', url: '/rooms/r2/messages', headers: bearer('bob'), payload: { user_id: 'bob', content: 'in r2' } })
  for (const [method, url, payload] of [
    ['POST', '/rooms/r2/join', { user_id: 'alice' }],
    ['POST', '/rooms/r2/messages', { user_id: 'alice', content: 'x' }],
    ['GET', '/rooms/r2/messages'],
    ['GET', '/rooms/r2/users'],
    ['POST', '/rooms/r2/verify-password', { password: 'xxxx' }],
    ['POST', '/rooms', { name: 'new room' }]
  ] as const) {
    const res = await call(method, url, payload)
    t.equal(res.statusCode, 403, `${method} ${url}`)
    t.match(res.json(), { code: 'forbidden_room', message: /not for this room|limited to some rooms/ })
  }
  t.equal((await app.store.latest('r2', 10)).length, 1, 'nothing stored in r2 by the limited token')
  t.same((await call('GET', '/rooms')).json().map((room: { id: string }) => room.id), ['r1'], 'the listing shows only its rooms')
  t.same((await app.inject({ url: '/rooms', headers: bearer('bob') })).json().map((room: { id: string }) => room.id).sort(), ['r1', 'r2'])
})

t.test('a rooms claim that is not a list of strings makes the token invalid', async (t) => {
  const app = await build(t, { authSecret: secret })
  const bad = createAuth(secret).sign('alice', 60, { rooms: 'r1' as unknown as string[] })
  const res = await app.inject({ url: '/rooms/r1/messages', headers: { authorization: `Bearer ${bad}` } })
  t.equal(res.statusCode, 401)
  t.match(res.json().message, /rooms claim/)
})

t.test('a rooms claim limits sockets too: 1008 for another room', async (t) => {
  const { wsBase } = await listen(t, { authSecret: secret })
  const token = auth.sign('alice', 60, { rooms: ['r1'] })
  const ok = await connect(t, `${wsBase}/ws/r1/alice?token=${token}`)
  await ok.settle()
  const refused = await connect(t, `${wsBase}/ws/r2/alice?token=${token}`)
  t.match(await refused.closed, { code: 1008, reason: 'the token is not for this room' })
  const dm = await connect(t, `${wsBase}/ws/dm/alice?token=${token}`)
  await dm.settle()
  t.pass('the DM socket is the user\'s, not a room\'s: the claim does not limit it')
})

t.test('a socket token in Sec-WebSocket-Protocol (bearer.<jwt>): accepted, never echoed', async (t) => {
  const { wsBase } = await listen(t, { authSecret: secret })
  const token = auth.sign('alice')
  const socket = await connect(t, `${wsBase}/ws/r/alice`)
  t.match(await socket.closed, { code: 1008 }, 'no token at all: refused')
  const { WebSocket } = await import('ws')
  const viaProtocol = new WebSocket(`${wsBase}/ws/r/alice`, [SOCKET_PROTOCOL, `bearer.${token}`])
  t.teardown(() => viaProtocol.terminate())
  const upgrade = new Promise<import('node:http').IncomingMessage>((resolve) => viaProtocol.once('upgrade', resolve))
  const opened = new Promise((resolve) => viaProtocol.once('open', resolve))
  t.equal((await upgrade).headers['sec-websocket-protocol'], SOCKET_PROTOCOL, 'the server selects parley, not the token')
  await opened
  viaProtocol.send(JSON.stringify({ type: 'keep_alive' }))
  const answer = await new Promise<string>((resolve) => viaProtocol.on('message', (data) => { if (JSON.parse(data.toString()).type === 'ping') resolve('ping') }))
  t.equal(answer, 'ping', 'the socket is open and answering')
  const wrong = new WebSocket(`${wsBase}/ws/r/alice`, [SOCKET_PROTOCOL, `bearer.${auth.sign('bob')}`])
  t.teardown(() => wrong.terminate())
  const [code] = await new Promise<[number]>((resolve) => wrong.once('close', (c) => resolve([c])))
  t.equal(code, 1008, 'a protocol token is checked like a query one')
})

t.test('with tokens on, a message carries the profile\'s name or the token\'s, never one it gives itself', async (t) => {
  const { app, wsBase } = await listen(t, { authSecret: secret })
  await app.inject({ method: 'POST', url: '/rooms/r/join', headers: bearer('alice'), payload: { user_id: 'alice', username: 'Alice' } })
  const rest = await app.inject({ method: 'POST', url: '/rooms/r/messages', headers: bearer('alice'), payload: { user_id: 'alice', username: 'bob (admin)', content: 'hi' } })
  t.equal(rest.json().username, 'Alice', 'REST: the profile\'s name')
  const named = { authorization: `Bearer ${auth.sign('alice', 60, { name: 'Alice Liddell' })}` }
  const claimed = await app.inject({ method: 'POST', url: '/rooms/r/messages', headers: named, payload: { user_id: 'alice', username: 'bob (admin)', content: 'hi' } })
  t.equal(claimed.json().username, 'Alice Liddell', 'REST: the token\'s name claim')
  const socket = await connect(t, `${wsBase}/ws/r/alice?token=${auth.sign('alice')}`)
  socket.send({ content: 'over the socket', username: 'bob (admin)' })
  t.equal((await socket.next((f) => f.content === 'over the socket')).username, 'Alice', 'socket: the profile\'s name')
  const dm = await connect(t, `${wsBase}/ws/dm/alice?token=${auth.sign('alice')}`)
  dm.send({ type: 'dm_message', receiver_id: 'carol', content: 'a dm', sender_username: 'bob (admin)' })
  await dm.ofType('dm_sent')
  const page = await app.inject({ url: '/conversations/alice-carol/messages', headers: bearer('alice') })
  t.equal(page.json()[0].sender_username, 'Alice', 'DM: the profile\'s name')
  t.same((await app.store.latest('r', 10)).map((m) => m.username), ['Alice', 'Alice Liddell', 'Alice'])
})

t.test('names and ids with format characters (bidi overrides, zero-width) are refused with a 400, nothing stored', async (t) => {
  const { app, wsBase } = await listen(t)
  const disguised = ['evil\u202Egnp.exe', 'ad\u200Bmin', 'al\uFEFFice', 'tag\u{E0041}ged', 'x\u2066y']
  for (const name of disguised) {
    const join = await app.inject({ method: 'POST', url: '/rooms/r/join', payload: { user_id: 'u1', username: name } })
    t.equal(join.statusCode, 400, `join ${JSON.stringify(name)}`)
    t.match(join.json(), { code: 'invalid_username', message: /format characters/ })
    const post = await app.inject({ method: 'POST', url: '/rooms/r/messages', payload: { user_id: 'u1', username: name, content: 'x' } })
    t.equal(post.statusCode, 400, `message ${JSON.stringify(name)}`)
    t.equal((await app.inject({ method: 'POST', url: '/users', payload: { username: name } })).statusCode, 400, `guest ${JSON.stringify(name)}`)
    const id = encodeURIComponent(name)
    t.equal((await app.inject({ method: 'POST', url: `/rooms/${id}/join`, payload: { user_id: 'u1' } })).statusCode, 400, `room id ${JSON.stringify(name)}`)
    t.equal((await app.inject({ method: 'POST', url: '/rooms/r/join', payload: { user_id: name } })).statusCode, 400, `user id ${JSON.stringify(name)}`)
    const socket = await connect(t, `${wsBase}/ws/r/${id}`)
    t.equal((await socket.closed).code, 4004, `socket user id ${JSON.stringify(name)}`)
  }
  await app.inject({ method: 'POST', url: '/rooms/r/join', payload: { user_id: 'u1', username: 'Ünïcødé 名前 😀' } })
  const profile = await app.inject({ method: 'PUT', url: '/users/u1/profile', payload: { display_name: 'dis\u202Eplay' } })
  t.equal(profile.statusCode, 400)
  t.equal((await app.inject('/users/u1')).json().username, 'Ünïcødé 名前 😀', 'ordinary Unicode names are kept')
  const socket = await connect(t, `${wsBase}/ws/r/u1`)
  socket.send({ content: 'x', username: 'bob\u202E' })
  t.match(await socket.ofType('error'), { code: 'invalid_username' })
  t.same((await app.store.latest('r', 10)), [], 'nothing stored')
})
