import t from 'tap'
import { build, connect, listen, until } from './helper'
import { snapshotFrameJson } from '../src/fanout/presence'
import type { PresenceChange } from '../src/fanout/presence-watch'
import type { Socket } from '../src/socket/handler'
import { snapshot } from '../src/socket/room-presence'

/** The app's next read of who is online waits for `release`; `early`: it reads first (then is stale), else it reads when released. */
function holdNextRead (app: { presence: { online (roomId: string): Promise<string[]> } }, early: boolean) {
  const real = app.presence.online.bind(app.presence)
  let release!: () => void
  const released = new Promise<void>((resolve) => { release = resolve })
  let entered!: () => void
  const started = new Promise<void>((resolve) => { entered = resolve })
  app.presence.online = async (roomId: string) => {
    app.presence.online = real
    const before = early ? await real(roomId) : []
    entered()
    await released
    return early ? before : real(roomId)
  }
  return { started, release }
}

const joinAlice = { method: 'POST' as const, url: '/rooms/r/join', payload: { user_id: 'alice', username: 'Alice', avatar_url: 'https://example.com/alice.png' } }

t.test('a user with two tabs joins once and leaves once', async (t) => {
  const { app, wsBase } = await listen(t)
  await app.inject(joinAlice)
  const bob = await connect(t, `${wsBase}/ws/r/bob?username=Bob`)
  const tab1 = await connect(t, `${wsBase}/ws/r/alice`)
  t.match(await bob.ofType('user_joined'), {
    type: 'user_joined', room_id: 'r', user_id: 'alice', username: 'Alice',
    avatar: 'https://example.com/alice.png', avatar_url: 'https://example.com/alice.png', online_count: 2, timestamp: /Z$/
  })
  const tab2 = await connect(t, `${wsBase}/ws/r/alice`)
  await tab2.settle()
  tab1.socket.close()
  await tab1.closed
  await until(() => app.registry.socketsOf('r', 'alice') === 1)
  await bob.settle()
  t.same(bob.frames.filter((f) => f.type.startsWith('user_')), [], 'no second join, no leave while a tab is open')
  tab2.socket.close()
  t.match(await bob.ofType('user_left'), { user_id: 'alice', username: 'Alice', online_count: 1 })
})

t.test('a user who joins while a socket registers reaches it once: live or in its snapshot, never both', async (t) => {
  const { app, wsBase } = await listen(t)
  for (let round = 0; round < 5; round++) {
    const room = `race-${round}`
    await app.inject({ ...joinAlice, url: `/rooms/${room}/join` })
    // bob is new: his registration waits for his profile's commit; alice's stored
    // profile makes hers quick, so her join lands while bob registers.
    const [bob, alice] = await Promise.all([
      connect(t, `${wsBase}/ws/${room}/bob-${round}?username=Bob`),
      connect(t, `${wsBase}/ws/${room}/alice`)
    ])
    await until(async () => (await app.presence.online(room)).length === 2)
    await alice.settle()
    await bob.settle()
    const aboutAlice = bob.frames.filter((f) => f.type === 'user_joined' && f.user_id === 'alice')
    t.equal(aboutAlice.length, 1, `round ${round}: alice reached bob once (${aboutAlice.map((f) => (f.snapshot ? 'snapshot' : 'live')).join(', ')})`)
    bob.socket.close()
    alice.socket.close()
    await Promise.all([bob.closed, alice.closed])
  }
})

t.test('a snapshot names no one the room heard of after its read: a join the read counted reaches the socket once, a leave after the read is not undone', async (t) => {
  const { app, wsBase } = await listen(t)
  const real = app.presence.online.bind(app.presence)
  const heard = (who: { frames: any[] }, type: string, userId: string) => until(() => who.frames.some((f) => f.type === type && f.user_id === userId), 5000)

  // A join: alice enters and her user_joined goes out while bob reads; the read counts her.
  const carol = await connect(t, `${wsBase}/ws/joins/carol?username=Carol`)
  await carol.settle()
  let hold = holdNextRead(app, false)
  const bob = await connect(t, `${wsBase}/ws/joins/bob?username=Bob`)
  await hold.started
  await connect(t, `${wsBase}/ws/joins/alice?username=Alice`)
  await heard(carol, 'user_joined', 'alice')
  hold.release()
  await heard(bob, 'user_joined', 'carol')
  await bob.settle()
  await new Promise((resolve) => setTimeout(resolve, 1200)) // a coalesced frame's window
  await bob.settle()
  const aboutAlice = bob.frames.filter((f) => f.type === 'user_joined' && f.user_id === 'alice')
  t.equal(aboutAlice.length, 1, `alice reached bob once (${aboutAlice.map((f) => (f.snapshot ? 'snapshot' : 'live')).join(', ')})`)

  // A leave: dave's user_left goes out while erin reads; the read, made before, still counts him.
  const dave = await connect(t, `${wsBase}/ws/leaves/dave?username=Dave`)
  const frank = await connect(t, `${wsBase}/ws/leaves/frank?username=Frank`)
  await until(async () => (await real('leaves')).length === 2)
  await frank.settle()
  hold = holdNextRead(app, true)
  const erin = await connect(t, `${wsBase}/ws/leaves/erin?username=Erin`)
  await hold.started
  dave.socket.close()
  await heard(frank, 'user_left', 'dave')
  hold.release()
  await heard(erin, 'user_joined', 'frank')
  await erin.settle()
  t.same(erin.frames.filter((f) => f.snapshot === true).map((f) => f.user_id), ['frank'], 'the snapshot names frank, not dave who had left')
})

