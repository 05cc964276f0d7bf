import t from 'tap'
import { build } from './helper'

async function fill (app: Awaited<ReturnType<typeof build>>, roomId: string, n: number) {
  for (let i = 1; i <= n; i++) await app.store.append({ roomId, userId: 'u', username: 'U', avatar: null, content: `m${i}` })
}
const seqs = (res: { json (): any }) => res.json().map((m: any) => m.seq)

t.test('before and after page by seq, oldest first within a page', async (t) => {
  const app = await build(t)
  await fill(app, 'r', 30)
  t.same(seqs(await app.inject('/rooms/r/messages?limit=5')), [26, 27, 28, 29, 30], 'the newest page by default')
  t.same(seqs(await app.inject('/rooms/r/messages?limit=5&before=26')), [21, 22, 23, 24, 25])
  t.same(seqs(await app.inject('/rooms/r/messages?limit=5&after=3')), [4, 5, 6, 7, 8])
  t.same(seqs(await app.inject('/rooms/r/messages?limit=50&after=3&before=7')), [4, 5, 6])
  t.same(seqs(await app.inject('/rooms/r/messages?limit=5&before=1')), [], 'nothing before the first')
  t.same(seqs(await app.inject('/rooms/r/messages?limit=5&after=30')), [], 'nothing after the last')
})

t.test('cursors by message id', async (t) => {
  const app = await build(t)
  await fill(app, 'r', 10)
  const page = (await app.inject('/rooms/r/messages?limit=10')).json()
  t.same(seqs(await app.inject(`/rooms/r/messages?limit=3&before_id=${page[5].id}`)), [3, 4, 5])
  t.same(seqs(await app.inject(`/rooms/r/messages?limit=3&after_id=${page[5].id}`)), [7, 8, 9])
  const unknown = await app.inject('/rooms/r/messages?before_id=nope')
  t.equal(unknown.statusCode, 404)
  t.match(unknown.json(), { error: 'Not Found', code: 'unknown_message', message: /nope/ })
})

t.test('walking back from the end page by page reads the whole history once', async (t) => {
  const app = await build(t)
  await fill(app, 'r', 237)
  const seen: number[] = []
  let before = ''
  for (let i = 0; i < 10; i++) {
    const page = seqs(await app.inject(`/rooms/r/messages?limit=50${before}`))
    if (page.length === 0) break
    seen.unshift(...page)
    before = `&before=${page[0]}`
  }
  t.same(seen, Array.from({ length: 237 }, (_, i) => i + 1))
})

t.test('bad cursors get 400', async (t) => {
  const app = await build(t)
  for (const query of ['before=-1', 'after=abc', 'before=1.5', `after_id=${'x'.repeat(200)}`]) {
    const res = await app.inject(`/rooms/r/messages?${query}`)
    t.equal(res.statusCode, 400, query)
    t.match(res.json(), { error: 'Bad Request', message: String })
  }
})

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i)

t.test('a page is the stored messages as JSON, as the store pages them', async (t) => {
  const app = await build(t)
  await app.store.upsertProfile('r', 'u', { avatarUrl: 'https://cdn.example.com/a.png' }, 'set')
  await fill(app, 'r', 3)
  await app.store.appendOnce({ roomId: 'r', userId: 'v', username: 'V "quoted"', avatar: null, content: 'é 🎉 \u0001', clientId: 'c-1' })
  const res = await app.inject('/rooms/r/messages?limit=10')
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /^application\/json; charset=utf-8/)
  t.same(res.json(), await app.store.page('r', { limit: 10 }))
  t.match(res.json(), [{ avatar: 'https://cdn.example.com/a.png' }, {}, {}, { client_id: 'c-1', avatar: null }], 'the avatar fill, the client_id')
})

t.test('a page bigger than HISTORY_MAX_BYTES (1 MiB) holds its newest messages that fit, oldest first, and pages on with before', async (t) => {
  const app = await build(t)
  // 4,000 control characters: ~24 kB of JSON each (\u00XX), ~2.4 MB for 100.
  const content = '\u0001'.repeat(4000)
  for (let i = 1; i <= 100; i++) await app.store.append({ roomId: 'r', userId: 'u', username: 'U', avatar: null, content })
  const newest = await app.inject('/rooms/r/messages?limit=100')
  t.equal(newest.statusCode, 200)
  t.ok(newest.rawPayload.length <= 1_048_576, `${newest.rawPayload.length} bytes`)
  const page = newest.json()
  t.ok(page.length >= 40 && page.length < 100, `${page.length} messages`)
  t.same(seqs(newest), range(101 - page.length, 100), 'the newest that fit, oldest first')
  const seen = [...seqs(newest)]
  for (let i = 0; i < 5 && seen[0] > 1; i++) {
    const older = await app.inject(`/rooms/r/messages?limit=100&before=${seen[0]}`)
    t.ok(older.rawPayload.length <= 1_048_576)
    seen.unshift(...seqs(older))
  }
  t.same(seen, range(1, 100), 'walking back with before reads every message once')
})

t.test('HISTORY_MAX_BYTES counts bytes, not characters, and a page that fits is whole', async (t) => {
  const app = await build(t, { historyMaxBytes: 65_536 })
  const content = 'é'.repeat(4000)
  for (let i = 1; i <= 20; i++) await app.store.append({ roomId: 'r', userId: 'u', username: 'U', avatar: null, content })
  const one = Buffer.byteLength(JSON.stringify((await app.store.page('r', { limit: 1 }))[0]))
  const res = await app.inject('/rooms/r/messages?limit=20')
  const fits = Math.floor((65_536 - 1) / (one + 1))
  t.ok(res.rawPayload.length <= 65_536, `${res.rawPayload.length} bytes`)
  t.same(seqs(res), range(21 - fits, 20), `${fits} messages of ${one} bytes`)
  t.same(seqs(await app.inject(`/rooms/r/messages?limit=${fits}`)), range(21 - fits, 20), 'exactly as many as fit: whole')
  t.same(seqs(await app.inject('/rooms/r/messages?limit=3&after=2')), [3, 4, 5], 'a small page is whole')
})

t.test('a forward page (after) bigger than HISTORY_MAX_BYTES keeps its oldest messages, so after= its last seq goes on without a gap', async (t) => {
  const app = await build(t, { historyMaxBytes: 65_536 })
  const content = '\u0001'.repeat(4000)
  for (let i = 1; i <= 12; i++) await app.store.append({ roomId: 'r', userId: 'u', username: 'U', avatar: null, content })
  const first = await app.inject('/rooms/r/messages?limit=100&after=0')
  t.ok(first.rawPayload.length <= 65_536, `${first.rawPayload.length} bytes`)
  const page = seqs(first)
  t.ok(page.length > 0 && page.length < 12, `${page.length} messages`)
  t.same(page, range(1, page.length), 'the oldest that fit')
  const seen = [...page]
  for (let i = 0; i < 12 && seen.length < 12; i++) seen.push(...seqs(await app.inject(`/rooms/r/messages?limit=100&after=${seen[seen.length - 1]}`)))
  t.same(seen, range(1, 12), 'walking forward with after reads every message once')
})
