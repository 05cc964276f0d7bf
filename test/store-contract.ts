import type { Test } from 'tap'
import { messageId } from '../src/store/ids'
import type { Message } from '../src/schemas/http'
import type { NewMessage, NewRoom, PageQuery, Profile, Store as RoomStore, RoomSummary } from '../src/store/store'
import { messageJson } from '../src/store/wire-message'

const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/
const AVATAR = 'https://cdn.example.com/a.png'
const OTHER_AVATAR = 'https://cdn.example.com/b.png'

function draft (overrides: Partial<NewMessage> = {}): NewMessage {
  return { roomId: 'room-1', userId: 'user-1', username: 'Ada', avatar: AVATAR, content: 'hello', ...overrides }
}

// A room's details when none were given: what a room made on the fly has too.
const NO_DETAILS = { category: null, description: null, tags: [], privacy: 'public', maxMembers: null, host: null, createdBy: null }

function newRoom (room: Partial<NewRoom> & { id: string, name: string }): NewRoom {
  return { thumbnailUrl: null, category: null, description: null, tags: [], privacy: 'public', maxMembers: null, host: null, createdBy: null, passwordHash: null, thumbnail: null, ...room }
}

function draftOnce (clientId: string, overrides: Partial<NewMessage> = {}): NewMessage & { clientId: string } {
  return { ...draft(overrides), clientId }
}

/** Appends m1..m`count` one after the other and returns them as appended. */
async function appendMany (store: RoomStore, count: number, overrides: Partial<NewMessage> = {}): Promise<Message[]> {
  const messages: Message[] = []
  for (let i = 1; i <= count; i++) messages.push(await store.append(draft({ content: `m${i}`, ...overrides })))
  return messages
}

const seqs = (messages: Message[]) => messages.map((m) => m.seq)
const ids = (rooms: RoomSummary[]) => rooms.map((r) => r.id)

/** Resolves once the clock has moved past `iso`, so a rewritten timestamp would differ. */
async function afterTick (iso: string): Promise<void> {
  while (new Date().toISOString() === iso) await new Promise((resolve) => setTimeout(resolve, 1))
}

