import t from 'tap'
import { join } from 'node:path'
import { build } from './helper'

t.test('rooms, profiles and messages survive closing and reopening the app on the same SQLite file', async (t) => {
  const databaseUrl = join(t.testdir(), 'data', 'parley.db')
  const first = await build(t, { databaseUrl })
  await first.inject({ method: 'POST', url: '/rooms/r/join', payload: { user_id: 'u1', username: 'Alice', avatar_url: 'https://example.com/a.png' } })
  const posted = []
  for (const content of ['one', 'two', 'three']) {
    posted.push((await first.inject({ method: 'POST', url: '/rooms/r/messages', payload: { user_id: 'u1', content } })).json())
  }
  await first.close()

  const second = await build(t, { databaseUrl })
  t.same((await second.inject('/rooms/r/messages?limit=100')).json(), posted, 'the same messages, ids and seqs')
  t.match(await second.store.getProfile('r', 'u1'), { username: 'Alice', avatarUrl: 'https://example.com/a.png' })
  const next = (await second.inject({ method: 'POST', url: '/rooms/r/messages', payload: { user_id: 'u1', content: 'four' } })).json()
  t.equal(next.seq, 4, 'seq continues where it stopped')
})

t.test('the folders of a SQLite path are created at start', async (t) => {
  const dir = t.testdir()
  const app = await build(t, { databaseUrl: join(dir, 'nested', 'deeper', 'p.db') })
  const res = await app.inject({ method: 'POST', url: '/rooms/r/messages', payload: { user_id: 'u', content: 'x' } })
  t.equal(res.statusCode, 200)
})
