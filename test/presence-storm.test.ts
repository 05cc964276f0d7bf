import t from 'tap'
import type { Test } from 'tap'
import { createInProcessBroker } from '../src/fanout/broker'
import { createConnectionRegistry, type Connection } from '../src/fanout/connection-registry'
import { textFrame, textFrames } from '../src/socket/ws-internals'
import { connect, listen, until } from './helper'

type Recorded = Connection & { sent: Buffer[] }

function connection (id: string, userId = `user-of-${id}`): Recorded {
  const sent: Buffer[] = []
  return { id, roomId: 'r', userId, address: '127.0.0.1', sent, send: (data) => { sent.push(data) }, close: () => {} }
}

function coalescing (t: Test) {
  const broker = createInProcessBroker()
  t.teardown(() => broker.close())
  return { broker, registry: createConnectionRegistry({ broker, encode: textFrame, coalesce: true }) }
}

const presence = (user: string, except?: string) => ({ data: JSON.stringify({ type: 'user_joined', user_id: user }), except, coalesce: true })
const turn = () => new Promise((resolve) => setImmediate(resolve))

t.test('a burst of presence frames reaches each socket in one write, less its own', async (t) => {
  const { broker, registry } = coalescing(t)
  const a = connection('a')
  const b = connection('b')
  await registry.add(a)
  await registry.add(b)
  for (const user of ['u1', 'u2', 'u3']) await broker.publish('r', presence(user))
  await broker.publish('r', presence('user-of-a', 'a'))
  await turn()
  t.equal(a.sent.length, 1, 'one write')
  t.equal(b.sent.length, 1, 'one write')
  t.same(a.sent[0], textFrames(['u1', 'u2', 'u3'].map((u) => JSON.stringify({ type: 'user_joined', user_id: u }))))
  t.same(b.sent[0], textFrames(['u1', 'u2', 'u3', 'user-of-a'].map((u) => JSON.stringify({ type: 'user_joined', user_id: u }))))
})

t.test('a chat message sends what presence is pending first; a socket added mid-burst gets only later frames', async (t) => {
  const { broker, registry } = coalescing(t)
  const a = connection('a')
  await registry.add(a)
  await broker.publish('r', presence('u1'))
  const late = connection('late')
  await registry.add(late)
  await broker.publish('r', presence('u2'))
  await broker.publish('r', { data: '{"type":"message","seq":1}', seq: 1 })
  t.same(a.sent, [textFrames(['{"type":"user_joined","user_id":"u1"}', '{"type":"user_joined","user_id":"u2"}']), textFrame('{"type":"message","seq":1}')])
  t.same(late.sent, [textFrame('{"type":"user_joined","user_id":"u2"}'), textFrame('{"type":"message","seq":1}')])
  await turn()
  t.equal(a.sent.length, 2, 'nothing sent twice')
})

t.test('textFrames is textFrame of each text, for every header size', async (t) => {
  const texts = ['', 'x', 'é'.repeat(100), 'y'.repeat(70_000), '{"a":1}']
  t.same(textFrames(texts), Buffer.concat(texts.map(textFrame)))
})

t.test('when many sockets join a room at once, each sees every other user as its own user_joined frame', async (t) => {
  const { app, wsBase } = await listen(t)
  const n = 30
  const clients = await Promise.all(Array.from({ length: n }, (_, i) => connect(t, `${wsBase}/ws/storm/u${i}?username=User${i}`)))
  await until(() => app.registry.socketsOf('storm', `u${n - 1}`) === 1)
  for (const [i, client] of clients.entries()) {
    const others = new Set(Array.from({ length: n }, (_, j) => `u${j}`).filter((u) => u !== `u${i}`))
    await until(() => others.size === new Set(client.frames.filter((f) => f.type === 'user_joined').map((f) => f.user_id)).size, 5000)
    const joined = client.frames.filter((f) => f.type === 'user_joined')
    t.same(new Set(joined.map((f) => f.user_id)), others, `u${i} saw everyone else`)
    // The fields both client versions read, on every frame.
    for (const f of joined) t.match(f, { room_id: 'storm', user_id: /^u\d+$/, username: /^User\d+$/, avatar_url: null, online_count: Number, timestamp: /Z$/ })
    t.equal(client.binaryFrames, 0)
  }
})

t.test('a shutdown announces no user_left: every socket is closing with 1012', async (t) => {
  const { app, wsBase } = await listen(t)
  const alice = await connect(t, `${wsBase}/ws/r/alice?username=Alice`)
  const bob = await connect(t, `${wsBase}/ws/r/bob?username=Bob`)
  await alice.ofType('user_joined')
  const published: string[] = []
  const publish = app.broker.publish.bind(app.broker)
  app.broker.publish = async (roomId, envelope) => {
    published.push(envelope.data)
    return publish(roomId, envelope)
  }
  await app.close()
  t.equal((await bob.closed).code, 1012)
  t.same(published.filter((d) => d.includes('user_left')), [])
})

t.test('a snapshot larger than a small byte budget reaches a new socket whole, never cut', async (t) => {
  const { app, wsBase } = await listen(t, { maxBufferedBytes: 16_384, maxSocketsPerIp: 1000 })
  // About 200 bytes a frame: the snapshot is larger than the whole budget.
  const n = 100
  const name = (i: number) => `User${i}-${'x'.repeat(30)}`
  await Promise.all(Array.from({ length: n }, (_, i) => connect(t, `${wsBase}/ws/big/u${i}?username=${name(i)}`)))
  await until(async () => (await app.presence.online('big')).length === n)
  const late = await connect(t, `${wsBase}/ws/big/late?username=Late`)
  await until(() => late.frames.filter((f) => f.snapshot === true).length === n, 5000)
  const snapshot = late.frames.filter((f) => f.snapshot === true)
  t.ok(snapshot.reduce((sum, f) => sum + JSON.stringify(f).length, 0) > 16_384)
  t.same(snapshot.map((f) => f.username).sort(), Array.from({ length: n }, (_, i) => name(i)).sort())
  await late.settle()
  t.equal(late.socket.readyState, late.socket.OPEN, 'not cut as a slow consumer')
})
