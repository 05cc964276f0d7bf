import t from 'tap'
import { build } from './helper'

const json = { 'content-type': 'application/json' }

t.test('GET / answers 200 with status ok', async (t) => {
  const app = await build(t)
  const res = await app.inject('/')
  t.equal(res.statusCode, 200)
  t.match(res.json(), { status: 'ok' })
})

t.test('a join answers the seed shape and creates the room on the fly', async (t) => {
  const app = await build(t)
  const res = await app.inject({
    method: 'POST',
    url: '/rooms/test-room/join',
    payload: { user_id: 'u1', username: 'Alice', avatar_url: 'https://example.com/a.png' }
  })
  t.equal(res.statusCode, 200)
  t.same(res.json(), { status: 'success', room_id: 'test-room', user_id: 'u1' })
  t.match(await app.store.getProfile('test-room', 'u1'), { username: 'Alice', avatarUrl: 'https://example.com/a.png' })
})

t.test('ids are arbitrary strings, not only UUIDs', async (t) => {
  const app = await build(t)
  const res = await app.inject({ method: 'POST', url: '/rooms/mock-1735-abc123/join', payload: { user_id: 'mock-1735-xyz' } })
  t.equal(res.statusCode, 200)
  t.same(res.json(), { status: 'success', room_id: 'mock-1735-abc123', user_id: 'mock-1735-xyz' })
})

t.test('a join with null optional fields is accepted', async (t) => {
  const app = await build(t)
  const res = await app.inject({ method: 'POST', url: '/rooms/r/join', payload: { user_id: 'u1', username: null, avatar_url: null } })
  t.equal(res.statusCode, 200)
})

t.test('a join without username keeps the registered profile', async (t) => {
  const app = await build(t)
  await app.inject({ method: 'POST', url: '/rooms/r/join', payload: { user_id: 'u1', username: 'Alice', avatar_url: 'https://example.com/a.png' } })
  await app.inject({ method: 'POST', url: '/rooms/r/join', payload: { user_id: 'u1', username: '' } })
  t.match(await app.store.getProfile('r', 'u1'), { username: 'Alice', avatarUrl: 'https://example.com/a.png' })
  await app.inject({ method: 'POST', url: '/rooms/r/join', payload: { user_id: 'u1', username: 'Alicia' } })
  t.match(await app.store.getProfile('r', 'u1'), { username: 'Alicia', avatarUrl: 'https://example.com/a.png' })
})

t.test('a posted message is returned in the one message shape', async (t) => {
  const app = await build(t)
  await app.inject({ method: 'POST', url: '/rooms/r/join', payload: { user_id: 'u1', username: 'Alice', avatar_url: 'https://example.com/a.png' } })
  const res = await app.inject({ method: 'POST', url: '/rooms/r/messages', payload: { user_id: 'u1', content: 'Hello' } })
  t.equal(res.statusCode, 200)
  const message = res.json()
  t.same(Object.keys(message).sort(), ['avatar', 'avatar_url', 'content', 'id', 'room_id', 'seq', 'timestamp', 'type', 'user_id', 'username'])
  t.match(message, {
    type: 'message',
    id: String,
    room_id: 'r',
    user_id: 'u1',
    username: 'Alice',
    content: 'Hello',
    avatar: 'https://example.com/a.png',
    avatar_url: 'https://example.com/a.png',
    seq: 1
  })
  t.match(message.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, 'timestamp is ISO 8601 ending in Z')
})

t.test('a message without a profile or username is from Anonymous with no avatar', async (t) => {
  const app = await build(t)
  const res = await app.inject({ method: 'POST', url: '/rooms/r/messages', payload: { user_id: 'ghost', content: 'boo' } })
  t.match(res.json(), { username: 'Anonymous', avatar: null, avatar_url: null })
})

t.test('the body username applies to that message, not the profile', async (t) => {
  const app = await build(t)
  await app.inject({ method: 'POST', url: '/rooms/r/join', payload: { user_id: 'u1', username: 'Alice' } })
  const res = await app.inject({ method: 'POST', url: '/rooms/r/messages', payload: { user_id: 'u1', username: 'Al', content: 'hi' } })
  t.equal(res.json().username, 'Al')
  t.match(await app.store.getProfile('r', 'u1'), { username: 'Alice' })
})

t.test('history is the newest N, oldest first, with seq increasing', async (t) => {
  const app = await build(t)
  for (let i = 1; i <= 5; i++) {
    await app.inject({ method: 'POST', url: '/rooms/r/messages', payload: { user_id: 'u1', content: `m${i}` } })
  }
  const res = await app.inject('/rooms/r/messages?limit=3')
  t.equal(res.statusCode, 200)
  t.same(res.json().map((m: any) => [m.seq, m.content]), [[3, 'm3'], [4, 'm4'], [5, 'm5']])
})

t.test('history defaults to 100 and clamps a limit past the cap', async (t) => {
  const app = await build(t, { historyMaxLimit: 120 })
  for (let i = 0; i < 130; i++) await app.store.append({ roomId: 'r', userId: 'u', username: 'U', avatar: null, content: `m${i}` })
  t.equal((await app.inject('/rooms/r/messages')).json().length, 100)
  t.equal((await app.inject('/rooms/r/messages?limit=100000')).json().length, 120)
})

t.test('reading an unknown room answers [] and creates nothing', async (t) => {
  const app = await build(t)
  const res = await app.inject('/rooms/never-seen/messages?limit=100')
  t.equal(res.statusCode, 200)
  t.same(res.json(), [])
  t.same(await app.store.latest('never-seen', 10), [])
  t.equal(await app.store.getProfile('never-seen', 'x'), undefined)
})

