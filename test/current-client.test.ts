import t from 'tap'
import type { Test } from 'tap'
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { build, connect, listen } from './helper'
import type { Config } from '../src/config'

// The current client's routes (users, accounts, room details) on every store: SQLite
// always, PostgreSQL when TEST_DATABASE_URL is set.
const databaseUrl = process.env.TEST_DATABASE_URL
const stores: Array<{ name: string, config: (t: Test) => Partial<Config> }> = [{ name: 'sqlite', config: () => ({}) }]
if (databaseUrl) {
  stores.push({
    name: 'postgres',
    config: (t) => {
      const schema = `parley_test_client_${randomBytes(6).toString('hex')}`
      t.teardown(async () => {
        const admin = new pg.Pool({ connectionString: databaseUrl, max: 1 })
        await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
        await admin.end()
      })
      return { databaseUrl, databaseSchema: schema }
    }
  })
} else {
  t.comment('TEST_DATABASE_URL is not set: the current client\'s routes are tested on SQLite only')
}

const JPEG = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), randomBytes(2000)])
const dataUrl = (type: string, data: Buffer) => `data:${type};base64,${data.toString('base64')}`
const AVATAR = 'https://cdn.example.com/a.png'

for (const { name, config } of stores) {
  t.test(`${name}: users`, async (t) => {
    t.test('GET /users/{id} answers every id seen in a room, with null for a missing avatar; 404 for one never seen', async (t) => {
      const app = await build(t, config(t))
      t.equal((await app.inject({ url: '/users/nobody' })).statusCode, 404)
      t.match((await app.inject({ url: '/users/nobody' })).json(), { error: 'Not Found', code: 'unknown_user' })
      await app.inject({ method: 'POST', url: '/rooms/r1/join', payload: { user_id: 'u1', username: 'Alice' } })
      const res = await app.inject({ url: '/users/u1' })
      t.equal(res.statusCode, 200)
      t.match(res.json(), { id: 'u1', username: 'Alice', display_name: null, avatar_url: null, avatar_urls: null, is_guest: true })
      t.notOk('email' in res.json())
    })

    t.test('POST /users creates a guest with a fresh id; an account\'s name is refused with 409', async (t) => {
      const app = await build(t, config(t))
      const guest = await app.inject({ method: 'POST', url: '/users', payload: { username: 'Guest-ab12' } })
      t.equal(guest.statusCode, 200)
      t.match(guest.json(), { username: 'Guest-ab12', is_guest: true })
      t.match(guest.json().id, /^[0-9a-f-]{36}$/)
      t.equal((await app.inject({ url: `/users/${guest.json().id}` })).json().username, 'Guest-ab12')
      await signup(app, 'carol')
      const taken = await app.inject({ method: 'POST', url: '/users', payload: { username: 'CAROL' } })
      t.equal(taken.statusCode, 409)
      t.match(taken.json(), { code: 'username_taken', message: /already registered/ })
      t.equal((await app.inject({ method: 'POST', url: '/users', payload: { username: '' } })).statusCode, 400)
      t.equal((await app.inject({ method: 'POST', url: '/users', payload: {} })).statusCode, 400)
    })

    t.test('PUT /users/{id}/profile: given fields change, "" clears; the new name reaches later messages, not old ones', async (t) => {
      const app = await build(t, config(t))
      await app.inject({ method: 'POST', url: '/rooms/r1/join', payload: { user_id: 'u1', username: 'Ada', avatar_url: AVATAR } })
      const old = (await app.inject({ method: 'POST', url: '/rooms/r1/messages', payload: { user_id: 'u1', content: 'before' } })).json()
      const put = await app.inject({
        method: 'PUT',
        url: '/users/u1/profile',
        payload: { display_name: 'Ada L.', username: 'Ada L.', bio: 'math', accent_color: '#ff0000', profile_video_url: 'https://v.example.com/1.mp4' }
      })
      t.equal(put.statusCode, 200)
      t.match(put.json(), { success: true, user: { id: 'u1', display_name: 'Ada L.', bio: 'math', accent_color: '#ff0000', profile_video_url: 'https://v.example.com/1.mp4' } })
      const later = (await app.inject({ method: 'POST', url: '/rooms/r1/messages', payload: { user_id: 'u1', content: 'after' } })).json()
      t.equal(later.username, 'Ada L.', 'a later message carries the new name')
      const history = (await app.inject({ url: '/rooms/r1/messages' })).json()
      t.same(history.map((m: any) => m.username), ['Ada', 'Ada L.'], 'the old message keeps its name')
      t.equal(old.username, 'Ada')
      const cleared = await app.inject({ method: 'PUT', url: '/users/u1/profile', payload: { profile_video_url: '', bio: '' } })
      t.match(cleared.json().user, { bio: null, display_name: 'Ada L.' })
      t.notOk('profile_video_url' in cleared.json().user, 'cleared')
      t.equal((await app.inject({ url: '/users/u1' })).json().display_name, 'Ada L.')
    })

    t.test('PUT profile refuses bad values with a 400 and stores nothing', async (t) => {
      const app = await build(t, config(t))
      await app.inject({ method: 'POST', url: '/users', payload: { username: 'x' } })
      await app.inject({ method: 'POST', url: '/rooms/r1/join', payload: { user_id: 'u1', username: 'Ada' } })
      for (const payload of [{ avatar_url: 'data:image/png;base64,AAAA' }, { avatar_url: 'javascript:alert(1)' }, { display_name: 'A' }, { email: 'nope' }, { bio: 'x'.repeat(501) }, { display_name: 'a\u0000b' }]) {
        const res = await app.inject({ method: 'PUT', url: '/users/u1/profile', payload })
        t.equal(res.statusCode, 400, JSON.stringify(payload))
        t.type(res.json().message, 'string')
      }
      t.match((await app.inject({ url: '/users/u1' })).json(), { username: 'Ada', display_name: null, bio: null, avatar_url: null })
      t.equal((await app.inject({ method: 'PUT', url: '/users/ghost/profile', payload: { bio: 'x' } })).statusCode, 404)
    })

    t.test('GET /users/search: a bare array by name prefix', async (t) => {
      const app = await build(t, config(t))
      for (const username of ['Alice', 'alfred', 'Bob']) await app.inject({ method: 'POST', url: '/users', payload: { username } })
      const res = await app.inject({ url: '/users/search?q=al&limit=20' })
      t.equal(res.statusCode, 200)
      t.same(res.json().map((u: any) => u.username).sort(), ['Alice', 'alfred'])
      t.equal((await app.inject({ url: '/users/search?q=' })).statusCode, 400)
    })
  })

  t.test(`${name}: accounts`, async (t) => {
    t.test('signup and login give {user, token}; the token works for the account, is refused for another', async (t) => {
      const app = await build(t, config(t))
      const { user, token } = await signup(app, 'dana', 'dana@example.com')
      t.match(user, { username: 'dana', email: 'dana@example.com', is_guest: false })
      const login = await app.inject({ method: 'POST', url: '/auth/login', payload: { username: 'DANA', password: 'correct horse 1' } })
      t.equal(login.statusCode, 200)
      t.equal(login.json().user.id, user.id)
      const byEmail = await app.inject({ method: 'POST', url: '/auth/login', payload: { username: 'Dana@Example.com', password: 'correct horse 1' } })
      t.equal(byEmail.json().user.id, user.id, 'login by email too')
      t.equal((await app.inject({ url: '/auth/me', headers: { authorization: `Bearer ${token}` } })).json().id, user.id)
      t.equal((await app.inject({ url: `/users/${user.id}`, headers: { authorization: `Bearer ${token}` } })).json().email, 'dana@example.com', 'the owner sees the email')
      t.notOk('email' in (await app.inject({ url: `/users/${user.id}` })).json(), 'nobody else does')

      // An account's profile changes only with its token: 401 without, 403 with another's.
      const noToken = await app.inject({ method: 'PUT', url: `/users/${user.id}/profile`, payload: { bio: 'x' } })
      t.equal(noToken.statusCode, 401)
      const other = await signup(app, 'eve')
      const foreign = await app.inject({ method: 'PUT', url: `/users/${user.id}/profile`, headers: { authorization: `Bearer ${other.token}` }, payload: { bio: 'x' } })
      t.equal(foreign.statusCode, 403)
      t.match(foreign.json(), { code: 'forbidden_user' })
      const own = await app.inject({ method: 'PUT', url: `/users/${user.id}/profile`, headers: { authorization: `Bearer ${token}` }, payload: { bio: 'mine', username: 'dana-renamed', display_name: 'Dana D.' } })
      t.equal(own.statusCode, 200)
      t.match(own.json().user, { bio: 'mine', username: 'dana', display_name: 'Dana D.' }, 'an account keeps its login name')
      t.equal((await app.inject({ method: 'POST', url: '/auth/logout', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } })).statusCode, 200, 'logout: a bodiless JSON POST is fine')
      t.equal((await app.inject({ method: 'POST', url: '/auth/logout', headers: { authorization: 'Bearer expired-or-junk' } })).statusCode, 200, 'logout never fails')
    })

    t.test('after a rename, the login name the client keeps sending stands for the display name (join, socket, messages)', async (t) => {
      const { app, base, wsBase } = await listen(t, config(t))
      const { user, token } = await signup(app, 'ivy')
      await app.inject({ method: 'PUT', url: `/users/${user.id}/profile`, headers: { authorization: `Bearer ${token}` }, payload: { display_name: 'Ivy R.', username: 'Ivy R.' } })
      // As the current client does after logging in again: its stored name is the login name.
      await fetch(`${base}/rooms/r1/join`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user_id: user.id, username: 'ivy' }) })
      const socket = await connect(t, `${wsBase}/ws/r1/${user.id}?username=ivy`)
      await socket.settle()
      socket.send({ content: 'hello', username: 'ivy' })
      t.match(await socket.ofType('message'), { username: 'Ivy R.' }, 'the message carries the display name')
      socket.send({ content: 'as someone', username: 'Pseudonym' })
      t.match(await socket.next((f) => f.type === 'message' && f.content === 'as someone'), { username: 'Pseudonym' }, 'another name given applies to that message, as before')
      t.match(await app.store.getProfile('r1', user.id), { username: 'Ivy R.' }, 'the join did not put the login name back')
    })

    t.test('signup refuses taken names (case-insensitive) and emails with 409, bad input with 400; nothing stored', async (t) => {
      const app = await build(t, config(t))
      await signup(app, 'frank', 'frank@example.com')
      const name = await app.inject({ method: 'POST', url: '/auth/signup', payload: { username: 'FRANK', email: 'f2@example.com', password: 'long enough 1' } })
      t.equal(name.statusCode, 409)
      t.match(name.json(), { code: 'username_taken', message: 'username already registered' })
      const email = await app.inject({ method: 'POST', url: '/auth/signup', payload: { username: 'frank2', email: 'FRANK@example.com', password: 'long enough 1' } })
      t.equal(email.statusCode, 409)
      t.match(email.json(), { code: 'email_taken' })
      for (const payload of [{ username: 'ab', email: 'a@b.co', password: 'long enough' }, { username: 'has space', email: 'a@b.co', password: 'long enough' }, { username: 'okname', email: 'not-an-email', password: 'long enough' }, { username: 'okname', email: 'a@b.co', password: 'short' }, { username: 'okname', email: 'a@b.co' }]) {
        const res = await app.inject({ method: 'POST', url: '/auth/signup', payload })
        t.equal(res.statusCode, 400, JSON.stringify(payload))
        t.type(res.json().message, 'string')
      }
      t.equal((await app.inject({ method: 'POST', url: '/auth/login', payload: { username: 'okname', password: 'long enough' } })).statusCode, 403, 'no account was made')
    })

    t.test('a wrong password is a 403 (never a 401), and failed logins are limited per name', async (t) => {
      const app = await build(t, { ...config(t), loginAttemptsPerName: 3 })
      await signup(app, 'gina')
      for (let i = 0; i < 3; i++) {
        const res = await app.inject({ method: 'POST', url: '/auth/login', payload: { username: 'gina', password: `wrong ${i}` } })
        t.equal(res.statusCode, 403)
        t.match(res.json(), { code: 'invalid_credentials', message: 'invalid username or password' })
      }
      const limited = await app.inject({ method: 'POST', url: '/auth/login', payload: { username: 'gina', password: 'correct horse 1' } })
      t.equal(limited.statusCode, 429, 'even the right password waits once the name is limited')
      t.equal((await app.inject({ method: 'POST', url: '/auth/login', payload: { username: 'nobody', password: 'x' } })).statusCode, 403, 'an unknown name: the same 403')
    })

    t.test('the signing key is kept in the store: a token outlives a restart', async (t) => {
      const shared = { ...config(t), databaseUrl: databaseUrl && name === 'postgres' ? databaseUrl : `${t.testdir()}/parley.db` }
      const first = await build(t, shared)
      const { user, token } = await signup(first, 'hank')
      await first.close()
      const second = await build(t, shared)
      t.equal((await second.inject({ url: '/auth/me', headers: { authorization: `Bearer ${token}` } })).json().id, user.id)
    })
  })

  t.test(`${name}: rooms`, async (t) => {
    t.test('POST /rooms keeps the details and an uploaded thumbnail, served back as Parley\'s own URL', async (t) => {
      const { app, base } = await listen(t, config(t))
      const created = await fetch(`${base}/rooms`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          name: '  Study hall ', category: 'Study', description: 'Quiet hours for exams', tags: ['exam', 'math', 'exam'], privacy: 'public',
          max_members: 50, host: { id: 'u1', username: 'Ada', avatar_url: AVATAR }, created_by: 'u1', thumbnail_url: dataUrl('image/jpeg', JPEG)
        })
      })
      t.equal(created.status, 200)
      const room = await created.json() as any
      t.match(room, { name: 'Study hall', category: 'Study', tags: ['exam', 'math'], privacy: 'public', maxMembers: 50, max_members: 50, host: { id: 'u1', username: 'Ada' }, created_by: 'u1', memberCount: 0, onlineCount: 0 })
      t.match(room.thumbnail_url, new RegExp(`^${base}/rooms/${room.id}/thumbnail\\?v=`), 'an http URL of Parley\'s, not the data URL')
      const image = await fetch(room.thumbnail_url)
      t.equal(image.status, 200)
      t.equal(image.headers.get('content-type'), 'image/jpeg')
      t.match(image.headers.get('cache-control'), /immutable/)
      t.ok(Buffer.from(await image.arrayBuffer()).equals(JPEG), 'the same bytes')
      const list = await (await fetch(`${base}/rooms`)).json() as any[]
      t.equal(list.length, 1)
      t.equal(list[0].thumbnail_url, room.thumbnail_url)
      t.ok(JSON.stringify(list).length < 2000, 'the list carries no data URL')
      t.equal((await app.inject({ url: '/rooms/nowhere/thumbnail' })).statusCode, 404)
    })

    t.test('POST /rooms refuses non-image, mislabelled and oversized data URLs', async (t) => {
      const app = await build(t, { ...config(t), thumbnailMaxBytes: 4096 })
      const post = (thumbnail: string) => app.inject({ method: 'POST', url: '/rooms', payload: { name: 'R', thumbnail_url: thumbnail } })
      const cases: Array<[string, number, string]> = [
        [dataUrl('image/svg+xml', Buffer.from('<svg onload="alert(1)"/>')), 400, 'invalid_thumbnail'],
        [dataUrl('text/html', Buffer.from('<b>x</b>')), 400, 'invalid_thumbnail'],
        [dataUrl('image/png', JPEG.subarray(0, 1000)), 400, 'invalid_thumbnail'],
        [dataUrl('image/jpeg', Buffer.concat([JPEG, randomBytes(5000)])), 413, 'thumbnail_too_large'],
        ['data:image/jpeg;base64,@@@', 400, 'invalid_thumbnail'],
        ['ftp://example.com/a.png', 400, 'invalid_thumbnail']
      ]
      for (const [thumbnail, status, code] of cases) {
        const res = await post(thumbnail)
        t.equal(res.statusCode, status, thumbnail.slice(0, 30))
        t.match(res.json(), { code })
      }
      t.same((await app.inject({ url: '/rooms' })).json(), [], 'no room was created')
      t.equal((await post(dataUrl('image/jpeg', JPEG.subarray(0, 3000)))).statusCode, 200, 'within the limit')
    })

    t.test('verify-password: 200 for the right password or no password, 403 for a wrong one, 404 for no room', async (t) => {
      const app = await build(t, config(t))
      const room = (await app.inject({ method: 'POST', url: '/rooms', payload: { name: 'Secret', privacy: 'password', password: 'open sesame' } })).json()
      t.equal(room.privacy, 'password')
      t.notOk('password' in room || 'password_hash' in room)
      const verify = (id: string, password: string) => app.inject({ method: 'POST', url: `/rooms/${id}/verify-password`, payload: { password } })
      t.equal((await verify(room.id, 'open sesame')).statusCode, 200)
      const wrong = await verify(room.id, 'guess')
      t.equal(wrong.statusCode, 403)
      t.match(wrong.json(), { code: 'wrong_password' })
      const open = (await app.inject({ method: 'POST', url: '/rooms', payload: { name: 'Open' } })).json()
      t.equal((await verify(open.id, 'anything')).statusCode, 200)
      t.equal((await verify('nowhere', 'x')).statusCode, 404)
      t.equal((await app.inject({ method: 'POST', url: '/rooms', payload: { name: 'No pw', privacy: 'password' } })).statusCode, 400)
    })

    t.test('GET /rooms?category=: a filter, "Other" with rooms of no or a non-standard category, over 10,000 rooms', async (t) => {
      const app = await build(t, config(t))
      const { store } = app
      const categories = ['Gaming', 'Study', 'Knitting', null, '']
      for (let i = 0; i < 10_000; i++) {
        const category = categories[i % 5]
        await store.createRoom({ id: `room-${i}`, name: `Room ${i}`, thumbnailUrl: null, category, description: null, tags: [], privacy: 'public', maxMembers: null, host: null, createdBy: null, passwordHash: null, thumbnail: null })
      }
      const gaming = (await app.inject({ url: '/rooms?category=Gaming&limit=500' })).json()
      t.equal(gaming.length, 500)
      t.ok(gaming.every((r: any) => r.category === 'Gaming'))
      const other = (await app.inject({ url: '/rooms?category=Other&limit=500' })).json()
      t.equal(other.length, 500)
      t.ok(other.every((r: any) => r.category === null || r.category === '' || r.category === 'Knitting'), 'Other: none, empty or non-standard')
      t.equal((await app.inject({ url: '/rooms?category=Sports' })).json().length, 0)
      t.equal((await app.inject({ url: '/rooms' })).json().length, 100, 'the default page')
    })

    t.test('GET /rooms counts who is online in memberCount and onlineCount', async (t) => {
      const { app, wsBase } = await listen(t, config(t))
      const room = (await app.inject({ method: 'POST', url: '/rooms', payload: { name: 'Live' } })).json()
      const a = await connect(t, `${wsBase}/ws/${room.id}/a`)
      const b = await connect(t, `${wsBase}/ws/${room.id}/b`)
      await Promise.all([a.settle(), b.settle()])
      const [listed] = (await app.inject({ url: '/rooms' })).json()
      t.match(listed, { memberCount: 2, onlineCount: 2, online_count: 2, member_count: 2 })
    })
  })
}

