import t from 'tap'
import type { Test } from 'tap'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { createSqliteStore, SCHEMA_VERSION } from '../src/store/sqlite-store'
import { roomsQuery } from '../src/store/sqlite-rooms'
import { MIGRATIONS } from '../src/store/sqlite-schema'
import { mergeProfile } from '../src/store/store'
import { storeContract } from './store-contract'

const AVATAR = 'https://cdn.example.com/a.png'

storeContract(t, 'sqlite :memory:', async () => createSqliteStore({ filename: ':memory:' }))

// The same contract on a real file, where WAL and the on-disk schema are in play.
const contractDir = t.testdir()
let files = 0
storeContract(t, 'sqlite file', async () => createSqliteStore({ filename: join(contractDir, `contract-${++files}.db`) }))

/** A second, plain connection to a store's file, closed when the test ends. */
function inspect (t: Test, filename: string): Database.Database {
  const db = new Database(filename, { readonly: true, fileMustExist: true })
  t.teardown(() => db.close())
  return db
}

t.test('messages and profiles survive a close and reopen', async (t) => {
  const filename = join(t.testdir(), 'parley.db')
  const first = createSqliteStore({ filename })
  const { profile } = await first.upsertProfile('room-1', 'user-1', { username: 'Ada', avatarUrl: AVATAR }, 'set')
  const written = []
  for (let i = 1; i <= 3; i++) {
    written.push(await first.append({ roomId: 'room-1', userId: 'user-1', username: 'Ada', avatar: AVATAR, content: `m${i}` }))
  }
  await first.close()

  const second = createSqliteStore({ filename })
  t.teardown(() => second.close())
  t.same(await second.latest('room-1', 10), written)
  t.same(await second.getProfile('room-1', 'user-1'), profile)
  t.match(await second.upsertProfile('room-1', 'user-1', {}, 'fill'), { created: false })
  t.equal((await second.append({ roomId: 'room-1', userId: 'user-1', username: 'Ada', avatar: null, content: 'm4' })).seq, 4,
    'seq continues where it stopped')
})

t.test('a missing parent directory is created', async (t) => {
  const filename = join(t.testdir(), 'nested', 'deeper', 'parley.db')
  const store = createSqliteStore({ filename })
  t.teardown(() => store.close())
  await store.append({ roomId: 'r', userId: 'u', username: 'Ada', avatar: null, content: 'hi' })
  t.same(inspect(t, filename).prepare('SELECT content FROM messages').all(), [{ content: 'hi' }])
})

t.test('the schema migration records its version and is idempotent on reopen', async (t) => {
  const filename = join(t.testdir(), 'parley.db')
  const first = createSqliteStore({ filename })
  await first.append({ roomId: 'room-1', userId: 'user-1', username: 'Ada', avatar: null, content: 'kept' })
  await first.close()
  const version = new Database(filename, { readonly: true })
  const migrated = version.pragma('user_version', { simple: true })
  version.close()
  t.equal(migrated, SCHEMA_VERSION, 'user_version is the number of migrations applied')

  for (let i = 0; i < 2; i++) {
    const again = createSqliteStore({ filename })
    t.same((await again.latest('room-1', 10)).map((m) => m.content), ['kept'], `reopen ${i + 1} keeps the data`)
    await again.close()
  }
  const db = inspect(t, filename)
  t.equal(db.pragma('user_version', { simple: true }), SCHEMA_VERSION, 'user_version is unchanged by reopening')
  t.same(db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all(), ['direct_messages', 'dm_hidden', 'message_ids', 'messages', 'profiles', 'room_thumbnails', 'rooms', 'settings', 'users'])
})

t.test('a file db runs in WAL mode', async (t) => {
  const filename = join(t.testdir(), 'parley.db')
  const store = createSqliteStore({ filename })
  t.teardown(() => store.close())
  await store.ping()
  t.equal(inspect(t, filename).pragma('journal_mode', { simple: true }), 'wal')
})

