import t from 'tap'
import type { Test } from 'tap'
import { createInProcessBroker, type Broker } from '../src/fanout/broker'
import { createConnectionRegistry, type Connection } from '../src/fanout/connection-registry'

/** The real in-process broker, counting the registry's calls into it. */
function countingBroker () {
  const inner = createInProcessBroker()
  const calls = { subscribe: [] as string[], unsubscribe: [] as string[] }
  const broker: Broker = {
    publish: (roomId, envelope) => inner.publish(roomId, envelope),
    subscribe: (roomId, listener) => {
      calls.subscribe.push(roomId)
      return inner.subscribe(roomId, listener)
    },
    unsubscribe: (roomId, listener) => {
      calls.unsubscribe.push(roomId)
      return inner.unsubscribe(roomId, listener)
    },
    ping: () => inner.ping(),
    close: () => inner.close()
  }
  return { broker, calls }
}

type Recorded = Connection & { sent: Buffer[] }

function connection (id: string, roomId = 'room-1', userId = `user-of-${id}`): Recorded {
  const sent: Buffer[] = []
  return { id, roomId, userId, address: '127.0.0.1', sent, send: (data) => { sent.push(data) }, close: () => {} }
}

function setup (t: Test) {
  const { broker, calls } = countingBroker()
  t.teardown(() => broker.close())
  return { broker, calls, registry: createConnectionRegistry({ broker }) }
}

const texts = (c: Recorded) => c.sent.map((data) => data.toString('utf8'))

t.test('the first connection in a room subscribes it; later ones do not', async (t) => {
  const { registry, calls } = setup(t)
  await registry.add(connection('a'))
  await registry.add(connection('b'))
  await registry.add(connection('c'))
  t.same(calls.subscribe, ['room-1'])
  t.equal(registry.roomCount, 1)
  t.equal(registry.connectionCount, 3)
})

t.test('connections added at the same time subscribe the room once', async (t) => {
  const { registry, calls } = setup(t)
  await Promise.all([registry.add(connection('a')), registry.add(connection('b'))])
  t.same(calls.subscribe, ['room-1'])
  t.equal(registry.connectionCount, 2)
})

t.test('each room gets its own subscription', async (t) => {
  const { registry, calls } = setup(t)
  await registry.add(connection('a', 'room-1'))
  await registry.add(connection('b', 'room-2'))
  await registry.add(connection('c', 'room-2'))
  t.same(calls.subscribe, ['room-1', 'room-2'])
  t.equal(registry.roomCount, 2)
  t.equal(registry.connectionCount, 3)
})

t.test('a broadcast reaches every local connection in the room', async (t) => {
  const { registry, broker } = setup(t)
  const all = [connection('a'), connection('b'), connection('c')]
  for (const c of all) await registry.add(c)
  await broker.publish('room-1', { data: '{"type":"message"}' })
  for (const c of all) t.same(texts(c), ['{"type":"message"}'], c.id)
})

t.test('a broadcast skips the except connection only', async (t) => {
  const { registry, broker } = setup(t)
  const [a, b, c] = [connection('a'), connection('b'), connection('c')]
  for (const conn of [a, b, c]) await registry.add(conn)
  await broker.publish('room-1', { data: 'typing', except: 'b' })
  t.same(texts(a), ['typing'])
  t.same(texts(b), [])
  t.same(texts(c), ['typing'])
})

t.test('except skips by connection id, not by user', async (t) => {
  const { registry, broker } = setup(t)
  const first = connection('tab-1', 'room-1', 'user-1')
  const second = connection('tab-2', 'room-1', 'user-1')
  await registry.add(first)
  await registry.add(second)
  await broker.publish('room-1', { data: 'typing', except: 'tab-1' })
  t.same(texts(first), [])
  t.same(texts(second), ['typing'], "the same user's other tab still hears it")
  await broker.publish('room-1', { data: 'other', except: 'user-1' })
  t.same(texts(first), ['other'], 'a user id in except skips nobody')
  t.same(texts(second), ['typing', 'other'])
})

t.test('every connection is handed the same Buffer instance', async (t) => {
  const { registry, broker } = setup(t)
  const all = [connection('a'), connection('b'), connection('c')]
  for (const c of all) await registry.add(c)
  await broker.publish('room-1', { data: 'once' })
  t.ok(Buffer.isBuffer(all[0].sent[0]), 'a Buffer')
  t.equal(all[1].sent[0], all[0].sent[0], 'b got the very same Buffer as a')
  t.equal(all[2].sent[0], all[0].sent[0], 'c got the very same Buffer as a')
})

