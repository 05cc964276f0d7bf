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
