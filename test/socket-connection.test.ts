import t from 'tap'
import { once } from 'node:events'
import WebSocket, { WebSocketServer } from 'ws'
import { createSocketConnection } from '../src/socket/connection'
import { textFrame } from '../src/socket/ws-internals'

/** A real server-side ws socket on loopback, wrapped as Parley wraps it, and its client. */
async function pair (t: Tap) {
  const server = new WebSocketServer({ port: 0, host: '127.0.0.1' })
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  await once(server, 'listening')
  const { port } = server.address() as { port: number }
  const client = new WebSocket(`ws://127.0.0.1:${port}`)
  const received: number[] = []
  client.on('message', (data) => received.push(JSON.parse(data.toString()).seq))
  const [socket] = await once(server, 'connection') as [WebSocket]
  await once(client, 'open')
  t.teardown(() => client.terminate())
  const duplicates: Array<[number, number]> = []
  const connection = createSocketConnection({
    socket, id: 'c1', roomId: 'r', userId: 'u', address: '127.0.0.1', maxBufferedBytes: 1 << 20, drainTimeoutMs: 1000,
    limits: { wsFrameRate: 30, wsFrameBurst: 60, wsAbuseLimit: 30 },
    onAbuse: () => t.fail('no pings'),
    onSlow: () => t.fail('not slow'),
    onDuplicate: (seq, lastSent) => duplicates.push([seq, lastSent])
  })
  const send = (seq: number) => connection.send(textFrame(JSON.stringify({ type: 'message', seq })), seq)
  const settle = async (count: number) => { while (received.length < count) await new Promise((resolve) => setTimeout(resolve, 5)) }
  return { connection, send, received, duplicates, settle }
}
type Tap = { teardown (fn: () => unknown): void, fail (message: string): void }

t.test('the last hop sends chat seqs strictly increasing: a repeat or an older seq is refused and reported', async (t) => {
  const { send, received, duplicates, settle } = await pair(t)
  for (const seq of [1, 2, 2, 3, 1, 5, 4, 6]) send(seq)
  await settle(5)
  await new Promise((resolve) => setTimeout(resolve, 50))
  t.same(received, [1, 2, 3, 5, 6])
  t.same(duplicates, [[2, 2], [1, 3], [4, 5]])
})

t.test('after a replay through seq N, a late publish at or below N is dropped quietly; later ones go out', async (t) => {
  const { connection, send, received, duplicates, settle } = await pair(t)
  connection.hold()
  send(3) // held: the replay read it too
  send(5) // held, past the replay
  connection.release(4)
  send(4) // its publish arrived after the release: the replay had it
  send(2)
  send(6)
  await settle(2)
  await new Promise((resolve) => setTimeout(resolve, 50))
  t.same(received, [5, 6])
  t.same(duplicates, [], 'nothing the replay covered counts as a duplicate')
})

t.test('frames without a seq (typing, presence) are never refused', async (t) => {
  const { connection, received, duplicates } = await pair(t)
  connection.send(textFrame(JSON.stringify({ type: 'typing_start' })))
  connection.send(textFrame(JSON.stringify({ type: 'typing_stop' })))
  await new Promise((resolve) => setTimeout(resolve, 50))
  t.equal(received.length, 2)
  t.same(duplicates, [])
})
