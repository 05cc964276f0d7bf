import t from 'tap'
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { connect, listen, until } from './helper'
import { startServer } from './child-server'

const AVATAR = 'https://cdn.example.com/alice.png'
const dm = (receiver: string, content: string, extra: object = {}) => ({ type: 'dm_message', sender_id: 'whoever', sender_username: '', sender_avatar: '', receiver_id: receiver, content, timestamp: new Date().toISOString(), ...extra })
const dms = (frames: any[]) => frames.filter((f) => f.type === 'dm_message')

t.test('the DM socket creates no room and answers keep_alive', async (t) => {
  const { app, wsBase } = await listen(t)
  const alice = await connect(t, `${wsBase}/ws/dm/alice?username=Alice`)
  await alice.settle()
  t.same((await app.inject({ url: '/rooms' })).json(), [], 'no "dm" room')
  t.equal((await app.inject({ url: '/users/alice' })).statusCode, 200, 'a DM user is a user')
})

t.test('a DM reaches every socket of the receiver; the sending socket gets dm_sent, the sender\'s other tab the message', async (t) => {
  const { app, wsBase } = await listen(t)
  await app.inject({ method: 'POST', url: '/rooms/lobby/join', payload: { user_id: 'alice', username: 'Alice', avatar_url: AVATAR } })
  const alice = await connect(t, `${wsBase}/ws/dm/alice?username=Alice`)
  const aliceTab2 = await connect(t, `${wsBase}/ws/dm/alice?username=Alice`)
  const bob = await connect(t, `${wsBase}/ws/dm/bob?username=Bob`)
  const bobTab2 = await connect(t, `${wsBase}/ws/dm/bob?username=Bob`)
  await Promise.all([alice, aliceTab2, bob, bobTab2].map((s) => s.settle()))
  alice.send(dm('bob', 'hello bob', { client_id: 'msg-1' }))
  const sent = await alice.ofType('dm_sent')
  const received = await bob.ofType('dm_message')
  t.match(received, { sender_id: 'alice', receiver_id: 'bob', content: 'hello bob', conversation_id: 'alice-bob', sender_username: 'Alice', sender_avatar: AVATAR, id: sent.id, client_id: 'msg-1' })
  t.match(received.timestamp, /Z$/)
  t.match(await bobTab2.ofType('dm_message'), { id: sent.id })
  t.match(await aliceTab2.ofType('dm_message'), { id: sent.id }, 'the sender\'s other tab')
  await alice.settle()
  t.same(dms(alice.frames), [], 'no echo to the sending socket: it has its optimistic copy')
  t.match(sent, { conversation_id: 'alice-bob', client_id: 'msg-1' })
})

t.test('DMs written while the receiver is away are pushed once when a DM socket connects, oldest first, even with two tabs', async (t) => {
  const { app, wsBase } = await listen(t)
  const alice = await connect(t, `${wsBase}/ws/dm/alice?username=Alice`)
  for (let i = 1; i <= 3; i++) alice.send(dm('bob', `m${i}`))
  for (let i = 0; i < 3; i++) await alice.ofType('dm_sent')
  const unread = (await app.inject({ url: '/users/bob/conversations' })).json()
  t.match(unread.contacts, [{ id: 'alice', conversation_id: 'alice-bob', unread: 3, username: 'Alice' }])
  t.equal((await app.inject({ url: '/users/bob/unread-count' })).json().count, 3)
  const [tab1, tab2] = await Promise.all([connect(t, `${wsBase}/ws/dm/bob`), connect(t, `${wsBase}/ws/dm/bob`)])
  await Promise.all([tab1.settle(), tab2.settle()])
  const pushed = [...dms(tab1.frames), ...dms(tab2.frames)]
  t.same(pushed.map((f) => f.content).sort(), ['m1', 'm2', 'm3'], 'each once across both tabs')
  const first = dms(tab1.frames).length > 0 ? tab1 : tab2
  t.same(dms(first.frames).map((f) => f.content), ['m1', 'm2', 'm3'], 'oldest first')
  tab1.socket.close()
  tab2.socket.close()
  const again = await connect(t, `${wsBase}/ws/dm/bob`)
  await again.settle()
  t.same(dms(again.frames), [], 'delivered: not pushed again')
})

