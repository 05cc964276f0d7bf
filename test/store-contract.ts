import type { Test } from 'tap'
import type { Message } from '../src/schemas'
import type { NewMessage, RoomStore } from '../src/store'

const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/
const AVATAR = 'https://cdn.example.com/a.png'
const OTHER_AVATAR = 'https://cdn.example.com/b.png'

function draft (overrides: Partial<NewMessage> = {}): NewMessage {
  return { roomId: 'room-1', userId: 'user-1', username: 'Ada', avatar: AVATAR, content: 'hello', ...overrides }
}

/** Resolves once the clock has moved past `iso`, so a rewritten timestamp would differ. */
async function afterTick (iso: string): Promise<void> {
  while (new Date().toISOString() === iso) await new Promise((resolve) => setTimeout(resolve, 1))
}

/**
 * The behaviour every RoomStore must have (DESIGN §1 and §2). Each subtest gets a
 * fresh store from `makeStore` and closes it when it ends.
 */
export function storeContract (t: Test, name: string, makeStore: () => Promise<RoomStore>): Promise<unknown> {
  return t.test(`${name} store contract`, async (t) => {
    async function fresh (t: Test): Promise<RoomStore> {
      const store = await makeStore()
      t.teardown(() => store.close())
      return store
    }

    t.test('append returns the message in the wire shape', async (t) => {
      const store = await fresh(t)
      const message = await store.append(draft())
      t.same(Object.keys(message).sort(), ['avatar', 'avatar_url', 'content', 'id', 'room_id', 'seq', 'timestamp', 'type', 'user_id', 'username'])
      t.same(message, {
        type: 'message',
        id: message.id,
        room_id: 'room-1',
        user_id: 'user-1',
        username: 'Ada',
        content: 'hello',
        avatar: AVATAR,
        avatar_url: AVATAR,
        timestamp: message.timestamp,
        seq: 1
      })
    })

    t.test('append assigns seq 1, 2, 3 in order within a room', async (t) => {
      const store = await fresh(t)
      const seqs: number[] = []
      for (let i = 0; i < 3; i++) seqs.push((await store.append(draft({ content: `m${i}` }))).seq)
      t.same(seqs, [1, 2, 3])
    })

    t.test('each room counts its own seq', async (t) => {
      const store = await fresh(t)
      const seqs: Array<[string, number]> = []
      for (const roomId of ['a', 'b', 'a', 'a', 'b', 'c']) {
        const message = await store.append(draft({ roomId }))
        seqs.push([message.room_id, message.seq])
      }
      t.same(seqs, [['a', 1], ['b', 1], ['a', 2], ['a', 3], ['b', 2], ['c', 1]])
    })

    t.test('concurrent appends to one room get distinct consecutive seqs', async (t) => {
      const store = await fresh(t)
      const messages = await Promise.all(Array.from({ length: 20 }, (_, i) => store.append(draft({ content: `m${i}` }))))
      t.same(messages.map((m) => m.seq).sort((a, b) => a - b), Array.from({ length: 20 }, (_, i) => i + 1))
      const history = await store.latest('room-1', 100)
      t.same(history.map((m) => m.seq), Array.from({ length: 20 }, (_, i) => i + 1))
    })

    t.test('ids are unique non-empty strings, across rooms too', async (t) => {
      const store = await fresh(t)
      const ids: unknown[] = []
      for (let i = 0; i < 30; i++) ids.push((await store.append(draft({ roomId: `room-${i % 3}` }))).id)
      t.ok(ids.every((id) => typeof id === 'string' && id !== ''), 'every id is a non-empty string')
      t.equal(new Set(ids).size, ids.length, 'no id repeats')
    })

    t.test('timestamps are ISO 8601 UTC ending in Z', async (t) => {
      const store = await fresh(t)
      const message = await store.append(draft())
      t.match(message.timestamp, ISO_UTC)
      t.equal(new Date(message.timestamp).toISOString(), message.timestamp, 'the timestamp is canonical toISOString() output')
      const [stored] = await store.latest('room-1', 1)
      t.match(stored.timestamp, ISO_UTC)
    })

    t.test('history returns the id, seq and timestamp the append returned', async (t) => {
      const store = await fresh(t)
      const appended: Message[] = []
      for (let i = 0; i < 3; i++) appended.push(await store.append(draft({ content: `m${i}` })))
      t.same(await store.latest('room-1', 10), appended)
    })

    t.test('latest returns the newest n messages, oldest first', async (t) => {
      const store = await fresh(t)
      for (let i = 1; i <= 5; i++) await store.append(draft({ content: `m${i}` }))
      const page = await store.latest('room-1', 3)
      t.same(page.map((m) => [m.seq, m.content]), [[3, 'm3'], [4, 'm4'], [5, 'm5']])
    })

    t.test('latest orders by seq numerically, past 9', async (t) => {
      const store = await fresh(t)
      for (let i = 1; i <= 12; i++) await store.append(draft({ content: `m${i}` }))
      t.same((await store.latest('room-1', 12)).map((m) => m.seq), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12])
      t.same((await store.latest('room-1', 4)).map((m) => m.seq), [9, 10, 11, 12])
    })

    t.test('latest with n beyond the history returns all of it', async (t) => {
      const store = await fresh(t)
      for (let i = 1; i <= 2; i++) await store.append(draft({ content: `m${i}` }))
      t.same((await store.latest('room-1', 100)).map((m) => m.content), ['m1', 'm2'])
    })

    t.test('latest reads only its own room', async (t) => {
      const store = await fresh(t)
      await store.append(draft({ roomId: 'a', content: 'in a' }))
      await store.append(draft({ roomId: 'b', content: 'in b' }))
      await store.append(draft({ roomId: 'a', content: 'in a again' }))
      t.same((await store.latest('a', 10)).map((m) => [m.room_id, m.seq, m.content]), [['a', 1, 'in a'], ['a', 2, 'in a again']])
      t.same((await store.latest('b', 10)).map((m) => [m.room_id, m.seq, m.content]), [['b', 1, 'in b']])
    })

    t.test('latest on an unknown room returns [] and creates nothing', async (t) => {
      const store = await fresh(t)
      t.same(await store.latest('never-seen', 100), [])
      t.same(await store.latest('never-seen', 100), [], 'still empty on a second read')
      t.equal(await store.getProfile('never-seen', 'user-1'), undefined, 'no profile appeared')
      const first = await store.append(draft({ roomId: 'never-seen' }))
      t.equal(first.seq, 1, 'the room starts at seq 1 when it is first written')
    })

    t.test('room and user ids are arbitrary strings', async (t) => {
      const store = await fresh(t)
      const roomId = "mock-1735-abc123 'quoted' \"; DROP TABLE messages; --"
      const userId = 'ünïcødé user 🙂'
      await store.upsertProfile(roomId, userId, { username: 'Zoë' }, 'set')
      const message = await store.append(draft({ roomId, userId, username: 'Zoë' }))
      t.match(message, { room_id: roomId, user_id: userId, seq: 1 })
      t.same((await store.latest(roomId, 10)).map((m) => [m.room_id, m.user_id]), [[roomId, userId]])
      t.match(await store.getProfile(roomId, userId), { roomId, userId, username: 'Zoë' })
    })

    t.test('content and username are stored verbatim', async (t) => {
      const store = await fresh(t)
      const content = '  line one\nline two — "quotes" \'single\' \\ 🎉 end  '
      await store.append(draft({ content, username: '  Ada 🙂 ' }))
      t.match((await store.latest('room-1', 1))[0], { content, username: '  Ada 🙂 ' })
    })

    t.test('a message carries its avatar in both avatar and avatar_url', async (t) => {
      const store = await fresh(t)
      const message = await store.append(draft({ avatar: AVATAR }))
      t.match(message, { avatar: AVATAR, avatar_url: AVATAR })
      t.match((await store.latest('room-1', 1))[0], { avatar: AVATAR, avatar_url: AVATAR })
    })

    t.test('an avatar missing at write time is filled from the profile on read', async (t) => {
      const store = await fresh(t)
      const written = await store.append(draft({ avatar: null }))
      t.match(written, { avatar: null, avatar_url: null }, 'the append reports what was written')
      await store.upsertProfile('room-1', 'user-1', { avatarUrl: AVATAR }, 'set')
      t.match((await store.latest('room-1', 1))[0], { id: written.id, avatar: AVATAR, avatar_url: AVATAR })
    })

    t.test("a message's own avatar is kept when the profile has another", async (t) => {
      const store = await fresh(t)
      await store.upsertProfile('room-1', 'user-1', { avatarUrl: OTHER_AVATAR }, 'set')
      await store.append(draft({ avatar: AVATAR }))
      t.match((await store.latest('room-1', 1))[0], { avatar: AVATAR, avatar_url: AVATAR })
    })

    t.test('a message without an avatar and without a profile avatar reads as null', async (t) => {
      const store = await fresh(t)
      await store.upsertProfile('room-1', 'user-1', { username: 'Ada' }, 'set')
      await store.append(draft({ avatar: null }))
      await store.append(draft({ userId: 'no-profile', avatar: null }))
      t.same((await store.latest('room-1', 2)).map((m) => [m.avatar, m.avatar_url]), [[null, null], [null, null]])
    })

    t.test('the avatar fill comes from the same user in the same room only', async (t) => {
      const store = await fresh(t)
      await store.upsertProfile('other-room', 'user-1', { avatarUrl: OTHER_AVATAR }, 'set')
      await store.upsertProfile('room-1', 'user-2', { avatarUrl: OTHER_AVATAR }, 'set')
      await store.append(draft({ avatar: null }))
      t.match((await store.latest('room-1', 1))[0], { avatar: null, avatar_url: null })
    })

    t.test('history keeps the username a message was sent under', async (t) => {
      const store = await fresh(t)
      await store.upsertProfile('room-1', 'user-1', { username: 'Ada' }, 'set')
      await store.append(draft({ username: 'Ada' }))
      await store.upsertProfile('room-1', 'user-1', { username: 'Countess' }, 'set')
      t.equal((await store.latest('room-1', 1))[0].username, 'Ada')
    })

    t.test('the first upsert creates the profile and says so', async (t) => {
      const store = await fresh(t)
      const result = await store.upsertProfile('room-1', 'user-1', { username: 'Ada', avatarUrl: AVATAR }, 'set')
      t.same(result, {
        created: true,
        profile: { roomId: 'room-1', userId: 'user-1', username: 'Ada', avatarUrl: AVATAR, joinedAt: result.profile.joinedAt }
      })
      t.match(result.profile.joinedAt, ISO_UTC)
      t.same(await store.getProfile('room-1', 'user-1'), result.profile, 'getProfile returns what was stored')
    })

    t.test('a fill creates a profile when there is none', async (t) => {
      const store = await fresh(t)
      const result = await store.upsertProfile('room-1', 'user-1', { username: 'Ada' }, 'fill')
      t.equal(result.created, true)
      t.match(result.profile, { username: 'Ada', avatarUrl: null })
    })

    t.test('a profile upserted with no values stores nulls', async (t) => {
      const store = await fresh(t)
      const { profile, created } = await store.upsertProfile('room-1', 'user-1', {}, 'fill')
      t.equal(created, true)
      t.match(profile, { username: null, avatarUrl: null })
      t.same(await store.getProfile('room-1', 'user-1'), profile)
    })

    t.test('created is true only the first time, in either mode', async (t) => {
      const store = await fresh(t)
      const created: boolean[] = []
      created.push((await store.upsertProfile('room-1', 'user-1', { username: 'Ada' }, 'fill')).created)
      created.push((await store.upsertProfile('room-1', 'user-1', { username: 'Ada' }, 'fill')).created)
      created.push((await store.upsertProfile('room-1', 'user-1', { username: 'Bea' }, 'set')).created)
      created.push((await store.upsertProfile('room-1', 'user-1', {}, 'set')).created)
      created.push((await store.upsertProfile('room-1', 'user-2', {}, 'set')).created)
      t.same(created, [true, false, false, false, true])
    })

    t.test('joinedAt stays the one from the first upsert', async (t) => {
      const store = await fresh(t)
      const first = await store.upsertProfile('room-1', 'user-1', { username: 'Ada' }, 'set')
      await afterTick(first.profile.joinedAt)
      const again = await store.upsertProfile('room-1', 'user-1', { username: 'Bea', avatarUrl: AVATAR }, 'set')
      t.equal(again.profile.joinedAt, first.profile.joinedAt, 'the upsert result keeps it')
      t.equal((await store.getProfile('room-1', 'user-1'))?.joinedAt, first.profile.joinedAt, 'the stored profile keeps it')
    })

    t.test('a set replaces the stored values with non-empty ones', async (t) => {
      const store = await fresh(t)
      await store.upsertProfile('room-1', 'user-1', { username: 'Ada', avatarUrl: AVATAR }, 'set')
      const { profile } = await store.upsertProfile('room-1', 'user-1', { username: 'Bea', avatarUrl: OTHER_AVATAR }, 'set')
      t.match(profile, { username: 'Bea', avatarUrl: OTHER_AVATAR })
      t.match(await store.getProfile('room-1', 'user-1'), { username: 'Bea', avatarUrl: OTHER_AVATAR })
    })

    t.test('a set with empty values keeps the stored ones', async (t) => {
      const store = await fresh(t)
      await store.upsertProfile('room-1', 'user-1', { username: 'Ada', avatarUrl: AVATAR }, 'set')
      const { profile } = await store.upsertProfile('room-1', 'user-1', { username: '', avatarUrl: '' }, 'set')
      t.match(profile, { username: 'Ada', avatarUrl: AVATAR })
      t.match(await store.getProfile('room-1', 'user-1'), { username: 'Ada', avatarUrl: AVATAR })
    })

    t.test('a set with missing or null values keeps the stored ones', async (t) => {
      const store = await fresh(t)
      await store.upsertProfile('room-1', 'user-1', { username: 'Ada', avatarUrl: AVATAR }, 'set')
      await store.upsertProfile('room-1', 'user-1', {}, 'set')
      const { profile } = await store.upsertProfile('room-1', 'user-1', { username: null, avatarUrl: null }, 'set')
      t.match(profile, { username: 'Ada', avatarUrl: AVATAR })
      t.match(await store.getProfile('room-1', 'user-1'), { username: 'Ada', avatarUrl: AVATAR })
    })

    t.test('a set of one value leaves the other alone', async (t) => {
      const store = await fresh(t)
      await store.upsertProfile('room-1', 'user-1', { username: 'Ada', avatarUrl: AVATAR }, 'set')
      await store.upsertProfile('room-1', 'user-1', { username: 'Bea' }, 'set')
      t.match(await store.getProfile('room-1', 'user-1'), { username: 'Bea', avatarUrl: AVATAR })
      await store.upsertProfile('room-1', 'user-1', { avatarUrl: OTHER_AVATAR }, 'set')
      t.match(await store.getProfile('room-1', 'user-1'), { username: 'Bea', avatarUrl: OTHER_AVATAR })
    })

    t.test('a fill never overwrites a stored username', async (t) => {
      const store = await fresh(t)
      await store.upsertProfile('room-1', 'user-1', { username: 'Ada' }, 'set')
      const { profile } = await store.upsertProfile('room-1', 'user-1', { username: 'Placeholder' }, 'fill')
      t.equal(profile.username, 'Ada')
      t.equal((await store.getProfile('room-1', 'user-1'))?.username, 'Ada')
    })

    t.test('a fill never overwrites a stored avatar', async (t) => {
      const store = await fresh(t)
      await store.upsertProfile('room-1', 'user-1', { avatarUrl: AVATAR }, 'set')
      const { profile } = await store.upsertProfile('room-1', 'user-1', { avatarUrl: OTHER_AVATAR }, 'fill')
      t.equal(profile.avatarUrl, AVATAR)
      t.equal((await store.getProfile('room-1', 'user-1'))?.avatarUrl, AVATAR)
    })

    t.test('a fill sets the values the profile is missing', async (t) => {
      const store = await fresh(t)
      await store.upsertProfile('room-1', 'user-1', { username: 'Ada' }, 'set')
      const { profile } = await store.upsertProfile('room-1', 'user-1', { username: 'Placeholder', avatarUrl: AVATAR }, 'fill')
      t.match(profile, { username: 'Ada', avatarUrl: AVATAR })
      t.match(await store.getProfile('room-1', 'user-1'), { username: 'Ada', avatarUrl: AVATAR })
    })

    t.test('a fill with empty values keeps a profile that has none', async (t) => {
      const store = await fresh(t)
      await store.upsertProfile('room-1', 'user-1', {}, 'set')
      const { profile } = await store.upsertProfile('room-1', 'user-1', { username: '', avatarUrl: '' }, 'fill')
      t.match(profile, { username: null, avatarUrl: null })
      t.match(await store.getProfile('room-1', 'user-1'), { username: null, avatarUrl: null })
    })

    t.test('profiles are kept per room', async (t) => {
      const store = await fresh(t)
      await store.upsertProfile('room-1', 'user-1', { username: 'Ada' }, 'set')
      const other = await store.upsertProfile('room-2', 'user-1', { username: 'Bea' }, 'set')
      t.equal(other.created, true, 'the same user in another room is a new profile')
      t.match(await store.getProfile('room-1', 'user-1'), { roomId: 'room-1', username: 'Ada' })
      t.match(await store.getProfile('room-2', 'user-1'), { roomId: 'room-2', username: 'Bea' })
    })

    t.test('getProfile of an unknown user or room is undefined', async (t) => {
      const store = await fresh(t)
      await store.upsertProfile('room-1', 'user-1', { username: 'Ada' }, 'set')
      t.equal(await store.getProfile('room-1', 'user-2'), undefined)
      t.equal(await store.getProfile('room-2', 'user-1'), undefined)
    })

    t.test('a profile upsert does not put messages in the room', async (t) => {
      const store = await fresh(t)
      await store.upsertProfile('room-1', 'user-1', { username: 'Ada' }, 'set')
      t.same(await store.latest('room-1', 10), [])
      t.equal((await store.append(draft())).seq, 1)
    })

    t.test('ping resolves', async (t) => {
      const store = await fresh(t)
      t.equal(await store.ping(), undefined)
    })

    t.test('close can be called more than once', async (t) => {
      const store = await makeStore()
      await store.append(draft())
      await t.resolves(store.close())
      await t.resolves(store.close())
    })
  })
}