t.test('room_state names who joined after the read: a client that takes it as the whole list keeps them', async (t) => {
  const { app, wsBase } = await listen(t)
  const carol = await connect(t, `${wsBase}/ws/late/carol?username=Carol`)
  await carol.settle()
  // Bob's read is made before alice comes, and answered after her user_joined went out.
  const hold = holdNextRead(app, true)
  const bob = await connect(t, `${wsBase}/ws/late/bob?username=Bob&presence=1`)
  await hold.started
  await connect(t, `${wsBase}/ws/late/alice?username=Alice`)
  await until(() => carol.frames.some((f) => f.type === 'user_joined' && f.user_id === 'alice'), 5000)
  hold.release()
  const state = await bob.ofType('room_state')
  t.same(state.online.map((m: any) => m.user_id).sort(), ['alice', 'bob', 'carol'])
  t.equal(state.online_count, 3)
  t.match(state.online.find((m: any) => m.user_id === 'alice'), { username: 'Alice' })
  t.same(state.users.map((u: any) => u.user_id).sort(), ['alice', 'bob', 'carol'])
})

t.test('presence=1 gets a room_state of who is online first', async (t) => {
  const { app, wsBase } = await listen(t)
  await app.inject(joinAlice)
  const alice = await connect(t, `${wsBase}/ws/r/alice`)
  await alice.settle()
  const carol = await connect(t, `${wsBase}/ws/r/carol?username=Carol&presence=1`)
  const state = await carol.ofType('room_state')
  t.equal(state.online_count, 2)
  t.same(state.online.map((m: any) => m.user_id).sort(), ['alice', 'carol'])
  t.match(state.online.find((m: any) => m.user_id === 'alice'), { username: 'Alice', avatar_url: 'https://example.com/alice.png' })
  t.equal(state.last_seq, 0)
})

t.test('without the flag no room_state is sent; EXTENDED_FRAMES sends it to every socket', async (t) => {
  const plain = await listen(t)
  const socket = await connect(t, `${plain.wsBase}/ws/r/u`)
  await socket.settle()
  t.same(socket.frames, [])
  const extended = await listen(t, { extendedFrames: true })
  const other = await connect(t, `${extended.wsBase}/ws/r/u`)
  t.match(await other.ofType('room_state'), { online_count: 1 })
})

t.test('GET /rooms/:room_id/users lists members with profiles and an online flag', async (t) => {
  const { app, wsBase } = await listen(t)
  await app.inject(joinAlice)
  await app.inject({ method: 'POST', url: '/rooms/r/join', payload: { user_id: 'dave' } })
  const alice = await connect(t, `${wsBase}/ws/r/alice`)
  await alice.settle()
  const users = (await app.inject('/rooms/r/users')).json()
  t.same(users.map((u: any) => [u.user_id, u.username, u.online]), [['alice', 'Alice', true], ['dave', 'Anonymous', false]])
  t.match(users[0], { avatar: 'https://example.com/alice.png', avatar_url: 'https://example.com/alice.png', joined_at: /Z$/ })
  t.same((await app.inject('/rooms/nowhere/users')).json(), [])
})