t.test('the Buffer holds the envelope data as UTF-8', async (t) => {
  const { registry, broker } = setup(t)
  const a = connection('a')
  await registry.add(a)
  const data = JSON.stringify({ content: 'héllo 🎉' })
  await broker.publish('room-1', { data })
  t.same(a.sent, [Buffer.from(data, 'utf8')])
})

t.test("a broadcast does not reach another room's connections", async (t) => {
  const { registry, broker } = setup(t)
  const here = connection('a', 'room-1')
  const there = connection('b', 'room-2')
  await registry.add(here)
  await registry.add(there)
  await broker.publish('room-1', { data: 'for room 1' })
  t.same(texts(here), ['for room 1'])
  t.same(texts(there), [])
})

t.test('a removed connection gets no more broadcasts; the others still do', async (t) => {
  const { registry, broker, calls } = setup(t)
  const [a, b] = [connection('a'), connection('b')]
  await registry.add(a)
  await registry.add(b)
  await registry.remove(a)
  t.same(calls.unsubscribe, [], 'the room still has a connection')
  await broker.publish('room-1', { data: 'after' })
  t.same(texts(a), [])
  t.same(texts(b), ['after'])
  t.same([...registry.connections('room-1')].map((c) => c.id), ['b'])
})

t.test('removing the last connection unsubscribes the room and leaves nothing behind', async (t) => {
  const { registry, broker, calls } = setup(t)
  const [a, b] = [connection('a'), connection('b')]
  await registry.add(a)
  await registry.add(b)
  await registry.remove(a)
  await registry.remove(b)
  t.same(calls.unsubscribe, ['room-1'])
  t.equal(registry.roomCount, 0)
  t.equal(registry.connectionCount, 0)
  t.equal(registry.connections('room-1').size, 0)
  await broker.publish('room-1', { data: 'after' })
  t.same(texts(a), [])
  t.same(texts(b), [])
})

t.test('removing a connection twice is harmless', async (t) => {
  const { registry, calls } = setup(t)
  const [a, b] = [connection('a'), connection('b')]
  await registry.add(a)
  await registry.add(b)
  await registry.remove(a)
  await t.resolves(registry.remove(a))
  t.equal(registry.connectionCount, 1, 'the other connection is still there')
  await registry.remove(b)
  await t.resolves(registry.remove(b))
  t.same(calls.unsubscribe, ['room-1'], 'unsubscribed exactly once')
  t.equal(registry.roomCount, 0)
  t.equal(registry.connectionCount, 0)
})

t.test('removing a connection that was never added is harmless', async (t) => {
  const { registry, calls } = setup(t)
  const a = connection('a')
  await registry.add(a)
  await t.resolves(registry.remove(connection('stranger', 'room-1')))
  await t.resolves(registry.remove(connection('stranger', 'elsewhere')))
  t.same(calls.unsubscribe, [])
  t.equal(registry.connectionCount, 1)
})

t.test('a room emptied and entered again subscribes again and delivers', async (t) => {
  const { registry, broker, calls } = setup(t)
  const a = connection('a')
  await registry.add(a)
  await registry.remove(a)
  const b = connection('b')
  await registry.add(b)
  t.same(calls.subscribe, ['room-1', 'room-1'])
  await broker.publish('room-1', { data: 'hello again' })
  t.same(texts(b), ['hello again'])
  t.same(texts(a), [])
  t.equal(registry.roomCount, 1)
})

t.test('connections(room) lists the local connections of that room', async (t) => {
  const { registry } = setup(t)
  const [a, b, c] = [connection('a', 'room-1'), connection('b', 'room-1'), connection('c', 'room-2')]
  for (const conn of [a, b, c]) await registry.add(conn)
  t.same([...registry.connections('room-1')].map((conn) => conn.id).sort(), ['a', 'b'])
  t.same([...registry.connections('room-2')].map((conn) => conn.id), ['c'])
  t.equal(registry.connections('unknown').size, 0)
})

t.test('a second socket waits for the room subscription still under way', async (t) => {
  const inner = createInProcessBroker()
  let release!: () => void
  const gate = new Promise<void>((resolve) => { release = resolve })
  const broker: Broker = { ...inner, subscribe: async (roomId, listener) => { await gate; return inner.subscribe(roomId, listener) } }
  const registry = createConnectionRegistry({ broker })
  let secondReady = false
  const first = registry.add(connection('a'))
  const second = registry.add(connection('b')).then(() => { secondReady = true })
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(secondReady, false, 'not ready before the subscription')
  release()
  await Promise.all([first, second])
  t.equal(secondReady, true)
})