t.test('CORS preflights allow PUT and DELETE with the authorization and x-user-id headers', async (t) => {
  const app = await build(t)
  for (const method of ['PUT', 'DELETE']) {
    const res = await app.inject({
      method: 'OPTIONS',
      url: '/users/u1/profile',
      headers: { origin: 'http://localhost:3000', 'access-control-request-method': method, 'access-control-request-headers': 'content-type,authorization,x-user-id' }
    })
    t.equal(res.statusCode, 204)
    t.equal(res.headers['access-control-allow-origin'], 'http://localhost:3000')
    t.equal(res.headers['access-control-allow-credentials'], 'true')
    t.match(res.headers['access-control-allow-methods'], new RegExp(method))
    t.match(res.headers['access-control-allow-headers'], /authorization/)
    t.match(res.headers['access-control-allow-headers'], /x-user-id/)
  }
})

t.test('the room socket: who is online arrives as one user_joined per user, marked snapshot, to every socket', async (t) => {
  const { wsBase } = await listen(t)
  const alice = await connect(t, `${wsBase}/ws/lobby/alice?username=Alice`)
  await alice.settle()
  const bob = await connect(t, `${wsBase}/ws/lobby/bob?username=Bob`)
  await bob.settle()
  const carol = await connect(t, `${wsBase}/ws/lobby/carol?username=Carol`)
  await carol.settle()
  const snapshot = carol.frames.filter((f) => f.type === 'user_joined')
  t.same(snapshot.map((f) => [f.user_id, f.username, f.snapshot]).sort(), [['alice', 'Alice', true], ['bob', 'Bob', true]], 'a late joiner learns both, not itself')
  const live = await alice.next((f) => f.type === 'user_joined' && f.user_id === 'carol')
  t.equal(live.snapshot, undefined, 'a live join carries no snapshot mark')
  const withState = await connect(t, `${wsBase}/ws/lobby/dave?presence=1`)
  const state = await withState.ofType('room_state')
  t.same(state.users.map((u: any) => u.user_id).sort(), ['alice', 'bob', 'carol', 'dave'])
  t.match(state.users.find((u: any) => u.user_id === 'alice'), { username: 'Alice', avatar_url: null })
})

