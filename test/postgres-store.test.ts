import t from 'tap'
import type { Test } from 'tap'
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { createPostgresStore, SCHEMA_VERSION } from '../src/store/postgres-store'
import { MIGRATIONS } from '../src/store/postgres-schema'
import type { NewMessage, Store as RoomStore } from '../src/store/store'
import { storeContract } from './store-contract'

const AVATAR = 'https://cdn.example.com/a.png'
const url = process.env.TEST_DATABASE_URL

function draft (overrides: Partial<NewMessage> = {}): NewMessage {
  return { roomId: 'room-1', userId: 'user-1', username: 'Ada', avatar: AVATAR, content: 'hello', ...overrides }
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i)

if (url === undefined || url === '') {
  t.comment('TEST_DATABASE_URL is not set: skipping the PostgreSQL store suite')
  t.test('postgres store', { skip: 'TEST_DATABASE_URL is not set' }, async () => {})
} else {
  postgresSuite(url)
}

function postgresSuite (connectionString: string): void {
  // Every store lives in a schema of its own, dropped when it is closed (and, whatever
  // happened, when the file ends), so tests share nothing and leave nothing behind.
  const admin = new pg.Pool({ connectionString, max: 2 })
  const schemas = new Set<string>()
  t.teardown(async () => {
    for (const schema of schemas) await dropSchema(schema)
    await admin.end()
  })

  function newSchema (): string {
    const schema = `parley_test_${randomBytes(6).toString('hex')}`
    schemas.add(schema)
    return schema
  }

  async function dropSchema (schema: string): Promise<void> {
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
    schemas.delete(schema)
  }

  /** A store on `schema`, closed when the test ends. */
  async function open (t: Test, schema: string, poolSize?: number): Promise<RoomStore> {
    const store = await createPostgresStore({ connectionString, schema, poolSize })
    t.teardown(() => store.close())
    return store
  }

  /** A store in a fresh schema that is dropped when the test ends. */
  async function fresh (t: Test): Promise<{ store: RoomStore, schema: string }> {
    const schema = newSchema()
    t.teardown(() => dropSchema(schema))
    return { store: await open(t, schema), schema }
  }

  storeContract(t, 'postgres', async () => {
    const schema = newSchema()
    const store = await createPostgresStore({ connectionString, schema })
    return {
      ...store,
      async close () {
        await store.close()
        await dropSchema(schema)
      }
    }
  })

  t.test('two instances appending to one room at once get seqs 1..200 without gap or repeat', async (t) => {
    const { store: a, schema } = await fresh(t)
    const b = await open(t, schema)
    const appends = range(1, 100).flatMap((i) => [
      a.append(draft({ userId: 'user-a', content: `a${i}` })),
      b.append(draft({ userId: 'user-b', content: `b${i}` }))
    ])
    const written = await Promise.all(appends)
    t.strictSame(written.map((m) => m.seq).sort((x, y) => x - y), range(1, 200))
    const history = await b.latest('room-1', 500)
    t.strictSame(history.map((m) => m.seq), range(1, 200), 'history is in seq order')
    t.strictSame(history.map((m) => m.id).sort(), written.map((m) => m.id).sort(), 'history holds every appended message once')
    const timestamps = history.map((m) => m.timestamp)
    t.strictSame(timestamps, [...timestamps].sort(), 'timestamps never run backwards in seq order')
    for (const user of ['a', 'b']) {
      const own = history.filter((m) => m.user_id === `user-${user}`).map((m) => m.content)
      t.strictSame(own.length, 100, `every append of instance ${user} is there`)
    }
    t.equal(await a.lastSeq('room-1'), 200)
  })

  t.test('a reader following with afterSeq while two instances write never sees a hole', async (t) => {
    const { store: a, schema } = await fresh(t)
    const b = await open(t, schema)
    const reader = await open(t, schema, 2)
    const writes = Promise.all(range(1, 100).flatMap((i) => [
      a.append(draft({ content: `a${i}` })),
      b.append(draft({ content: `b${i}` }))
    ]))
    // Seq order is commit order: a message is never visible before every smaller seq is.
    const seen: number[] = []
    let holes = 0
    for (let i = 0; i < 10_000 && seen.length < 200; i++) {
      const page = await reader.page('room-1', { limit: 50, afterSeq: seen.length })
      page.forEach((m, j) => { if (m.seq !== seen.length + j + 1) holes++ })
      seen.push(...page.map((m) => m.seq))
    }
    await writes
    t.equal(holes, 0, 'every page starts right after the cursor and has no gap')
    t.strictSame(seen, range(1, 200))
  })

  t.test('two instances retrying one clientId at once store it once and take one seq', async (t) => {
    const { store: a, schema } = await fresh(t)
    const b = await open(t, schema)
    const once = { ...draft(), clientId: 'c-1' }
    const results = await Promise.all(range(1, 20).map((i) => (i % 2 === 0 ? a : b).appendOnce(once)))
    t.equal(results.filter((r) => r.created).length, 1, 'exactly one created')
    t.equal(new Set(results.map((r) => r.message.id)).size, 1, 'all the same id')
    t.equal(await a.lastSeq('room-1'), 1, 'no seq was consumed by a losing twin')
    t.equal((await b.append(draft())).seq, 2, 'the next append follows on without a gap')
  })

  t.test('two stores starting at once on a fresh schema both migrate it, and it is recorded once', async (t) => {
    const schema = newSchema()
    t.teardown(() => dropSchema(schema))
    const stores = await Promise.all(range(1, 4).map(() => createPostgresStore({ connectionString, schema })))
    t.teardown(() => Promise.all(stores.map((s) => s.close())))
    const { rows } = await admin.query(`SELECT version FROM ${schema}.parley_schema_version ORDER BY version`)
    t.strictSame(rows.map((r) => r.version), range(1, SCHEMA_VERSION), 'each version is recorded once')
    const written = await stores[0].append(draft())
    t.strictSame(await stores[3].latest('room-1', 10), [written], 'the instances share one database')
  })

  t.test('the tables live in the schema asked for, and reopening keeps the version', async (t) => {
    const { store, schema } = await fresh(t)
    await store.close()
    await open(t, schema)
    const { rows } = await admin.query(
      "SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name", [schema])
    t.strictSame(rows.map((r) => r.table_name), ['direct_messages', 'dm_hidden', 'messages', 'parley_schema_version', 'profiles', 'room_thumbnails', 'rooms', 'settings', 'users'])
    const versions = await admin.query(`SELECT version FROM ${schema}.parley_schema_version`)
    t.equal(versions.rows.length, SCHEMA_VERSION, 'reopening applies nothing twice')
  })

  t.test('stores in different schemas do not see each other', async (t) => {
    const { store: a } = await fresh(t)
    const { store: b } = await fresh(t)
    await a.append(draft())
    await a.upsertProfile('room-1', 'user-1', { username: 'Ada' }, 'set')
    t.strictSame(await b.latest('room-1', 10), [])
    t.equal(await b.getProfile('room-1', 'user-1'), undefined)
    t.equal((await b.append(draft())).seq, 1)
  })

  t.test('without the schema option, the search_path of the connection string is used', async (t) => {
    const schema = newSchema()
    t.teardown(() => dropSchema(schema))
    await admin.query(`CREATE SCHEMA ${schema}`)
    const withPath = new URL(connectionString)
    withPath.searchParams.set('options', `-c search_path=${schema}`)
    const store = await createPostgresStore({ connectionString: withPath.href })
    t.teardown(() => store.close())
    const written = await store.append(draft())
    const { rows } = await admin.query(`SELECT id FROM ${schema}.messages`)
    t.strictSame(rows, [{ id: written.id }], 'the tables were created in that schema')
  })

  t.test('a schema option that the connection string overrides is refused', async (t) => {
    const schema = newSchema()
    const other = newSchema()
    t.teardown(() => dropSchema(schema))
    t.teardown(() => dropSchema(other))
    await admin.query(`CREATE SCHEMA ${other}`)
    const withPath = new URL(connectionString)
    withPath.searchParams.set('options', `-c search_path=${other}`)
    await t.rejects(createPostgresStore({ connectionString: withPath.href, schema }), /search_path does not select schema/)
    const { rows } = await admin.query('SELECT table_name FROM information_schema.tables WHERE table_schema = $1', [other])
    t.strictSame(rows, [], 'nothing was created in the other schema')
  })

  t.test('a database from a newer schema version is refused at start', async (t) => {
    const { store, schema } = await fresh(t)
    await store.close()
    await admin.query(`INSERT INTO ${schema}.parley_schema_version (version) VALUES (99)`)
    await t.rejects(createPostgresStore({ connectionString, schema }), /schema is version 99, newer than this build knows/)
  })

  t.test('an invalid schema name is refused before connecting', async (t) => {
    await t.rejects(createPostgresStore({ connectionString, schema: 'bad"; DROP SCHEMA public; --' }), /invalid PostgreSQL schema name/)
  })

  t.test('messages, profiles and retries survive a close and reopen', async (t) => {
    const { store: first, schema } = await fresh(t)
    const { profile } = await first.upsertProfile('room-1', 'user-1', { username: 'Ada', avatarUrl: AVATAR }, 'set')
    const written = []
    for (let i = 1; i <= 3; i++) written.push(await first.append(draft({ content: `m${i}` })))
    const once = await first.appendOnce({ ...draft({ content: 'once' }), clientId: 'c-1' })
    await first.close()

    const second = await open(t, schema)
    t.strictSame(await second.latest('room-1', 10), [...written, once.message])
    t.strictSame(await second.getProfile('room-1', 'user-1'), profile)
    t.strictSame(await second.appendOnce({ ...draft({ content: 'retried' }), clientId: 'c-1' }), { created: false, message: once.message })
    t.equal((await second.append(draft({ content: 'm5' }))).seq, 5, 'seq continues where it stopped')
  })

  t.test('seqs and counts are JavaScript numbers, not bigint strings', async (t) => {
    const { store } = await fresh(t)
    await store.upsertProfile('room-1', 'user-1', { username: 'Ada' }, 'set')
    const message = await store.append(draft())
    t.strictSame([typeof message.seq, typeof (await store.latest('room-1', 1))[0].seq], ['number', 'number'])
    t.strictSame(await store.seqOf('room-1', message.id), 1)
    t.strictSame(await store.lastSeq('room-1'), 1)
    t.match(await store.listRooms(1), [{ lastSeq: 1, memberCount: 1 }])
    const [room] = await store.listRooms(1)
    t.strictSame([typeof room.lastSeq, typeof room.memberCount], ['number', 'number'])
  })

  t.test('concurrent upserts of one profile lose neither value', async (t) => {
    const { store } = await fresh(t)
    for (let i = 0; i < 5; i++) {
      const userId = `user-${i}`
      const results = await Promise.all([
        store.upsertProfile('room-1', userId, { username: 'Ada' }, 'fill'),
        store.upsertProfile('room-1', userId, { avatarUrl: AVATAR }, 'fill')
      ])
      t.equal(results.filter((r) => r.created).length, 1, 'one of them created it')
      t.match(await store.getProfile('room-1', userId), { username: 'Ada', avatarUrl: AVATAR })
    }
  })

  t.test('a room row keeps its member count, written with the join, exact under concurrent joins from two instances', async (t) => {
    const { store: a, schema } = await fresh(t)
    const b = await open(t, schema)
    await Promise.all(range(1, 20).flatMap((i) => [
      (i % 2 ? a : b).upsertProfile('room-1', `user-${i}`, { username: `U${i}` }, 'set'),
      (i % 2 ? b : a).upsertProfile('room-1', `user-${i}`, { avatarUrl: AVATAR }, 'fill')
    ]))
    await a.upsertProfile('room-1', 'user-1', { username: 'again' }, 'set')
    await b.append(draft({ userId: 'not-a-member' }))
    const { rows } = await admin.query(`SELECT last_seq, member_count FROM ${schema}.rooms WHERE room_id = 'room-1'`)
    t.strictSame(rows, [{ last_seq: '1', member_count: 20 }])
    t.match(await a.listRooms(10), [{ id: 'room-1', memberCount: 20, lastSeq: 1 }])
  })

  t.test('a newest page kept by one instance follows what another writes: messages, joins, profile edits', async (t) => {
    const { store: a, schema } = await fresh(t)
    const b = await open(t, schema)
    const newest = async () => (await a.pageJson('room-1', { limit: 100 })).map((text) => JSON.parse(text))
    await b.append(draft({ userId: 'late', avatar: null, content: 'm1' }))
    t.same((await newest()).map((m) => m.content), ['m1'])
    t.same((await newest()).map((m) => m.content), ['m1'], 'read twice')
    await b.append(draft({ content: 'm2' }))
    t.same((await newest()).map((m) => m.content), ['m1', 'm2'], 'a message from the other instance')
    await b.upsertProfile('room-1', 'late', { avatarUrl: AVATAR }, 'fill')
    t.same((await newest())[0].avatar, AVATAR, 'a join with an avatar on the other instance')
    await b.updateUser('late', { avatarUrl: 'https://cdn.example.com/c.png' })
    t.same((await newest())[0].avatar, 'https://cdn.example.com/c.png', 'a profile edit on the other instance')
    await admin.query(`UPDATE ${schema}.profiles SET avatar_url = NULL WHERE user_id = 'late'`)
    t.same((await newest())[0].avatar, null, 'a write by anything else (the trigger counts every writer)')
    t.strictSame(await newest(), await b.page('room-1', { limit: 100 }))
  })

  t.test('a version 3 schema is migrated to version 4: messages get their wire JSON, rooms their member count', async (t) => {
    const schema = newSchema()
    t.teardown(() => dropSchema(schema))
    await admin.query(`CREATE SCHEMA ${schema}`)
    const client = new pg.Client({ connectionString, options: `-c search_path=${schema}` })
    await client.connect()
    try {
      for (const migration of MIGRATIONS.slice(0, 3)) await client.query(migration)
      await client.query(`CREATE TABLE parley_schema_version (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now());
        INSERT INTO parley_schema_version (version) VALUES (1), (2), (3);
        INSERT INTO rooms (room_id, created_at, last_seq, last_message_at, name) VALUES ('r', '2026-01-01T00:00:00.000Z', 3, '2026-01-01T00:00:03.000Z', 'Lobby');
        INSERT INTO profiles VALUES ('r', 'u', 'Ada', '${AVATAR}', '2026-01-01T00:00:00.000Z'), ('r', 'v', 'Bea', NULL, '2026-01-01T00:00:00.000Z');
        INSERT INTO messages (room_id, seq, id, user_id, username, content, avatar, created_at, client_id) VALUES
          ('r', 1, 'id-1', 'u', 'Ada', 'one', NULL, '2026-01-01T00:00:01.000Z', 'c-1'),
          ('r', 2, 'id-2', 'v', 'Bea "B"', E'two\\nlines \\u0001 é 🎉 \\\\', 'https://x.test/own.png', '2026-01-01T00:00:02.000Z', NULL),
          ('r', 3, 'id-3', 'v', 'Bea', 'three', NULL, '2026-01-01T00:00:03.000Z', NULL);`)
    } finally {
      await client.end()
    }
    const store = await open(t, schema)
    const page = await store.page('r', { limit: 10 })
    t.match(page, [
      { id: 'id-1', seq: 1, avatar: AVATAR, client_id: 'c-1', timestamp: '2026-01-01T00:00:01.000Z' },
      { id: 'id-2', seq: 2, username: 'Bea "B"', content: 'two\nlines \u0001 é 🎉 \\', avatar: 'https://x.test/own.png' },
      { id: 'id-3', seq: 3, avatar: null }
    ])
    t.strictSame((await store.pageJson('r', { limit: 10 })).map((text) => JSON.parse(text)), page, 'every message has its wire JSON, and the avatar fill still applies')
    t.match(await store.listRooms(10), [{ id: 'r', name: 'Lobby', lastSeq: 3, memberCount: 2 }])
    const fourth = await store.append(draft({ roomId: 'r', userId: 'u', username: null, avatar: null, content: 'four' }))
    t.strictSame(JSON.parse((await store.pageJson('r', { limit: 1 }))[0]), fourth, 'a new message\'s JSON is what the append answered')
    const { rows } = await admin.query(`SELECT version FROM ${schema}.parley_schema_version ORDER BY version`)
    t.strictSame(rows.map((r) => r.version), range(1, SCHEMA_VERSION))
  })

  t.test('a batch whose connection is killed before it commits is redone on another: each message once, in order, and the pool carries on', async (t) => {
    const { store, schema } = await fresh(t)
    await store.append(draft({ roomId: 'r', content: 'm1' }))
    // The room's row locked from outside: the next batch waits on it, uncommitted.
    const holder = await admin.connect()
    await holder.query('BEGIN')
    await holder.query(`SELECT 1 FROM ${schema}.rooms WHERE room_id = 'r' FOR UPDATE`)
    const pending = range(2, 6).map((i) => store.append(draft({ roomId: 'r', content: `m${i}` })))
    let pid: number | undefined
    for (let i = 0; i < 200 && pid === undefined; i++) {
      const { rows } = await admin.query(`SELECT pid FROM pg_stat_activity WHERE application_name = 'parley' AND wait_event_type = 'Lock'
        AND query LIKE '%WITH input%'`)
      pid = rows[0]?.pid
      if (pid === undefined) await new Promise((resolve) => setTimeout(resolve, 25))
    }
    t.ok(pid, 'the batch waits on the room lock')
    await admin.query('SELECT pg_terminate_backend($1)', [pid])
    await holder.query('COMMIT')
    holder.release()
    const stored = await Promise.all(pending)
    t.strictSame(stored.map((m) => [m.seq, m.content]), range(2, 6).map((i) => [i, `m${i}`]), 'redone one by one, in call order')
    const after = await Promise.all(range(7, 30).map((i) => store.append(draft({ roomId: 'r', content: `m${i}` }))))
    t.strictSame(after.map((m) => m.seq), range(7, 30), 'later batches run on live connections')
    t.strictSame((await store.latest('r', 100)).map((m) => m.content), range(1, 30).map((i) => `m${i}`), 'each message stored once')
  })

  t.test('a closed store refuses further work', async (t) => {
    const { store } = await fresh(t)
    await store.close()
    await t.rejects(store.ping())
    await t.resolves(store.close())
  })
}