t.test('partners see each other online: a snapshot on connect, then live joins and leaves', async (t) => {
  const { wsBase } = await listen(t)
  const alice = await connect(t, `${wsBase}/ws/dm/alice?username=Alice`)
  alice.send(dm('bob', 'hi'))
  await alice.ofType('dm_sent')
  const bob = await connect(t, `${wsBase}/ws/dm/bob?username=Bob`)
  t.match(await bob.next((f) => f.type === 'user_joined'), { user_id: 'alice', username: 'Alice' }, 'alice is online: one user_joined on connect')
  t.match(await alice.next((f) => f.type === 'user_joined'), { user_id: 'bob' }, 'alice learns bob came online')
  const carol = await connect(t, `${wsBase}/ws/dm/carol`)
  await carol.settle()
  t.same(carol.frames.filter((f) => f.type === 'user_joined'), [], 'not a partner: told nothing')
  bob.socket.close()
  t.match(await alice.next((f) => f.type === 'user_left'), { user_id: 'bob' })
})

t.test('read receipts: dm_read and POST /conversations/{id}/read reach the partner; a pair key with no messages is 200 with 0', async (t) => {
  const { app, wsBase } = await listen(t)
  const alice = await connect(t, `${wsBase}/ws/dm/alice`)
  const bob = await connect(t, `${wsBase}/ws/dm/bob`)
  await Promise.all([alice.settle(), bob.settle()])
  alice.send(dm('bob', 'one'))
  alice.send(dm('bob', 'two'))
  await bob.next((f) => f.type === 'dm_message' && f.content === 'two')
  bob.send({ type: 'dm_read', reader_id: 'bob', sender_id: 'alice', timestamp: Date.now() })
  t.match(await alice.ofType('dm_read'), { conversation_id: 'alice-bob', reader_id: 'bob' })
  t.equal((await app.inject({ url: '/users/bob/unread-count' })).json().count, 0)
  alice.send(dm('bob', 'three'))
  await bob.next((f) => f.type === 'dm_message' && f.content === 'three')
  const read = await app.inject({ method: 'POST', url: '/conversations/alice-bob/read', payload: { user_id: 'bob' } })
  t.same(read.json(), { success: true, marked: 1 })
  t.match(await alice.ofType('dm_read'), { reader_id: 'bob' })
  t.same((await app.inject({ method: 'POST', url: '/conversations/nobody-zed/read', payload: { user_id: 'zed' } })).json(), { success: true, marked: 0 })
})

t.test('REST: send (idempotent by client_id), pages, delete own messages only, delete a conversation for the caller', async (t) => {
  const { app } = await listen(t)
  const send = (content: string, clientId?: string) => app.inject({ method: 'POST', url: '/messages/direct', payload: { sender_id: 'alice', receiver_id: 'bob', content, ...(clientId ? { client_id: clientId } : {}) } })
  const first = (await send('first', 'c-1')).json()
  t.match(first, { type: 'dm_message', sender_id: 'alice', conversation_id: 'alice-bob', content: 'first' })
  t.equal((await send('first again', 'c-1')).json().id, first.id, 'a retry answers the stored message')
  for (let i = 0; i < 5; i++) await send(`m${i}`)
  const page = (await app.inject({ url: '/conversations/alice-bob/messages?limit=3' })).json()
  t.same(page.map((m: any) => m.content), ['m2', 'm3', 'm4'])
  t.same((await app.inject({ url: `/conversations/alice-bob/messages?limit=10&before=${page[0].id}` })).json().map((m: any) => m.content), ['first', 'm0', 'm1'])
  const foreign = await app.inject({ method: 'DELETE', url: `/messages/${first.id}`, payload: { user_id: 'bob' } })
  t.equal(foreign.statusCode, 403)
  t.match(foreign.json(), { code: 'not_your_message' })
  t.equal((await app.inject({ method: 'DELETE', url: `/messages/${first.id}`, payload: { user_id: 'alice' } })).statusCode, 200)
  t.equal((await app.inject({ method: 'DELETE', url: '/messages/msg-123-local', payload: { user_id: 'alice' } })).statusCode, 404, 'the client\'s own ids are unknown here')
  t.equal((await app.inject({ method: 'DELETE', url: '/conversations/alice-bob', payload: { user_id: 'bob' } })).statusCode, 200)
  t.same((await app.inject({ url: '/users/bob/conversations' })).json(), { conversations: [], contacts: [] }, 'gone for bob')
  t.equal((await app.inject({ url: '/users/alice/conversations' })).json().conversations.length, 1, 'alice keeps it')
})