t.test('a typing_start right after the same socket\'s message is not relayed; a later one is', async (t) => {
  const { wsBase } = await listen(t, { typingAfterSendMs: 300 })
  const writer = await connect(t, `${wsBase}/ws/typing/w?username=W`)
  const watcher = await connect(t, `${wsBase}/ws/typing/r`)
  await Promise.all([writer.settle(), watcher.settle()])
  writer.send({ content: 'quick send' })
  writer.send({ type: 'typing_start' })
  await watcher.next((f) => f.type === 'message')
  await writer.settle()
  await new Promise((resolve) => setTimeout(resolve, 100))
  t.equal(watcher.frames.filter((f) => f.type === 'typing_start').length, 0, 'the debounce\'s late typing_start is dropped')
  await new Promise((resolve) => setTimeout(resolve, 300))
  writer.send({ type: 'typing_start' })
  t.match(await watcher.ofType('typing_start'), { user_id: 'w', username: 'W' })
})

async function signup (app: Awaited<ReturnType<typeof build>>, username: string, email = `${username}@example.com`) {
  const res = await app.inject({ method: 'POST', url: '/auth/signup', payload: { username, email, password: 'correct horse 1' } })
  if (res.statusCode !== 200) throw new Error(`signup ${username}: ${res.statusCode} ${res.body}`)
  return res.json() as { user: any, token: string }
}