t.test('POST /rooms creates a named room; GET /rooms lists rooms with counts', async (t) => {
  const { app, wsBase } = await listen(t)
  const created = await app.inject({ method: 'POST', url: '/rooms', payload: { name: 'General', thumbnail_url: 'https://example.com/g.png' } })
  t.equal(created.statusCode, 200)
  const room = created.json()
  t.match(room, { id: String, name: 'General', created_at: /Z$/, thumbnail_url: 'https://example.com/g.png' })
  await app.inject({ method: 'POST', url: `/rooms/${room.id}/join`, payload: { user_id: 'alice' } })
  const socket = await connect(t, `${wsBase}/ws/${room.id}/alice`)
  socket.send({ content: 'hi' })
  await socket.ofType('message')
  await new Promise((resolve) => setTimeout(resolve, 5)) // a later millisecond: activity is ordered by time
  await app.inject({ method: 'POST', url: '/rooms/adhoc/messages', payload: { user_id: 'x', content: 'y' } })
  const list = (await app.inject('/rooms')).json()
  t.same(list.map((r: any) => r.name), ['adhoc', 'General'], 'most recently active first; an ad-hoc room is named by its id')
  t.match(list[1], { id: room.id, member_count: 1, online_count: 1, last_seq: 1, last_message_at: /Z$/, thumbnail_url: 'https://example.com/g.png' })
})

t.test('bad room bodies get 400', async (t) => {
  const app = await build(t)
  for (const payload of [{}, { name: '' }, { name: 'x'.repeat(101) }, { name: 'ok', thumbnail_url: 'ftp://x' }, { name: 5 }]) {
    const res = await app.inject({ method: 'POST', url: '/rooms', payload })
    t.equal(res.statusCode, 400, JSON.stringify(payload))
  }
  t.same((await app.inject('/rooms')).json(), [])
})

t.test('a snapshot frame is the JSON of its fields, escapes included, and follows a renamed profile', async (t) => {
  const profile = { roomId: 'r"1', userId: 'u\\1', username: 'Zoë "Z" \u2028', avatarUrl: null, joinedAt: '2026-01-01T00:00:00.000Z' }
  const expected = (name: string) => JSON.stringify({
    type: 'user_joined', room_id: 'r"1', user_id: 'u\\1', username: name, avatar: null, avatar_url: null, online_count: 3, timestamp: 'T', snapshot: true
  })
  t.equal(snapshotFrameJson('r"1', 'u\\1', profile, 3, 'T'), expected('Zoë "Z" \u2028'))
  t.equal(snapshotFrameJson('r"1', 'u\\1', profile, 3, 'T'), expected('Zoë "Z" \u2028'), 'the kept head gives the same bytes')
  t.equal(snapshotFrameJson('r"1', 'u\\1', undefined, 3, 'T'), expected('Anonymous'))

  const { app, wsBase } = await listen(t)
  await app.inject(joinAlice)
  const alice = await connect(t, `${wsBase}/ws/r/alice`)
  const bob = await connect(t, `${wsBase}/ws/r/bob?username=Bob`)
  t.match(await bob.ofType('user_joined'), { user_id: 'alice', username: 'Alice', snapshot: true })
  await app.inject({ ...joinAlice, payload: { ...joinAlice.payload, username: 'Alicia' } })
  const carol = await connect(t, `${wsBase}/ws/r/carol?username=Carol`)
  await carol.settle()
  const snapshot = carol.frames.filter((f) => f.type === 'user_joined' && f.snapshot)
  t.same(snapshot.map((f) => [f.user_id, f.username]).sort(), [['alice', 'Alicia'], ['bob', 'Bob']])
  await alice.settle()
})

t.test('a paced snapshot leaves out a user heard of while it waits: a leave is not undone by a stale join', async (t) => {
  for (const known of [true, false]) {
    const changes: PresenceChange[] = []
    const written: string[] = []
    // A socket resuming with since= gets its snapshot paced, one frame per write.
    const ctx = {
      request: { roomId: 'r', userId: 'me', since: 0 },
      deps: { config: { maxBufferedBytes: 1 << 20 } },
      socket: { readyState: 1, OPEN: 1 },
      connection: {
        queuedBytes: () => 0,
        send () { throw new Error('a paced snapshot writes nothing in bulk') },
        async writePaced (frame: string) {
          written.push(JSON.parse(frame).user_id)
          // While carol's frame waits for the socket, dave leaves: his user_left goes out live.
          if (written.length === 1) changes.push({ userId: 'dave', joined: false })
          return true
        }
      }
    } as unknown as Socket
    const members = ['me', 'carol', 'dave', 'frank'].map((id) => ({ id, profile: undefined }))
    const watch = { changes: (skip = 0) => (known ? changes.slice(skip) : undefined), end () {} }
    t.equal(await snapshot(ctx, { members, watch }), true)
    t.same(written, known ? ['carol', 'frank'] : ['carol', 'dave', 'frank'], known ? 'dave, heard leaving, is left out' : 'changes unknown: the read stands')
  }
})