/**
 * The behaviour every RoomStore must have. Each subtest gets a
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

    t.test('getProfiles reads several profiles of a room in the order asked', async (t) => {
      const store = await fresh(t)
      const ada = (await store.upsertProfile('room-1', 'user-1', { username: 'Ada' }, 'set')).profile
      const bo = (await store.upsertProfile('room-1', 'user-2', { username: 'Bo' }, 'set')).profile
      await store.upsertProfile('room-2', 'user-3', { username: 'Cy' }, 'set')
      t.same(await store.getProfiles('room-1', ['user-2', 'nobody', 'user-1', 'user-3']), [bo, undefined, ada, undefined],
        'aligned with the ids; another room\'s profile is not this room\'s')
      t.same(await store.getProfiles('room-1', []), [])
      t.same(await store.getProfiles('room-1', ['user-1']), [await store.getProfile('room-1', 'user-1')])
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

    t.test('page without a cursor returns the newest limit messages, oldest first', async (t) => {
      const store = await fresh(t)
      const written = await appendMany(store, 12)
      t.same(await store.page('room-1', { limit: 5 }), written.slice(7))
      t.same(await store.page('room-1', { limit: 100 }), written, 'a limit beyond the history returns all of it')
    })

    t.test('page with beforeSeq returns the limit messages just before it, oldest first', async (t) => {
      const store = await fresh(t)
      const written = await appendMany(store, 12)
      t.same(await store.page('room-1', { limit: 3, beforeSeq: 8 }), written.slice(4, 7))
      t.same(seqs(await store.page('room-1', { limit: 10, beforeSeq: 4 })), [1, 2, 3], 'fewer than limit near the start')
      t.same(seqs(await store.page('room-1', { limit: 2, beforeSeq: 100 })), [11, 12], 'a beforeSeq past the end reads from the end')
    })

    t.test('page with afterSeq returns the limit messages just after it, ascending', async (t) => {
      const store = await fresh(t)
      const written = await appendMany(store, 12)
      t.same(await store.page('room-1', { limit: 3, afterSeq: 4 }), written.slice(4, 7))
      t.same(seqs(await store.page('room-1', { limit: 10, afterSeq: 9 })), [10, 11, 12], 'fewer than limit near the end')
      t.same(seqs(await store.page('room-1', { limit: 4, afterSeq: 0 })), [1, 2, 3, 4], 'afterSeq 0 reads from the start')
    })

    t.test('page with afterSeq and beforeSeq returns the range strictly between them', async (t) => {
      const store = await fresh(t)
      const written = await appendMany(store, 12)
      t.same(await store.page('room-1', { limit: 10, afterSeq: 3, beforeSeq: 8 }), written.slice(3, 7))
      t.same(seqs(await store.page('room-1', { limit: 2, afterSeq: 3, beforeSeq: 8 })), [4, 5], 'the limit counts forward from afterSeq')
      t.same(await store.page('room-1', { limit: 10, afterSeq: 5, beforeSeq: 6 }), [], 'adjacent cursors have nothing between')
      t.same(await store.page('room-1', { limit: 10, afterSeq: 8, beforeSeq: 3 }), [], 'crossed cursors have nothing between')
    })

    t.test('page cursors past either end return []', async (t) => {
      const store = await fresh(t)
      await appendMany(store, 5)
      t.same(await store.page('room-1', { limit: 10, afterSeq: 5 }), [], 'after the last seq')
      t.same(await store.page('room-1', { limit: 10, afterSeq: 100 }), [], 'far after the last seq')
      t.same(await store.page('room-1', { limit: 10, beforeSeq: 1 }), [], 'before the first seq')
      t.same(await store.page('room-1', { limit: 10, beforeSeq: 0 }), [], 'before seq 0')
      t.same(await store.page('never-seen', { limit: 10 }), [], 'an unknown room')
      t.same(await store.page('never-seen', { limit: 10, afterSeq: 0 }), [], 'an unknown room read forward')
    })

    t.test('a page never crosses rooms', async (t) => {
      const store = await fresh(t)
      const written: Record<string, Message[]> = { a: [], b: [] }
      for (let i = 1; i <= 6; i++) {
        for (const roomId of ['a', 'b']) written[roomId].push(await store.append(draft({ roomId, content: `${roomId}${i}` })))
      }
      t.same(await store.page('a', { limit: 10 }), written.a)
      t.same(await store.page('b', { limit: 10, beforeSeq: 4 }), written.b.slice(0, 3))
      t.same(await store.page('a', { limit: 2, afterSeq: 2 }), written.a.slice(2, 4))
      t.same(await store.page('b', { limit: 10, afterSeq: 1, beforeSeq: 6 }), written.b.slice(1, 5))
    })

    t.test('paging backwards with beforeSeq walks the whole history exactly once', async (t) => {
      const store = await fresh(t)
      const written: Message[] = []
      for (let i = 1; i <= 57; i++) {
        written.push(await store.append(draft({ content: `m${i}` })))
        if (i % 4 === 0) await store.append(draft({ roomId: 'room-2', content: `other ${i}` }))
      }
      const pages: Message[][] = []
      let query: PageQuery = { limit: 10 }
      // Bounded, so a store that never reaches the start fails instead of looping.
      for (let i = 0; i < 10; i++) {
        const page = await store.page('room-1', query)
        if (page.length === 0) break
        pages.push(page)
        query = { limit: 10, beforeSeq: page[0].seq }
      }
      t.same(pages.map((page) => page.length), [10, 10, 10, 10, 10, 7])
      t.same(pages.reverse().flat(), written, 'every message once, in order')
    })

    t.test('paging forwards with afterSeq walks the whole history exactly once', async (t) => {
      const store = await fresh(t)
      const written: Message[] = []
      for (let i = 1; i <= 57; i++) {
        written.push(await store.append(draft({ content: `m${i}` })))
        if (i % 4 === 0) await store.append(draft({ roomId: 'room-2', content: `other ${i}` }))
      }
      const pages: Message[][] = []
      let afterSeq = 0
      for (let i = 0; i < 10; i++) {
        const page = await store.page('room-1', { limit: 10, afterSeq })
        if (page.length === 0) break
        pages.push(page)
        afterSeq = page[page.length - 1].seq
      }
      t.same(pages.map((page) => page.length), [10, 10, 10, 10, 10, 7])
      t.same(pages.flat(), written, 'every message once, in order')
    })

    t.test('an avatar missing at write time is filled from the profile in pages', async (t) => {
      const store = await fresh(t)
      await store.append(draft({ avatar: null, content: 'm1' }))
      await store.append(draft({ userId: 'user-2', avatar: null, content: 'm2' }))
      await store.append(draft({ avatar: null, content: 'm3' }))
      await store.upsertProfile('room-1', 'user-1', { avatarUrl: AVATAR }, 'set')
      const queries: PageQuery[] = [{ limit: 10 }, { limit: 10, beforeSeq: 4 }, { limit: 10, afterSeq: 0 }, { limit: 10, afterSeq: 0, beforeSeq: 4 }]
      for (const query of queries) {
        const page = await store.page('room-1', query)
        t.same(page.map((m) => [m.seq, m.avatar, m.avatar_url]), [[1, AVATAR, AVATAR], [2, null, null], [3, AVATAR, AVATAR]], JSON.stringify(query))
      }
    })

    t.test('pageJson is page as wire JSON, stored text and all, for every cursor', async (t) => {
      const store = await fresh(t)
      const written = [
        await store.append(draft({ content: 'plain' })),
        (await store.appendOnce(draftOnce('c-1', { content: 'with a client id' }))).message,
        await store.append(draft({ userId: 'user-2', avatar: null, content: 'no avatar, no profile' })),
        await store.append(draft({ username: 'Zoë "Z" \\o/', content: 'quotes " and \\ backslashes, tabs\tand\nlines, \u0001\u001f control, émoji 🎉, 中文' })),
        await store.append(draft({ roomId: 'room-2', content: 'elsewhere' })),
        await store.append(draft({ content: 'last' }))
      ]
      const here = written.filter((m) => m.room_id === 'room-1')
      const queries: PageQuery[] = [{ limit: 10 }, { limit: 2 }, { limit: 10, beforeSeq: 4 }, { limit: 2, afterSeq: 1 }, { limit: 10, afterSeq: 0, beforeSeq: 5 }, { limit: 10, beforeSeq: 1 }]
      for (const query of queries) {
        const json = await store.pageJson('room-1', query)
        t.ok(json.every((text) => typeof text === 'string'), `${JSON.stringify(query)}: strings`)
        t.same(json.map((text) => JSON.parse(text)), await store.page('room-1', query), `${JSON.stringify(query)}: the page, parsed`)
      }
      t.same((await store.pageJson('room-1', { limit: 10 })).map((text) => JSON.parse(text)), here, 'what the appends answered, client_id included')
      t.same(await store.pageJson('never-seen', { limit: 10 }), [], 'a room never seen')
      // The same messages at once (PostgreSQL writes them in one batch, the ones above one by one).
      const together = await Promise.all([
        store.append(draft({ roomId: 'room-3', content: 'plain' })),
        store.appendOnce(draftOnce('c-1', { roomId: 'room-3', content: 'with a client id' })).then((r) => r.message),
        store.append(draft({ roomId: 'room-3', userId: 'user-2', avatar: null, content: 'no avatar, no profile' })),
        store.append(draft({ roomId: 'room-3', username: 'Zoë "Z" \\o/', content: 'quotes " and \\ backslashes, émoji 🎉' }))
      ])
      t.same((await store.pageJson('room-3', { limit: 10 })).map((text) => JSON.parse(text)), together, 'appended together: what the appends answered')
      t.same(together.map((m) => [m.seq, m.username, m.avatar]), here.slice(0, 4).map((m, i) => [i + 1, m.username, m.avatar]), 'and as one by one')
      // The JSON an append's message is answered and published with (PostgreSQL's is its
      // statement's) is the message's own, byte for byte, alone or in a batch.
      for (const m of [...written, ...together]) t.equal(messageJson(m), JSON.stringify(m), `${m.room_id} seq ${m.seq}: its JSON`)
    })

    t.test('pageJson fills a missing avatar from the profile as it is at read time', async (t) => {
      const store = await fresh(t)
      await store.append(draft({ avatar: null, content: 'm1' }))
      await store.append(draft({ userId: 'user-2', avatar: null, content: 'm2' }))
      await store.append(draft({ avatar: OTHER_AVATAR, content: 'm3' }))
      const avatars = async (query: PageQuery) => (await store.pageJson('room-1', query)).map((text) => {
        const m = JSON.parse(text)
        return [m.seq, m.avatar, m.avatar_url]
      })
      t.same(await avatars({ limit: 10 }), [[1, null, null], [2, null, null], [3, OTHER_AVATAR, OTHER_AVATAR]], 'no profile avatar yet')
      await store.upsertProfile('room-1', 'user-1', { avatarUrl: AVATAR }, 'set')
      for (const query of [{ limit: 10 }, { limit: 10, afterSeq: 0 }]) {
        t.same(await avatars(query), [[1, AVATAR, AVATAR], [2, null, null], [3, OTHER_AVATAR, OTHER_AVATAR]], `filled: ${JSON.stringify(query)}`)
      }
      await store.updateUser('user-1', { avatarUrl: 'https://cdn.example.com/c.png' })
      t.same(await avatars({ limit: 10 }), [[1, 'https://cdn.example.com/c.png', 'https://cdn.example.com/c.png'], [2, null, null], [3, OTHER_AVATAR, OTHER_AVATAR]],
        'a profile changed through its user: the fill follows')
    })

    t.test('the newest page read again follows every change: a message, a join with an avatar, a profile edit', async (t) => {
      const store = await fresh(t)
      const newest = async () => (await store.pageJson('room-1', { limit: 3 })).map((text) => JSON.parse(text))
      await store.append(draft({ userId: 'late', avatar: null, content: 'm1' }))
      await store.append(draft({ content: 'm2' }))
      t.same((await newest()).map((m) => m.content), ['m1', 'm2'])
      t.same((await newest()).map((m) => m.content), ['m1', 'm2'], 'read twice, unchanged')
      await store.append(draft({ content: 'm3' }))
      await store.append(draft({ content: 'm4' }))
      t.same((await newest()).map((m) => m.content), ['m2', 'm3', 'm4'], 'after two messages')
      t.same((await store.pageJson('room-1', { limit: 4 })).map((text) => JSON.parse(text).content), ['m1', 'm2', 'm3', 'm4'], 'another limit is its own page')
      await store.upsertProfile('room-1', 'late', { avatarUrl: AVATAR }, 'fill')
      t.same((await store.pageJson('room-1', { limit: 4 })).map((text) => JSON.parse(text).avatar)[0], AVATAR, 'a join with an avatar fills m1')
      await store.updateUser('late', { avatarUrl: OTHER_AVATAR })
      t.same((await store.pageJson('room-1', { limit: 4 })).map((text) => JSON.parse(text).avatar)[0], OTHER_AVATAR, 'a profile edit through the user')
      t.same(await newest(), await store.page('room-1', { limit: 3 }))
    })

    t.test('the first appendOnce creates the message and carries its client_id', async (t) => {
      const store = await fresh(t)
      const result = await store.appendOnce(draftOnce('c-1'))
      t.same(result, {
        created: true,
        message: {
          type: 'message',
          id: result.message.id,
          room_id: 'room-1',
          user_id: 'user-1',
          username: 'Ada',
          content: 'hello',
          avatar: AVATAR,
          avatar_url: AVATAR,
          timestamp: result.message.timestamp,
          seq: 1,
          client_id: 'c-1'
        }
      })
      t.same(await store.latest('room-1', 10), [result.message], 'history holds it with its client_id')
    })

    t.test('a message without a name or avatar of its own takes its sender\'s profile\'s as it is written', async (t) => {
      const store = await fresh(t)
      await store.upsertProfile('room-1', 'user-1', { username: 'Grace', avatarUrl: AVATAR }, 'set')
      const filled = await store.append(draft({ username: null, avatar: null }))
      t.match(filled, { username: 'Grace', avatar: AVATAR, avatar_url: AVATAR })
      const own = await store.append(draft({ username: 'Ada', avatar: OTHER_AVATAR }))
      t.match(own, { username: 'Ada', avatar: OTHER_AVATAR }, 'the message\'s own values win')
      await store.upsertProfile('room-1', 'user-1', { username: 'Grace H.' }, 'set')
      t.match((await store.appendOnce(draftOnce('c-9', { username: null, avatar: null }))).message, { username: 'Grace H.', avatar: AVATAR }, 'appendOnce too, with the profile as it is now')
      const stranger = await store.append(draft({ userId: 'nobody', username: null, avatar: null }))
      t.match(stranger, { username: 'Anonymous', avatar: null }, 'no profile: the default name, no avatar')
      t.same((await store.latest('room-1', 10)).map((m) => m.username), ['Grace', 'Ada', 'Grace H.', 'Anonymous'], 'history has what was written')
    })

    t.test('a retried appendOnce returns the stored message and stores nothing new', async (t) => {
      const store = await fresh(t)
      const first = await store.appendOnce(draftOnce('c-1', { content: 'original' }))
      await afterTick(first.message.timestamp)
      const retry = await store.appendOnce(draftOnce('c-1', { content: 'retried' }))
      t.same(retry, { created: false, message: first.message }, 'same id, seq, content and timestamp')
      t.equal(await store.lastSeq('room-1'), 1, 'no seq was taken')
      t.same(await store.latest('room-1', 10), [first.message])
      t.equal((await store.append(draft())).seq, 2, 'the next append follows on')
    })

    t.test('appendOnce with the same clientId from another user or in another room creates a new message', async (t) => {
      const store = await fresh(t)
      const first = await store.appendOnce(draftOnce('c-1'))
      const otherUser = await store.appendOnce(draftOnce('c-1', { userId: 'user-2' }))
      const otherRoom = await store.appendOnce(draftOnce('c-1', { roomId: 'room-2' }))
      const otherClientId = await store.appendOnce(draftOnce('c-2'))
      t.same([otherUser.created, otherRoom.created, otherClientId.created], [true, true, true])
      t.match(otherUser.message, { room_id: 'room-1', user_id: 'user-2', seq: 2, client_id: 'c-1' })
      t.match(otherRoom.message, { room_id: 'room-2', user_id: 'user-1', seq: 1, client_id: 'c-1' })
      t.match(otherClientId.message, { room_id: 'room-1', user_id: 'user-1', seq: 3, client_id: 'c-2' })
      t.equal(new Set([first, otherUser, otherRoom, otherClientId].map((r) => r.message.id)).size, 4, 'four distinct messages')
      t.same(await store.appendOnce(draftOnce('c-1', { userId: 'user-2' })), { created: false, message: otherUser.message }, 'each key retries to its own message')
      t.same(await store.appendOnce(draftOnce('c-1', { roomId: 'room-2' })), { created: false, message: otherRoom.message })
      t.same(await store.appendOnce(draftOnce('c-1')), { created: false, message: first.message })
    })

    t.test('concurrent appendOnce with the same key creates exactly one message', async (t) => {
      const store = await fresh(t)
      const results = await Promise.all(Array.from({ length: 10 }, () => store.appendOnce(draftOnce('c-1'))))
      t.equal(results.filter((r) => r.created).length, 1, 'exactly one created')
      t.equal(new Set(results.map((r) => r.message.id)).size, 1, 'all the same id')
      t.same(seqs(results.map((r) => r.message)), Array(10).fill(1))
      t.equal(await store.lastSeq('room-1'), 1)
      t.equal((await store.latest('room-1', 100)).length, 1)
    })

    t.test('a large batch over three rooms with every key sent twice: each key stored once, the first of its twins, seqs gap-free per room', async (t) => {
      const store = await fresh(t)
      const rooms = ['room-a', 'room-b', 'room-c']
      // 300 keys (100 per room), each sent twice in one turn, the twin later in the batch;
      // every fifth message has no client_id and is always new.
      const sent = Array.from({ length: 600 }, (_, i) => {
        const key = i % 300
        const room = rooms[key % 3]
        return key % 5 === 0
          ? { key, twin: i >= 300, result: store.append(draft({ roomId: room, content: `plain ${i}` })).then((message) => ({ created: true, message })) }
          : { key, twin: i >= 300, result: store.appendOnce(draftOnce(`k-${key}`, { roomId: room, content: `${i >= 300 ? 'twin' : 'first'} ${key}` })) }
      })
      const results = await Promise.all(sent.map((s) => s.result))
      const keyed = sent.map((s, i) => ({ ...s, ...results[i] })).filter((s) => s.key % 5 !== 0)
      t.ok(keyed.filter((s) => !s.twin).every((s) => s.created && s.message.content === `first ${s.key}`), 'the first of each pair is created')
      t.ok(keyed.filter((s) => s.twin).every((s) => !s.created && s.message.content === `first ${s.key}`), 'its twin is answered with the first')
      for (const room of rooms) {
        const stored = await store.latest(room, 500)
        t.strictSame(seqs(stored), Array.from({ length: stored.length }, (_, i) => i + 1), `${room}: seqs 1..n, no gap`)
        t.equal(stored.length, 80 + 40, `${room}: 80 keyed messages once each, and the 40 plain ones`)
        t.equal(await store.lastSeq(room), stored.length)
      }
    })

    t.test('a message appended without clientId has no client_id property', async (t) => {
      const store = await fresh(t)
      const message = await store.append(draft())
      t.equal('client_id' in message, false, 'the append result')
      t.equal('client_id' in (await store.latest('room-1', 1))[0], false, 'latest')
      t.equal('client_id' in (await store.page('room-1', { limit: 1, afterSeq: 0 }))[0], false, 'page')
    })

    t.test('seqOf returns the seq of a message of the room by id', async (t) => {
      const store = await fresh(t)
      const written: Message[] = []
      for (let i = 1; i <= 4; i++) {
        await store.append(draft({ roomId: 'room-2' }))
        written.push(await store.append(draft({ content: `m${i}` })))
      }
      for (const message of written) t.equal(await store.seqOf('room-1', message.id), message.seq, message.content)
    })

    t.test('seqOf is undefined for an unknown id and for an id from another room', async (t) => {
      const store = await fresh(t)
      const here = await store.append(draft())
      const there = await store.append(draft({ roomId: 'room-2' }))
      t.equal(await store.seqOf('room-1', '00000000-0000-4000-8000-000000000000'), undefined, 'a well-formed id never issued')
      t.equal(await store.seqOf('room-1', 'not an id at all'), undefined, 'an arbitrary string')
      t.equal(await store.seqOf('room-1', there.id), undefined, "room-2's message in room-1")
      t.equal(await store.seqOf('room-2', here.id), undefined, "room-1's message in room-2")
      t.equal(await store.seqOf('never-seen', here.id), undefined, 'an unknown room')
      t.equal(await store.seqOf('room-1', messageId(here.seq)), undefined, 'an id of the right form and seq, never issued')
      t.equal(await store.seqOf('room-1', here.id.toUpperCase()), undefined, 'ids are compared exactly')
    })

    t.test('lastSeq is 0 for a room never written and creates nothing', async (t) => {
      const store = await fresh(t)
      t.equal(await store.lastSeq('never-seen'), 0)
      t.same(await store.listRooms(10), [], 'no room appeared')
      t.equal((await store.append(draft({ roomId: 'never-seen' }))).seq, 1, 'the room starts at seq 1 when first written')
    })

    t.test('lastSeq follows the appends of each room', async (t) => {
      const store = await fresh(t)
      await store.append(draft({ roomId: 'a' }))
      await store.append(draft({ roomId: 'a' }))
      await store.append(draft({ roomId: 'b' }))
      t.same([await store.lastSeq('a'), await store.lastSeq('b')], [2, 1])
      await store.appendOnce(draftOnce('c-1', { roomId: 'a' }))
      await store.appendOnce(draftOnce('c-1', { roomId: 'a' }))
      t.same([await store.lastSeq('a'), await store.lastSeq('b')], [3, 1], 'appendOnce counts once')
      await store.upsertProfile('c', 'user-1', { username: 'Ada' }, 'set')
      await store.createRoom(newRoom({ id: 'd', name: 'D', thumbnailUrl: null }))
      t.same([await store.lastSeq('c'), await store.lastSeq('d')], [0, 0], 'rooms without messages')
    })

    t.test('members lists the profiles of the room, oldest joined first', async (t) => {
      const store = await fresh(t)
      const joined: Profile[] = []
      // Joined in an order that is not the ids' order, so sorting by id would show.
      for (const userId of ['user-c', 'user-a', 'user-b']) {
        const { profile } = await store.upsertProfile('room-1', userId, { username: userId }, 'set')
        joined.push(profile)
        await afterTick(profile.joinedAt)
      }
      const { profile: elsewhere } = await store.upsertProfile('room-2', 'user-z', { username: 'Zed' }, 'set')
      await store.append(draft({ userId: 'poster-without-profile' }))
      t.same(await store.members('room-1', 10), joined)
      const { profile: renamed } = await store.upsertProfile('room-1', 'user-c', { username: 'Cleo' }, 'set')
      t.same(await store.members('room-1', 10), [renamed, joined[1], joined[2]], 'an update keeps the place and shows the new values')
      t.same(await store.members('room-2', 10), [elsewhere], 'the other room has only its own')
    })

    t.test('members returns at most limit, the oldest joined', async (t) => {
      const store = await fresh(t)
      const joined: Profile[] = []
      for (const userId of ['user-d', 'user-c', 'user-b', 'user-a']) {
        joined.push((await store.upsertProfile('room-1', userId, {}, 'fill')).profile)
        await afterTick(joined[joined.length - 1].joinedAt)
      }
      t.same(await store.members('room-1', 2), joined.slice(0, 2))
      t.same(await store.members('room-1', 4), joined)
    })

    t.test('members of an unknown room or of a room with no profiles is []', async (t) => {
      const store = await fresh(t)
      await store.upsertProfile('room-2', 'user-1', { username: 'Ada' }, 'set')
      await store.append(draft())
      t.same(await store.members('never-seen', 10), [])
      t.same(await store.members('room-1', 10), [], 'posting a message does not make a member')
    })

    t.test('createRoom returns the room with an ISO UTC createdAt', async (t) => {
      const store = await fresh(t)
      const room = await store.createRoom(newRoom({ id: 'lobby', name: 'Lobby', thumbnailUrl: AVATAR }))
      t.same(room, { ...NO_DETAILS, id: 'lobby', name: 'Lobby', thumbnailUrl: AVATAR, createdAt: room.createdAt })
      t.match(room.createdAt, ISO_UTC)
      t.equal(new Date(room.createdAt).toISOString(), room.createdAt, 'canonical toISOString() output')
      const plain = await store.createRoom(newRoom({ id: 'plain', name: 'Plain', thumbnailUrl: null }))
      t.same(plain, { ...NO_DETAILS, id: 'plain', name: 'Plain', thumbnailUrl: null, createdAt: plain.createdAt }, 'a room without a thumbnail')
    })

    t.test('listRooms lists a created room with its summary', async (t) => {
      const store = await fresh(t)
      t.same(await store.listRooms(10), [], 'no rooms at first')
      const room = await store.createRoom(newRoom({ id: 'lobby', name: 'Lobby', thumbnailUrl: AVATAR }))
      t.same(await store.listRooms(10), [{ ...room, memberCount: 0, lastSeq: 0, lastMessageAt: null }])
    })

    t.test('listRooms includes rooms created on the fly by append and upsertProfile, without a name', async (t) => {
      const store = await fresh(t)
      const message = await store.append(draft({ roomId: 'posted' }))
      await store.upsertProfile('joined', 'user-1', { username: 'Ada' }, 'set')
      const rooms = await store.listRooms(10)
      t.same(ids(rooms).sort(), ['joined', 'posted'])
      const posted = rooms.find((r) => r.id === 'posted')!
      const joined = rooms.find((r) => r.id === 'joined')!
      t.same(posted, { ...NO_DETAILS, id: 'posted', name: null, thumbnailUrl: null, createdAt: posted.createdAt, memberCount: 0, lastSeq: 1, lastMessageAt: message.timestamp })
      t.same(joined, { ...NO_DETAILS, id: 'joined', name: null, thumbnailUrl: null, createdAt: joined.createdAt, memberCount: 1, lastSeq: 0, lastMessageAt: null })
      t.match(posted.createdAt, ISO_UTC)
      t.match(joined.createdAt, ISO_UTC)
    })

    t.test('listRooms counts the profiles of each room and follows its last message', async (t) => {
      const store = await fresh(t)
      const room = await store.createRoom(newRoom({ id: 'lobby', name: 'Lobby', thumbnailUrl: AVATAR }))
      await store.upsertProfile('lobby', 'user-1', { username: 'Ada' }, 'set')
      await store.upsertProfile('lobby', 'user-2', { username: 'Bea' }, 'set')
      await store.upsertProfile('lobby', 'user-1', { username: 'Ada again' }, 'set')
      await store.upsertProfile('elsewhere', 'user-3', { username: 'Cy' }, 'set')
      const first = await store.append(draft({ roomId: 'lobby' }))
      await afterTick(first.timestamp)
      const last = await store.append(draft({ roomId: 'lobby', userId: 'user-9' }))
      const lobby = (await store.listRooms(10)).find((r) => r.id === 'lobby')
      t.same(lobby, { ...room, memberCount: 2, lastSeq: 2, lastMessageAt: last.timestamp }, 'name and thumbnail survive the appends')
    })

    t.test('listRooms puts the most recently active room first', async (t) => {
      const store = await fresh(t)
      const older = await store.createRoom(newRoom({ id: 'older', name: 'Older', thumbnailUrl: null }))
      await afterTick(older.createdAt)
      const newer = await store.createRoom(newRoom({ id: 'newer', name: 'Newer', thumbnailUrl: null }))
      await afterTick(newer.createdAt)
      t.same(ids(await store.listRooms(10)), ['newer', 'older'], 'without messages, the newest room first')
      const message = await store.append(draft({ roomId: 'older' }))
      t.same(ids(await store.listRooms(10)), ['older', 'newer'], 'a room that just got a message comes before one created earlier without messages')
      await afterTick(message.timestamp)
      const latest = await store.createRoom(newRoom({ id: 'latest', name: 'Latest', thumbnailUrl: null }))
      await afterTick(latest.createdAt)
      t.same(ids(await store.listRooms(10)), ['latest', 'older', 'newer'], 'a room created after the last message comes first')
      await store.append(draft({ roomId: 'newer' }))
      t.same(ids(await store.listRooms(10)), ['newer', 'latest', 'older'], 'a new message moves its room to the top')
    })

    t.test('listRooms returns at most limit rooms, the most recently active', async (t) => {
      const store = await fresh(t)
      for (let i = 1; i <= 5; i++) {
        const room = await store.createRoom(newRoom({ id: `room-${i}`, name: `Room ${i}` }))
        await afterTick(room.createdAt)
      }
      t.same(ids(await store.listRooms(2)), ['room-5', 'room-4'])
      t.same(ids(await store.listRooms(10)), ['room-5', 'room-4', 'room-3', 'room-2', 'room-1'])
    })

    t.test('creating a room with an id already there rejects and keeps the room', async (t) => {
      const store = await fresh(t)
      const room = await store.createRoom(newRoom({ id: 'lobby', name: 'Lobby', thumbnailUrl: null }))
      await t.rejects(store.createRoom(newRoom({ id: 'lobby', name: 'Other', thumbnailUrl: AVATAR })), 'a created room')
      await store.append(draft({ roomId: 'posted' }))
      await t.rejects(store.createRoom(newRoom({ id: 'posted', name: 'Posted', thumbnailUrl: null })), 'a room created on the fly')
      const rooms = await store.listRooms(10)
      t.same(ids(rooms).sort(), ['lobby', 'posted'])
      t.same(rooms.find((r) => r.id === 'lobby'), { ...room, memberCount: 0, lastSeq: 0, lastMessageAt: null }, 'the first room is unchanged')
      t.same([rooms.find((r) => r.id === 'posted')?.name, rooms.find((r) => r.id === 'posted')?.lastSeq], [null, 1], 'the room made on the fly is unchanged')
    })

    t.test('a room keeps its details, its password hash and its uploaded thumbnail', async (t) => {
      const store = await fresh(t)
      const host = { id: 'u1', username: 'Ada', avatar_url: AVATAR }
      const image = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3])
      const room = await store.createRoom(newRoom({
        id: 'study', name: 'Study', category: 'Study', description: 'Quiet hours', tags: ['exam', 'math'], privacy: 'password',
        maxMembers: 20, host, createdBy: 'u1', passwordHash: 'scrypt$hash', thumbnailUrl: '/rooms/study/thumbnail?v=1', thumbnail: { contentType: 'image/jpeg', data: image }
      }))
      t.match(room, { id: 'study', category: 'Study', description: 'Quiet hours', tags: ['exam', 'math'], privacy: 'password', maxMembers: 20, host, createdBy: 'u1' })
      t.notOk('passwordHash' in room || 'thumbnail' in room, 'the room as listed carries neither the hash nor the image')
      t.same((await store.listRooms(10))[0], { ...room, memberCount: 0, lastSeq: 0, lastMessageAt: null })
      t.same(await store.roomAccess('study'), { privacy: 'password', passwordHash: 'scrypt$hash' })
      t.same(await store.roomAccess('nowhere'), undefined)
      const thumbnail = await store.thumbnail('study')
      t.equal(thumbnail?.contentType, 'image/jpeg')
      t.ok(thumbnail?.data.equals(image), 'the same bytes')
      t.equal(await store.thumbnail('nowhere'), undefined)
      await store.append(draft({ roomId: 'on-the-fly' }))
      t.match((await store.listRooms(10)).find((r) => r.id === 'on-the-fly'), { tags: [], privacy: 'public', category: null, host: null })
    })

    t.test('listRooms filters by category, and "other than" takes rooms with none or a non-standard one', async (t) => {
      const store = await fresh(t)
      await store.createRoom(newRoom({ id: 'g1', name: 'G1', category: 'Gaming' }))
      await store.createRoom(newRoom({ id: 's1', name: 'S1', category: 'Study' }))
      await store.createRoom(newRoom({ id: 'x1', name: 'X1', category: 'Knitting' }))
      await store.createRoom(newRoom({ id: 'n1', name: 'N1' }))
      await store.createRoom(newRoom({ id: 'e1', name: 'E1', category: '' }))
      t.same(ids(await store.listRooms(10, { category: 'Gaming' })), ['g1'])
      t.same(ids(await store.listRooms(10, { otherThan: ['Gaming', 'Study', 'Other'] })).sort(), ['e1', 'n1', 'x1'])
    })

    t.test('a user is answered for every id seen: a stored user, else the newest room profile', async (t) => {
      const store = await fresh(t)
      t.equal(await store.getUser('ghost'), undefined, 'never seen')
      await store.upsertProfile('room-1', 'roamer', { username: 'Old name', avatarUrl: AVATAR }, 'set')
      t.match(await store.getUser('roamer'), { username: 'Old name', avatarUrl: AVATAR }, 'read once (a store may keep it)')
      await afterTick(new Date().toISOString())
      await store.upsertProfile('room-2', 'roamer', { username: 'New name' }, 'set')
      t.match(await store.getUser('roamer'), { id: 'roamer', username: 'New name', displayName: null, account: false, avatarUrl: null })
      await store.upsertProfile('room-2', 'roamer', { username: 'Newer name' }, 'set')
      t.match(await store.getUser('roamer'), { username: 'Newer name' }, 'a changed profile is no stale read')
      await store.updateUser('roamer', { bio: 'hi' })
      t.match(await store.getUser('roamer'), { username: 'Newer name', bio: 'hi' }, 'stored by the update')
      const copy = await store.getUser('roamer')
      copy!.fields.mutated = 'yes'
      t.same((await store.getUser('roamer'))!.fields, {}, 'each read is a new object')
      const guest = await store.createUser({ id: 'g-1', username: 'Guest-ab12' })
      t.match(guest, { id: 'g-1', username: 'Guest-ab12', account: false, fields: {}, avatarUrls: null })
      t.same(await store.getUser('g-1'), guest)
    })

    t.test('accounts: names unique case-insensitively among accounts, emails unique, found by name or email', async (t) => {
      const store = await fresh(t)
      await store.createUser({ id: 'a-1', username: 'Alice', email: 'alice@example.com', passwordHash: 'scrypt$1' })
      await t.rejects(store.createUser({ id: 'a-2', username: 'ALICE', email: 'other@example.com', passwordHash: 'scrypt$2' }), { name: 'ConflictError', field: 'username' })
      await t.rejects(store.createUser({ id: 'a-3', username: 'Alice2', email: 'Alice@Example.com', passwordHash: 'scrypt$3' }), { name: 'ConflictError', field: 'email' })
      await t.rejects(store.createUser({ id: 'g-1', username: 'alice' }), { name: 'ConflictError', field: 'username' }, 'a guest cannot take an account\'s name')
      await store.createUser({ id: 'g-2', username: 'Bob' })
      await store.createUser({ id: 'g-3', username: 'bob' })
      t.pass('guests may share a name')
      const byName = await store.accountByLogin('aLiCe')
      t.match(byName, { user: { id: 'a-1', account: true }, passwordHash: 'scrypt$1' })
      t.match(await store.accountByLogin('ALICE@example.com'), { user: { id: 'a-1' } })
      t.equal(await store.accountByLogin('bob'), undefined, 'a guest is no account')
      t.equal(await store.getUser('a-2'), undefined, 'nothing stored by a refused signup')
    })

    t.test('updateUser: a value replaces, null clears, absent keeps; a new name reaches the user\'s room profiles and later messages', async (t) => {
      const store = await fresh(t)
      await store.upsertProfile('room-1', 'u1', { username: 'Ada', avatarUrl: AVATAR }, 'set')
      await store.upsertProfile('room-2', 'u1', { username: 'Ada' }, 'set')
      const before = await store.append(draft({ userId: 'u1', username: null, avatar: null }))
      t.match(before, { username: 'Ada', avatar: AVATAR })
      const user = await store.updateUser('u1', { displayName: 'Ada L.', avatarUrl: OTHER_AVATAR, bio: 'hi', fields: { accent_color: '#f00' } })
      t.match(user, { id: 'u1', username: 'Ada', displayName: 'Ada L.', avatarUrl: OTHER_AVATAR, bio: 'hi', fields: { accent_color: '#f00' } })
      t.match(await store.getProfile('room-2', 'u1'), { username: 'Ada L.', avatarUrl: OTHER_AVATAR })
      t.match(await store.append(draft({ userId: 'u1', username: null, avatar: null })), { username: 'Ada L.', avatar: OTHER_AVATAR }, 'a later message carries the new name')
      t.match((await store.latest('room-1', 10))[0], { username: 'Ada' }, 'an old message keeps what it was stored with')
      const cleared = await store.updateUser('u1', { bio: null, fields: { accent_color: null } })
      t.match(cleared, { bio: null, fields: {}, displayName: 'Ada L.' })
      t.equal(await store.updateUser('ghost', { bio: 'x' }), undefined)
      await store.createUser({ id: 'a-1', username: 'Taken', passwordHash: 'scrypt$1' })
      await t.rejects(store.updateUser('u1', { username: 'taken' }), { name: 'ConflictError', field: 'username' })
    })

    t.test('searchUsers finds by name prefix, case-insensitively', async (t) => {
      const store = await fresh(t)
      await store.createUser({ id: '1', username: 'Alice' })
      await store.createUser({ id: '2', username: 'alfred' })
      await store.createUser({ id: '3', username: 'Bob' })
      await store.updateUser('3', { displayName: 'Albert' })
      t.same((await store.searchUsers('AL', 10)).map((u) => u.id).sort(), ['1', '2', '3'])
      t.same((await store.searchUsers('ali', 10)).map((u) => u.id), ['1'])
      t.same(await store.searchUsers('zed', 10), [])
      t.equal((await store.searchUsers('a', 2)).length, 2, 'at most limit')
    })

    t.test('setting keeps the first value made for a key', async (t) => {
      const store = await fresh(t)
      t.equal(await store.setting('signing_key', () => 'first'), 'first')
      t.equal(await store.setting('signing_key', () => 'second'), 'first')
    })

    const dm = (senderId: string, receiverId: string, content: string, clientId?: string) => ({ senderId, receiverId, content, senderUsername: senderId.toUpperCase(), senderAvatar: null, ...(clientId ? { clientId } : {}) })

    t.test('a direct message is stored under the pair key, oldest first, once per client_id', async (t) => {
      const store = await fresh(t)
      const first = await store.appendDirect(dm('bob', 'alice', 'hi'))
      t.match(first, { created: true, message: { conversationId: 'alice-bob', senderId: 'bob', receiverId: 'alice', content: 'hi', senderUsername: 'BOB', readAt: null, clientId: null } })
      t.match(first.message.createdAt, ISO_UTC)
      const ids = []
      for (let i = 0; i < 20; i++) ids.push((await store.appendDirect(dm(i % 2 ? 'alice' : 'bob', i % 2 ? 'bob' : 'alice', `m${i}`))).message.id)
      t.same(ids, [...ids].sort(), 'ids made in order sort in order, also within one millisecond')
      const page = await store.directPage('alice-bob', { limit: 5 })
      t.same(page.map((m) => m.content), ['m15', 'm16', 'm17', 'm18', 'm19'], 'the newest page, oldest first')
      t.same((await store.directPage('alice-bob', { limit: 3, beforeId: page[0].id })).map((m) => m.content), ['m12', 'm13', 'm14'])
      const once = await store.appendDirect(dm('bob', 'alice', 'retry me', 'c-1'))
      const again = await store.appendDirect(dm('bob', 'alice', 'retried', 'c-1'))
      t.same(again, { created: false, message: once.message })
      t.same(await store.directMessage(once.message.id), once.message)
    })

    t.test('undelivered DMs are claimed once, oldest first; a claim not marked delivered is free again after its lease', async (t) => {
      const store = await fresh(t)
      for (let i = 0; i < 3; i++) await store.appendDirect(dm('bob', 'alice', `m${i}`))
      await store.appendDirect(dm('alice', 'bob', 'to bob'))
      const claimed = await store.claimUndelivered('alice', 200, 100)
      t.same(claimed.map((m) => m.content), ['m0', 'm1', 'm2'])
      t.same(await store.claimUndelivered('alice', 200, 100), [], 'a second tab or instance gets none meanwhile')
      await store.markDelivered([claimed[0].id, claimed[1].id])
      await new Promise((resolve) => setTimeout(resolve, 250))
      t.same((await store.claimUndelivered('alice', 200, 100)).map((m) => m.content), ['m2'], 'only the one never marked comes back, after the lease')
      t.same((await store.claimUndelivered('bob', 200, 100)).map((m) => m.content), ['to bob'])
    })

    t.test('read marks, unread counts and conversations with their partners', async (t) => {
      const store = await fresh(t)
      await store.appendDirect(dm('bob', 'alice', 'b1'))
      await store.appendDirect(dm('bob', 'alice', 'b2'))
      await store.appendDirect(dm('carol', 'alice', 'c1'))
      await store.appendDirect(dm('alice', 'bob', 'a1'))
      t.equal(await store.unreadCount('alice'), 3)
      const list = await store.conversations('alice', 10)
      t.same(list.map((c) => [c.conversationId, c.partnerId, c.last.content, c.unread]), [['alice-bob', 'bob', 'a1', 2], ['alice-carol', 'carol', 'c1', 1]], 'newest first')
      t.equal(await store.markRead('alice-bob', 'alice'), 2)
      t.equal(await store.markRead('alice-bob', 'alice'), 0, 'nothing left to mark')
      t.equal(await store.markRead('nobody-none', 'alice'), 0, 'a pair key with no messages')
      t.equal(await store.unreadCount('alice'), 1)
      t.same((await store.partners('alice', 10)).sort(), ['bob', 'carol'])
    })

    t.test('a deleted conversation is hidden from the user who deleted it until a new message; a deleted message is gone', async (t) => {
      const store = await fresh(t)
      const old = await store.appendDirect(dm('bob', 'alice', 'old'))
      await store.hideConversation('alice-bob', 'alice')
      t.same(await store.conversations('alice', 10), [])
      t.equal((await store.conversations('bob', 10)).length, 1, 'the partner keeps it')
      t.same(await store.directPage('alice-bob', { limit: 10, viewerId: 'alice' }), [])
      await store.appendDirect(dm('bob', 'alice', 'new'))
      t.same((await store.directPage('alice-bob', { limit: 10, viewerId: 'alice' })).map((m) => m.content), ['new'])
      t.equal((await store.conversations('alice', 10)).length, 1, 'back with the new message')
      await store.deleteDirect(old.message.id)
      t.equal(await store.directMessage(old.message.id), undefined)
      t.same((await store.directPage('alice-bob', { limit: 10 })).map((m) => m.content), ['new'])
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