t.test('a failed subscription leaves no half-registered room behind', async (t) => {
  const inner = createInProcessBroker()
  const broker: Broker = { ...inner, subscribe: async () => { throw new Error('broker down') } }
  const registry = createConnectionRegistry({ broker })
  await t.rejects(registry.add(connection('a')), /broker down/)
  t.equal(registry.roomCount, 0)
  t.equal(registry.connectionCount, 0)
})

t.test('a connection whose send throws does not stop delivery to the others', async (t) => {
  const broker = createInProcessBroker()
  const registry = createConnectionRegistry({ broker })
  const broken: Recorded = { ...connection('broken'), send: () => { throw new Error('socket gone') } }
  const healthy = connection('healthy')
  await registry.add(broken)
  await registry.add(healthy)
  await broker.publish('room-1', { data: 'hello' })
  t.same(healthy.sent.map(String), ['hello'])
})

/** A room with a socket ('other') and one whose snapshot is still to be read ('late'). */
async function withLateReader (t: Test, coalesce: boolean) {
  const { broker } = countingBroker()
  t.teardown(() => broker.close())
  const registry = createConnectionRegistry({ broker, coalesce })
  const other = connection('other')
  const late = connection('late')
  await registry.add(other)
  await registry.add(late, true)
  return { broker, registry, other, late }
}

t.test('a presence read watches the room: the changes from the read on, in order, until the watch ends', async (t) => {
  for (const coalesce of [true, false]) {
    const { broker, registry, other, late } = await withLateReader(t, coalesce)
    const frame = (type: string, userId: string) => JSON.stringify({ type, room_id: 'room-1', user_id: userId, username: userId.toUpperCase(), avatar: null, avatar_url: null, online_count: 1 })
    const joined = (userId: string) => ({ userId, joined: true, member: { user_id: userId, username: userId.toUpperCase(), avatar: null, avatar_url: null } })
    const presence = (type: string, userId: string) => broker.publish('room-1', { data: frame(type, userId), coalesce: true })
    await presence('user_joined', 'before')
    const watch = registry.presenceRead(late)
    await presence('user_joined', 'b')
    await broker.publish('room-1', { data: 'chat' })
    await presence('user_left', 'a')
    const second = registry.presenceRead(other)
    await presence('user_joined', 'c')
    t.same(watch.changes(), [joined('b'), { userId: 'a', joined: false }, joined('c')], `coalesce ${coalesce}: from its read on, chat frames aside, each join with its name and avatar`)
    t.same(second.changes(), [joined('c')], `coalesce ${coalesce}: each watch from its own read`)
    t.same(watch.changes(2), [joined('c')], `coalesce ${coalesce}: less the ones a caller has`)
    await broker.publish('room-1', { data: 'not a presence frame', coalesce: true })
    t.equal(watch.changes(), undefined, `coalesce ${coalesce}: a frame not understood makes the changes unknown`)
    watch.end()
    watch.end()
    t.same(watch.changes(), [], `coalesce ${coalesce}: an ended watch hears nothing`)
    t.equal(second.changes(), undefined, `coalesce ${coalesce}: still unknown while another watch runs`)
    second.end()
    const third = registry.presenceRead(late)
    await presence('user_left', 'b')
    t.same(third.changes(), [{ userId: 'b', joined: false }], `coalesce ${coalesce}: known again once every watch ended`)
    third.end()
    await registry.remove(late)
    t.same(registry.presenceRead(late).changes(), [], `coalesce ${coalesce}: a socket already gone`)
  }
})

t.test('a socket that reads its snapshot later gets no presence frame before its read, and every one after; other frames always', async (t) => {
  for (const coalesce of [true, false]) {
    const { broker, registry, other, late } = await withLateReader(t, coalesce)
    const settle = () => new Promise((resolve) => setTimeout(resolve, 20))
    await broker.publish('room-1', { data: 'joined-before-read', coalesce: true })
    await broker.publish('room-1', { data: 'chat' })
    await settle()
    registry.presenceRead(late)
    registry.presenceRead(late)
    await broker.publish('room-1', { data: 'joined-after-read', coalesce: true })
    // A chat frame sends what is pending first (the window would hold it for a second).
    await broker.publish('room-1', { data: 'chat-2' })
    await settle()
    t.same(texts(late), ['chat', 'joined-after-read', 'chat-2'], `coalesce ${coalesce}: the read covers what came before it`)
    t.same(texts(other).join(''), 'joined-before-readchatjoined-after-readchat-2', `coalesce ${coalesce}: the others get all`)
    await registry.remove(late)
    registry.presenceRead(late)
    t.equal(registry.connectionCount, 1)
  }
})