t.test('an avatar missing at write time is filled from the profile when read', async (t) => {
  const app = await build(t)
  await app.inject({ method: 'POST', url: '/rooms/r/messages', payload: { user_id: 'u1', content: 'before join' } })
  await app.inject({ method: 'POST', url: '/rooms/r/join', payload: { user_id: 'u1', avatar_url: 'https://example.com/late.png' } })
  const [message] = (await app.inject('/rooms/r/messages')).json()
  t.equal(message.avatar, 'https://example.com/late.png')
  t.equal(message.avatar_url, 'https://example.com/late.png')
})

t.test('bad input gets 4xx with {error, message} and stores nothing', async (t) => {
  const app = await build(t, { maxContentLength: 10 })
  const cases: Array<[string, object, number]> = [
    ['missing user_id', { method: 'POST', url: '/rooms/r/messages', payload: { content: 'x' } }, 400],
    ['numeric user_id', { method: 'POST', url: '/rooms/r/messages', payload: { user_id: 1, content: 'x' } }, 400],
    ['missing content', { method: 'POST', url: '/rooms/r/messages', payload: { user_id: 'u' } }, 400],
    ['object content', { method: 'POST', url: '/rooms/r/messages', payload: { user_id: 'u', content: { a: 1 } } }, 400],
    ['empty content', { method: 'POST', url: '/rooms/r/messages', payload: { user_id: 'u', content: '' } }, 400],
    ['blank content', { method: 'POST', url: '/rooms/r/messages', payload: { user_id: 'u', content: '   ' } }, 400],
    ['oversized content', { method: 'POST', url: '/rooms/r/messages', payload: { user_id: 'u', content: 'x'.repeat(11) } }, 400],
    ['malformed JSON', { method: 'POST', url: '/rooms/r/messages', headers: json, payload: '{"user_id":' }, 400],
    ['a JSON array', { method: 'POST', url: '/rooms/r/messages', headers: json, payload: '[1,2]' }, 400],
    ['text body', { method: 'POST', url: '/rooms/r/messages', headers: { 'content-type': 'text/plain' }, payload: 'hi' }, 400],
    ['an unknown content type', { method: 'POST', url: '/rooms/r/messages', headers: { 'content-type': 'application/xml' }, payload: '<a/>' }, 415],
    ['oversized body', { method: 'POST', url: '/rooms/r/messages', headers: json, payload: JSON.stringify({ user_id: 'u', content: 'x'.repeat(70_000) }) }, 413],
    ['join without user_id', { method: 'POST', url: '/rooms/r/join', payload: { username: 'A' } }, 400],
    ['join with a javascript: avatar', { method: 'POST', url: '/rooms/r/join', payload: { user_id: 'u', avatar_url: 'javascript:alert(1)' } }, 400],
    ['join with a 65-character username', { method: 'POST', url: '/rooms/r/join', payload: { user_id: 'u', username: 'x'.repeat(65) } }, 400],
    ['join with a 129-character user id', { method: 'POST', url: '/rooms/r/join', payload: { user_id: 'x'.repeat(129) } }, 400],
    ['join with a control character in the id', { method: 'POST', url: '/rooms/r/join', payload: { user_id: 'a\u0000b' } }, 400],
    ['a 129-character room id', { method: 'POST', url: `/rooms/${'r'.repeat(129)}/messages`, payload: { user_id: 'u', content: 'x' } }, 400],
    ['limit=0', { method: 'GET', url: '/rooms/r/messages?limit=0' }, 400],
    ['limit=abc', { method: 'GET', url: '/rooms/r/messages?limit=abc' }, 400],
    ['an unknown route', { method: 'GET', url: '/nope' }, 404]
  ]
  for (const [name, request, status] of cases) {
    const res = await app.inject(request as any)
    t.equal(res.statusCode, status, `${name}: status`)
    t.match(res.json(), { error: String, message: String }, `${name}: error body`)
    t.notMatch(res.body, /at .*\.(ts|js):\d+/, `${name}: no stack trace`)
  }
  t.same(await app.store.latest('r', 100), [], 'nothing stored')
  t.equal(await app.store.getProfile('r', 'u'), undefined, 'no profile stored')
})

t.test('CORS echoes an allowed origin with credentials and never *', async (t) => {
  const app = await build(t, { corsOrigins: ['https://app.example.com'], corsOriginPattern: /^https:\/\/[a-z0-9-]+\.vercel\.app$/ })
  const preflight = await app.inject({
    method: 'OPTIONS',
    url: '/rooms/r/join',
    headers: { origin: 'https://app.example.com', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' }
  })
  t.equal(preflight.statusCode, 204)
  t.equal(preflight.headers['access-control-allow-origin'], 'https://app.example.com')
  t.equal(preflight.headers['access-control-allow-credentials'], 'true')
  t.match(preflight.headers['access-control-allow-methods'], /POST/)

  const preview = await app.inject({ url: '/', headers: { origin: 'https://my-branch.vercel.app' } })
  t.equal(preview.headers['access-control-allow-origin'], 'https://my-branch.vercel.app')

  const foreign = await app.inject({ url: '/', headers: { origin: 'https://evil.example.com' } })
  t.equal(foreign.headers['access-control-allow-origin'], undefined)
  const suffix = await app.inject({ url: '/', headers: { origin: 'https://x.vercel.app.evil.com' } })
  t.equal(suffix.headers['access-control-allow-origin'], undefined)
})
