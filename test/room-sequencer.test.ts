import t from 'tap'
import type { Envelope } from '../src/fanout/broker'
import type { Message } from '../src/schemas/http'
import { createRoomSequencer } from '../src/fanout/room-sequencer'
import { createSqliteStore } from '../src/store/sqlite-store'
import { until } from './helper'

async function setup (t: { teardown (fn: () => unknown): void }, stored = 0) {
  const store = createSqliteStore({ filename: ':memory:' })
  t.teardown(() => store.close())
  const messages = []
  for (let i = 0; i < stored; i++) messages.push(await store.append({ roomId: 'r', userId: 'u', username: 'U', avatar: null, content: `m${i + 1}` }))
  const delivered: Envelope[] = []
  const errors: unknown[] = []
  const sequencer = createRoomSequencer({ roomId: 'r', history: store, deliver: (e) => delivered.push(e), onError: (e) => errors.push(e) })
  t.teardown(() => sequencer.close())
  await sequencer.start()
  const seqs = () => delivered.map((e) => e.seq)
  return { store, sequencer, delivered, seqs, errors }
}

const envelope = (seq: number): Envelope => ({ data: `{"seq":${seq}}`, seq })

t.test('messages published out of order are delivered in seq order', async (t) => {
  const { sequencer, seqs } = await setup(t)
  for (const seq of [2, 3, 1, 5, 4]) sequencer.push(envelope(seq))
  t.same(seqs(), [1, 2, 3, 4, 5])
})

t.test('a message delivered twice reaches the room once', async (t) => {
  const { sequencer, seqs } = await setup(t)
  for (const seq of [1, 2, 2, 1, 3]) sequencer.push(envelope(seq))
  t.same(seqs(), [1, 2, 3])
})

t.test('messages stored before the room was watched are history, not live', async (t) => {
  const { sequencer, seqs } = await setup(t, 3)
  sequencer.push(envelope(3))
  sequencer.push(envelope(4))
  t.same(seqs(), [4])
})

t.test('a publish that never arrives is read from the store', async (t) => {
  const { store, sequencer, delivered, seqs } = await setup(t)
  for (let i = 1; i <= 3; i++) {
    const message = await store.append({ roomId: 'r', userId: 'u', username: 'U', avatar: null, content: `m${i}` })
    if (i !== 2) sequencer.push({ data: JSON.stringify(message), seq: message.seq })
  }
  t.same(seqs(), [1], 'seq 3 waits for seq 2')
  await until(() => delivered.length === 3, 3000)
  t.same(seqs(), [1, 2, 3])
  t.match(JSON.parse(delivered[1].data), { content: 'm2', seq: 2 })
})

t.test('frames without a seq pass straight through', async (t) => {
  const { sequencer, delivered } = await setup(t)
  sequencer.push(envelope(2))
  sequencer.push({ data: 'typing' })
  t.same(delivered.map((e) => e.data), ['typing'])
})

t.test('messages that arrive while the start is still being read are live and delivered', async (t) => {
  const store = createSqliteStore({ filename: ':memory:' })
  t.teardown(() => store.close())
  let release!: () => void
  const gate = new Promise<void>((resolve) => { release = resolve })
  // The start is read slowly (a busy database): meanwhile seq 1 and 2 are stored and arrive.
  const slow = { page: store.page, lastSeq: async (roomId: string) => { await gate; return store.lastSeq(roomId) } }
  const delivered: Envelope[] = []
  const sequencer = createRoomSequencer({ roomId: 'r', history: slow, deliver: (e) => delivered.push(e), onError: () => {} })
  t.teardown(() => sequencer.close())
  const starting = sequencer.start()
  for (let i = 1; i <= 2; i++) {
    const message = await store.append({ roomId: 'r', userId: 'u', username: 'U', avatar: null, content: `m${i}` })
    sequencer.push({ data: JSON.stringify(message), seq: message.seq })
  }
  release()
  await starting
  t.same(delivered.map((e) => e.seq), [1, 2])
})

t.test('a lost publish with nothing after it still arrives, read from the store', async (t) => {
  const { store, sequencer, delivered, seqs } = await setup(t)
  const first = await store.append({ roomId: 'r', userId: 'u', username: 'U', avatar: null, content: 'm1' })
  sequencer.push({ data: JSON.stringify(first), seq: first.seq })
  // m2 is stored but its publish never comes (Redis was away, the publisher died).
  await store.append({ roomId: 'r', userId: 'u', username: 'U', avatar: null, content: 'm2' })
  await until(() => delivered.length === 2, 3000)
  t.same(seqs(), [1, 2])
})

t.test('a second gap after a first one is filled too', async (t) => {
  const { store, sequencer, delivered, seqs } = await setup(t)
  const messages: Message[] = []
  for (let i = 1; i <= 6; i++) messages.push(await store.append({ roomId: 'r', userId: 'u', username: 'U', avatar: null, content: `m${i}` }))
  const push = (i: number) => sequencer.push({ data: JSON.stringify(messages[i - 1]), seq: i })
  push(1); push(3) // 2 is late
  push(2) // arrives: the first gap closes before its timer fires
  push(5) // 4 never comes
  await until(() => delivered.length >= 5, 3000)
  push(6)
  t.same(seqs(), [1, 2, 3, 4, 5, 6])
})

t.test('a lost publish in a room that was quiet since its start still arrives', async (t) => {
  const { store, delivered, seqs } = await setup(t)
  // Nothing was delivered yet: only the room's start armed a check.
  await new Promise((resolve) => setTimeout(resolve, 1200))
  await store.append({ roomId: 'r', userId: 'u', username: 'U', avatar: null, content: 'late and lost' })
  await until(() => delivered.length === 1, 4000)
  t.same(seqs(), [1])
})