t.test('a connect\'s profile is on disk when its write resolves, and commits with a message sent meanwhile', async (t) => {
  const filename = join(t.testdir(), 'parley.db')
  const store = createSqliteStore({ filename })
  t.teardown(() => store.close())
  const db = inspect(t, filename)
  const row = db.prepare('SELECT username FROM profiles WHERE room_id = ? AND user_id = ?').pluck()
  const members = db.prepare('SELECT member_count FROM rooms WHERE room_id = ?').pluck()

  // A lone profile: committed when it resolves, after its short wait for company.
  await store.upsertProfile('room-1', 'u1', { username: 'Ada' }, 'fill')
  t.equal(row.get('room-1', 'u1'), 'Ada')

  // A profile, then a message in the same turn: the message brings the commit forward,
  // and both are on disk when the message is acknowledged.
  const profile = store.upsertProfile('room-1', 'u2', { username: 'Bo' }, 'fill')
  const message = await store.append({ roomId: 'room-1', userId: 'u2', username: null, avatar: null, content: 'hi' })
  t.equal(message.username, 'Bo', 'the message took the profile written before it, in the same commit')
  t.equal(row.get('room-1', 'u2'), 'Bo')
  t.match(await profile, { created: true })

  // Two upserts of one profile waiting together: the second sees the first.
  const [first, second] = await Promise.all([
    store.upsertProfile('room-1', 'u3', { username: 'Cy' }, 'fill'),
    store.upsertProfile('room-1', 'u3', { avatarUrl: AVATAR }, 'fill')
  ])
  t.match(first, { created: true, profile: { username: 'Cy', avatarUrl: null } })
  t.match(second, { created: false, profile: { username: 'Cy', avatarUrl: AVATAR } })
  t.equal(members.get('room-1'), 3, 'one member each')
})

t.test('reading an unknown room writes no row', async (t) => {
  const filename = join(t.testdir(), 'parley.db')
  const store = createSqliteStore({ filename })
  t.teardown(() => store.close())
  t.same(await store.latest('never-seen', 100), [])
  t.same(await store.getProfile('never-seen', 'user-1'), undefined)
  const db = inspect(t, filename)
  t.same(db.prepare('SELECT room_id FROM rooms').pluck().all(), [])
  t.same(db.prepare('SELECT room_id FROM profiles').pluck().all(), [])
})

t.test('a store that is closed refuses further work', async (t) => {
  const store = createSqliteStore({ filename: ':memory:' })
  await store.close()
  await t.rejects(store.ping())
  await t.resolves(store.close())
})

t.test('mergeProfile', async (t) => {
  const stored = { username: 'Ada', avatarUrl: AVATAR }

  t.test('with no current profile both modes take the non-empty values', async (t) => {
    for (const mode of ['set', 'fill'] as const) {
      t.same(mergeProfile(undefined, { username: 'Bea', avatarUrl: AVATAR }, mode), { username: 'Bea', avatarUrl: AVATAR }, mode)
      t.same(mergeProfile(undefined, {}, mode), { username: null, avatarUrl: null }, `${mode} with nothing`)
      t.same(mergeProfile(undefined, { username: '', avatarUrl: null }, mode), { username: null, avatarUrl: null }, `${mode} with empties`)
    }
  })

  t.test('a set replaces stored values with non-empty ones', async (t) => {
    t.same(mergeProfile(stored, { username: 'Bea', avatarUrl: 'https://x.test/b.png' }, 'set'), { username: 'Bea', avatarUrl: 'https://x.test/b.png' })
    t.same(mergeProfile(stored, { username: 'Bea' }, 'set'), { username: 'Bea', avatarUrl: AVATAR })
  })

  t.test('missing, null or empty values never overwrite, in either mode', async (t) => {
    for (const mode of ['set', 'fill'] as const) {
      t.same(mergeProfile(stored, {}, mode), stored, `${mode} missing`)
      t.same(mergeProfile(stored, { username: null, avatarUrl: null }, mode), stored, `${mode} null`)
      t.same(mergeProfile(stored, { username: '', avatarUrl: '' }, mode), stored, `${mode} empty`)
    }
  })

  t.test('a fill never overwrites and only fills what is missing', async (t) => {
    t.same(mergeProfile(stored, { username: 'Bea', avatarUrl: 'https://x.test/b.png' }, 'fill'), stored)
    t.same(mergeProfile({ username: 'Ada', avatarUrl: null }, { username: 'Bea', avatarUrl: AVATAR }, 'fill'), { username: 'Ada', avatarUrl: AVATAR })
    t.same(mergeProfile({ username: null, avatarUrl: AVATAR }, { username: 'Bea' }, 'fill'), { username: 'Bea', avatarUrl: AVATAR })
  })
})