t.test('bad DM frames get an error frame, store nothing, and keep the socket open', async (t) => {
  const { app, wsBase } = await listen(t, { maxContentLength: 10 })
  const alice = await connect(t, `${wsBase}/ws/dm/alice`)
  await alice.settle()
  const cases: Array<[unknown, string]> = [
    [dm('', 'no receiver'), 'invalid_receiver'],
    [{ type: 'dm_message', content: 'x' }, 'invalid_receiver'],
    [dm('bob', ''), 'empty_content'],
    [dm('bob', '   '), 'empty_content'],
    [dm('bob', 'x'.repeat(11)), 'content_too_long'],
    [dm('alice', 'to me'), 'self_message'],
    [dm('bob', 42 as unknown as string), 'invalid_frame'],
    [{ type: 'nope' }, 'unknown_type'],
    ['{not json', 'invalid_json'],
    ['[1,2]', 'invalid_frame']
  ]
  for (const [frame, code] of cases) {
    alice.send(frame)
    t.match(await alice.ofType('error'), { code }, JSON.stringify(frame).slice(0, 40))
  }
  await alice.settle()
  t.equal(alice.socket.readyState, 1, 'still open')
  t.same((await app.inject({ url: '/users/alice/conversations' })).json().conversations, [], 'nothing stored')
})

const databaseUrl = process.env.TEST_DATABASE_URL
const redisUrl = process.env.TEST_REDIS_URL
if (!databaseUrl || !redisUrl) {
  t.comment('TEST_DATABASE_URL and TEST_REDIS_URL are not both set: skipping DMs across instances')
} else {
  t.test('across instances: live on the other instance; offline DMs pushed once after the receiver\'s instance was killed', async (t) => {
    const id = randomBytes(6).toString('hex')
    const schema = `parley_test_dm_${id}`
    t.teardown(async () => {
      const admin = new pg.Pool({ connectionString: databaseUrl, max: 1 })
      await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
      await admin.end()
    })
    const env = { DATABASE_URL: databaseUrl, DATABASE_SCHEMA: schema, REDIS_URL: redisUrl, REDIS_PREFIX: `test-dm-${id}`, RATE_LIMIT_MAX: '1000000' }
    const a = await startServer(t, env)
    const b = await startServer(t, env)
    const alice = await connect(t, `${a.wsBase}/ws/dm/alice?username=Alice`)
    const bob = await connect(t, `${b.wsBase}/ws/dm/bob?username=Bob`)
    await Promise.all([alice.settle(), bob.settle()])
    alice.send(dm('bob', 'live across'))
    t.match(await bob.ofType('dm_message', 5000), { content: 'live across', sender_username: 'Alice' })
    await alice.ofType('dm_sent')
    // Once is the promise for a DM whose delivery mark committed; one killed between the
    // push and the mark is at-least-once (docs/websocket.md). Kill only after the mark.
    const db = new pg.Pool({ connectionString: databaseUrl, max: 1 })
    try {
      for (const deadline = Date.now() + 5000; ;) {
        const { rows } = await db.query(`SELECT 1 FROM ${schema}.direct_messages WHERE content = 'live across' AND delivered_at IS NOT NULL`)
        if (rows.length === 1) break
        if (Date.now() > deadline) throw new Error('the live DM was never marked delivered')
        await new Promise((resolve) => setTimeout(resolve, 5))
      }
    } finally {
      await db.end()
    }
    // Bob's instance dies; alice writes meanwhile; bob comes back on A.
    b.kill('SIGKILL')
    await bob.closed
    for (let i = 1; i <= 3; i++) alice.send(dm('bob', `while away ${i}`))
    for (let i = 0; i < 3; i++) await alice.ofType('dm_sent')
    const back = await connect(t, `${a.wsBase}/ws/dm/bob`)
    await until(() => dms(back.frames).length >= 3, 5000)
    await back.settle()
    t.same(dms(back.frames).map((f) => f.content), ['while away 1', 'while away 2', 'while away 3'], 'each once, in order; the one delivered live before is not pushed again')
  })
}
