import t from 'tap'
import { build } from './helper'

t.test('GET / answers 200', async (t) => {
  const app = await build(t)
  const res = await app.inject('/')
  t.equal(res.statusCode, 200)
})