t.test('a database from a newer schema version is refused at open', async (t) => {
  const filename = join(t.testdir(), 'future.db')
  await createSqliteStore({ filename }).close()
  const db = new Database(filename)
  db.pragma('user_version = 99')
  db.close()
  t.throws(() => createSqliteStore({ filename }), /schema is version 99, newer than this build knows/)
})

t.test('a version 1 file is migrated in place and keeps its history', async (t) => {
  const filename = join(t.testdir(), 'v1.db')
  const db = new Database(filename)
  db.exec(`CREATE TABLE rooms (room_id TEXT PRIMARY KEY, created_at TEXT NOT NULL, last_seq INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;
    CREATE TABLE profiles (room_id TEXT NOT NULL, user_id TEXT NOT NULL, username TEXT, avatar_url TEXT, joined_at TEXT NOT NULL, PRIMARY KEY (room_id, user_id)) WITHOUT ROWID;
    CREATE TABLE messages (room_id TEXT NOT NULL, seq INTEGER NOT NULL, id TEXT NOT NULL UNIQUE, user_id TEXT NOT NULL, username TEXT NOT NULL,
      content TEXT NOT NULL, avatar TEXT, created_at TEXT NOT NULL, PRIMARY KEY (room_id, seq)) WITHOUT ROWID;
    INSERT INTO rooms VALUES ('r', '2026-01-01T00:00:00.000Z', 1);
    INSERT INTO messages VALUES ('r', 1, 'old-id', 'u', 'Ada', 'from v1', NULL, '2026-01-01T00:00:00.000Z');
    PRAGMA user_version = 1;`)
  db.close()
  const store = createSqliteStore({ filename })
  t.teardown(() => store.close())
  t.match(await store.latest('r', 10), [{ id: 'old-id', seq: 1, content: 'from v1' }])
  t.equal((await store.append({ roomId: 'r', userId: 'u', username: 'Ada', avatar: null, content: 'v2' })).seq, 2)
  t.equal(inspect(t, filename).pragma('user_version', { simple: true }), SCHEMA_VERSION)
  t.equal(await store.seqOf('r', 'old-id'), 1, 'an id issued by version 1 still finds its message')
})

