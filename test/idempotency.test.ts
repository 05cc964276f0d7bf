import t from 'tap'
import { build, connect, listen } from './helper'

t.test('a REST retry with the same client_id returns the stored message and stores nothing new', async (t) => {
  const app = await build(t)
  const post = () => app.inject({ method: 'POST', url: '/rooms/r/messages', payload: { user_id: 'u', content: 'once', client_id: 'c-1' } })
  const first = (await post()).json()
  const retry = (await post()).json()
  t.match(first, { client_id: 'c-1', seq: 1 })
  t.same(retry, first)
  t.equal((await app.store.latest('r', 10)).length, 1)
})

t.test('an Idempotency-Key header works like client_id', async (t) => {
  const app = await build(t)
  const post = () => app.inject({
    method: 'POST',
    url: '/rooms/r/messages',
    headers: { 'idempotency-key': 'key-7' },
    payload: { user_id: 'u', content: 'keyed' }
  })
  const [a, b] = await Promise.all([post(), post()])
  t.same(a.json(), b.json())
  t.equal(a.json().client_id, 'key-7')
  t.equal((await app.store.latest('r', 10)).length, 1)
})

t.test('the same client_id from another user or room is another message', async (t) => {
  const app = await build(t)
  const post = (room: string, user: string) =>
    app.inject({ method: 'POST', url: `/rooms/${room}/messages`, payload: { user_id: user, content: 'x', client_id: 'same' } })
  const ids = new Set([(await post('r', 'a')).json().id, (await post('r', 'b')).json().id, (await post('s', 'a')).json().id])
  t.equal(ids.size, 3)
})

t.test('a socket retry is stored once, broadcast once, and answered to the sender with the stored message', async (t) => {
  const { app, wsBase } = await listen(t)
  const alice = await connect(t, `${wsBase}/ws/r/alice`)
  const bob = await connect(t, `${wsBase}/ws/r/bob`)
  alice.send({ content: 'hello', client_id: 'opt-1' })
  const echo = await alice.next((f) => f.type === 'message')
  t.equal(echo.client_id, 'opt-1', 'the broadcast carries client_id')
  alice.send({ content: 'hello', client_id: 'opt-1' })
  const answer = await alice.next((f) => f.type === 'message')
  t.same(answer, echo, 'the retry answers the same message')
  await alice.settle()
  await bob.settle()
  t.equal(bob.frames.filter((f) => f.type === 'message').length, 1, 'the room saw it once')
  t.equal((await app.store.latest('r', 10)).length, 1)
})

t.test('a retry over REST of a message first sent on the socket is the same message', async (t) => {
  const { app, wsBase } = await listen(t)
  const alice = await connect(t, `${wsBase}/ws/r/alice`)
  alice.send({ content: 'via socket', client_id: 'cross-1' })
  const echo = await alice.next((f) => f.type === 'message')
  const res = await app.inject({ method: 'POST', url: '/rooms/r/messages', payload: { user_id: 'alice', content: 'via socket', client_id: 'cross-1' } })
  t.same(res.json(), echo)
})

t.test('a bad client_id is refused', async (t) => {
  const { app, wsBase } = await listen(t)
  const res = await app.inject({ method: 'POST', url: '/rooms/r/messages', payload: { user_id: 'u', content: 'x', client_id: 'x'.repeat(200) } })
  t.equal(res.statusCode, 400)
  const socket = await connect(t, `${wsBase}/ws/r/u`)
  socket.send({ content: 'x', client_id: 42 })
  t.match(await socket.ofType('error'), { code: 'invalid_frame', message: /client_id/ })
  t.same(await app.store.latest('r', 10), [])
})