t.test('a version 2 file is migrated to version 3: ids from before keep working as cursors, new ids need no index', async (t) => {
  const filename = join(t.testdir(), 'v2.db')
  const db = new Database(filename)
  db.exec(`CREATE TABLE rooms (room_id TEXT PRIMARY KEY, created_at TEXT NOT NULL, last_seq INTEGER NOT NULL DEFAULT 0,
      name TEXT, thumbnail_url TEXT, last_message_at TEXT) WITHOUT ROWID;
    CREATE TABLE profiles (room_id TEXT NOT NULL, user_id TEXT NOT NULL, username TEXT, avatar_url TEXT, joined_at TEXT NOT NULL, PRIMARY KEY (room_id, user_id)) WITHOUT ROWID;
    CREATE TABLE messages (room_id TEXT NOT NULL, seq INTEGER NOT NULL, id TEXT NOT NULL UNIQUE, user_id TEXT NOT NULL, username TEXT NOT NULL,
      content TEXT NOT NULL, avatar TEXT, created_at TEXT NOT NULL, client_id TEXT, PRIMARY KEY (room_id, seq)) WITHOUT ROWID;
    CREATE UNIQUE INDEX messages_client_id ON messages (room_id, user_id, client_id) WHERE client_id IS NOT NULL;
    INSERT INTO rooms (room_id, created_at) VALUES ('r', '2026-01-01T00:00:00.000Z');
    INSERT INTO messages VALUES ('r', 1, '0190a000-0000-7000-8000-00000000abcd', 'u', 'Ada', 'one', NULL, '2026-01-01T00:00:00.000Z', 'c-1');
    INSERT INTO messages VALUES ('r', 2, '3f1c2b9e-1d2a-4c3b-9a8f-112233445566', 'u', 'Ada', 'two', NULL, '2026-01-01T00:00:01.000Z', NULL);
    PRAGMA user_version = 2;`)
  db.close()
  const store = createSqliteStore({ filename })
  t.teardown(() => store.close())
  t.match(await store.latest('r', 10), [{ seq: 1, content: 'one', client_id: 'c-1' }, { seq: 2, content: 'two' }], 'history kept, client ids too')
  t.equal(await store.seqOf('r', '0190a000-0000-7000-8000-00000000abcd'), 1, 'an old UUIDv7 id whose low bits are not its seq')
  t.equal(await store.seqOf('r', '3f1c2b9e-1d2a-4c3b-9a8f-112233445566'), 2, 'an old random (v4) id')
  t.equal(await store.seqOf('s', '3f1c2b9e-1d2a-4c3b-9a8f-112233445566'), undefined, 'an old id in another room')
  const third = await store.append({ roomId: 'r', userId: 'u', username: 'Ada', avatar: null, content: 'three' })
  t.equal(third.seq, 3)
  t.equal(await store.seqOf('r', third.id), 3, 'a new id finds its message')
  t.match(await store.appendOnce({ roomId: 'r', userId: 'u', username: 'Ada', avatar: null, content: 'again', clientId: 'c-1' }),
    { created: false, message: { seq: 1 } }, 'the client_id index survived the rebuild')

  const file = inspect(t, filename)
  t.equal(file.pragma('user_version', { simple: true }), SCHEMA_VERSION)
  const indexes = file.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'messages' ORDER BY name").pluck().all()
  t.same(indexes, ['messages_client_id'], 'messages has no index on id any more')
  t.same(file.prepare('SELECT id, seq FROM message_ids ORDER BY seq').all().map((r: any) => r.seq), [1, 2], 'only the ids issued before version 3 are listed')
})

t.test('a room row keeps its activity, written with the append and the join: last seq, last message time, member count', async (t) => {
  const filename = join(t.testdir(), 'parley.db')
  const store = createSqliteStore({ filename })
  t.teardown(() => store.close())
  await store.upsertProfile('r', 'u1', { username: 'Ada' }, 'set')
  await store.upsertProfile('r', 'u2', { username: 'Bea' }, 'fill')
  await store.upsertProfile('r', 'u1', { username: 'Ada L.' }, 'set')
  const sent = await Promise.all([1, 2, 3].map((i) => store.append({ roomId: 'r', userId: 'u1', username: null, avatar: null, content: `m${i}` })))
  await store.append({ roomId: 'other', userId: 'u9', username: 'Cy', avatar: null, content: 'hi' })
  const db = inspect(t, filename)
  const row = (roomId: string) => db.prepare('SELECT last_seq, last_message_at, member_count FROM rooms WHERE room_id = ?').get(roomId)
  t.same(row('r'), { last_seq: 3, last_message_at: sent[2].timestamp, member_count: 2 }, 'three appends in one commit, two members')
  t.same(row('other'), { last_seq: 1, last_message_at: (await store.latest('other', 1))[0].timestamp, member_count: 0 }, 'a room made by its first message')
  t.match(await store.listRooms(10), [{ id: 'other', lastSeq: 1, memberCount: 0 }, { id: 'r', lastSeq: 3, memberCount: 2 }])
})

t.test('listing rooms reads the rooms_activity index: no subquery per room, no sort', async (t) => {
  const filename = join(t.testdir(), 'parley.db')
  await createSqliteStore({ filename }).close()
  const db = inspect(t, filename)
  const plan = (sql: string, ...params: unknown[]) => db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params).map((row: any) => row.detail as string)
  const all = plan(roomsQuery(''), 50)
  t.same(all, [all.find((step) => /^SCAN rooms USING INDEX rooms_activity/.test(step))], `one scan of the index: ${all.join('; ')}`)
  for (const [where, param] of [['WHERE category = ?', 'music'], ["WHERE category IS NULL OR category = '' OR category NOT IN (SELECT value FROM json_each(?))", '["music"]']]) {
    const steps = plan(roomsQuery(where), param, 50)
    t.notOk(steps.some((step) => /CORRELATED/.test(step)), `no correlated subquery: ${steps.join('; ')}`)
  }
})

t.test('a version 5 file is migrated to version 6: messages get their wire JSON, rooms their activity', async (t) => {
  const filename = join(t.testdir(), 'v5.db')
  const db = new Database(filename)
  for (const migration of MIGRATIONS.slice(0, 5)) db.exec(migration)
  db.exec(`INSERT INTO rooms (room_id, created_at, name) VALUES ('r', '2026-01-01T00:00:00.000Z', 'Lobby'), ('quiet', '2025-12-31T00:00:00.000Z', NULL);
    INSERT INTO profiles VALUES ('r', 'u', 'Ada', '${AVATAR}', '2026-01-01T00:00:00.000Z'), ('r', 'v', 'Bea', NULL, '2026-01-01T00:00:00.000Z');
    INSERT INTO messages (room_id, seq, id, user_id, username, content, avatar, created_at, client_id) VALUES
      ('r', 1, 'id-1', 'u', 'Ada', 'one', NULL, '2026-01-01T00:00:01.000Z', 'c-1'),
      ('r', 2, 'id-2', 'v', 'Bea "B"', 'two\nlines \u0001 é 🎉', 'https://x.test/own.png', '2026-01-01T00:00:02.000Z', NULL),
      ('r', 3, 'id-3', 'v', 'Bea', 'three', NULL, '2026-01-01T00:00:03.000Z', NULL);
    PRAGMA user_version = 5;`)
  db.close()
  const store = createSqliteStore({ filename })
  t.teardown(() => store.close())
  const page = await store.page('r', { limit: 10 })
  t.match(page, [
    { id: 'id-1', seq: 1, avatar: AVATAR, client_id: 'c-1' },
    { id: 'id-2', seq: 2, username: 'Bea "B"', content: 'two\nlines \u0001 é 🎉', avatar: 'https://x.test/own.png' },
    { id: 'id-3', seq: 3, avatar: null }
  ])
  t.same((await store.pageJson('r', { limit: 10 })).map((text) => JSON.parse(text)), page, 'every message has its wire JSON, and the avatar fill still applies')
  t.match(await store.listRooms(10), [
    { id: 'r', name: 'Lobby', lastSeq: 3, lastMessageAt: '2026-01-01T00:00:03.000Z', memberCount: 2 },
    { id: 'quiet', lastSeq: 0, lastMessageAt: null, memberCount: 0 }
  ], 'each room row has its activity')
  const fourth = await store.append({ roomId: 'r', userId: 'u', username: null, avatar: null, content: 'four' })
  t.match(fourth, { seq: 4, username: 'Ada', avatar: AVATAR })
  t.equal(inspect(t, filename).pragma('user_version', { simple: true }), SCHEMA_VERSION)
})
