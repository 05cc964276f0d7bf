import t from 'tap'
import { messageId, seqInMessageId, uuidv7 } from '../src/store/ids'
import { FORMAT_CHAR, FORMAT_CHARS } from '../src/schemas/format-chars'

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

t.test('a message id is a UUIDv7 carrying its time and its seq', async (t) => {
  const now = Date.parse('2026-11-24T12:00:00.000Z')
  for (const seq of [1, 2, 255, 256, 65_535, 1_000_000, 2 ** 32 + 7, 2 ** 48 - 1]) {
    const id = messageId(seq, now)
    t.match(id, UUID_V7, `seq ${seq}`)
    t.equal(seqInMessageId(id), seq, `seq ${seq} comes back`)
    t.equal(Number.parseInt(id.replace(/-/g, '').slice(0, 12), 16), now, 'the first 48 bits are the time')
  }
})

t.test('message ids of one seq differ by time and randomness', async (t) => {
  // Same seq, same millisecond: only the 26 random bits tell them apart. Among 1000
  // such ids a pair collides in about 1 run of 130 (birthday bound, 1000² / 2 / 2²⁶),
  // so the test asks for what the bits give, not for what they cannot promise: more
  // than 5 collisions has odds below 1e-14; ids without their randomness collide all.
  const ids = new Set<string>()
  for (let i = 0; i < 1000; i++) ids.add(messageId(42, 1_700_000_000_000))
  t.ok(ids.size >= 995, `1000 ids for seq 42 in the same millisecond: ${ids.size} different`)
  t.not(messageId(42, 1_700_000_000_000).slice(0, 13), messageId(42, 1_700_000_000_001).slice(0, 13), 'the time is in the id')
})

t.test('seqs a message id cannot hold are refused', async (t) => {
  for (const seq of [0, -1, 1.5, 2 ** 48, Number.NaN]) t.throws(() => messageId(seq), RangeError, String(seq))
})

t.test('strings that are not a version 7 UUID carry no seq', async (t) => {
  for (const id of ['', 'not an id', 'old-id', '3f1c2b9e-1d2a-4c3b-9a8f-112233445566', '0190A000-0000-7000-8000-000000000001',
    '0190a000-0000-7000-8000-000000000000', `${messageId(5)}x`, ` ${messageId(5)}`]) {
    t.equal(seqInMessageId(id), undefined, JSON.stringify(id))
  }
})

t.test('uuidv7 ids are ordered by time', async (t) => {
  const a = uuidv7(1_700_000_000_000)
  const b = uuidv7(1_700_000_000_001)
  t.match(a, UUID_V7)
  t.ok(a < b)
})

t.test('the spelled format characters are exactly \\p{Cf}, with and without the u flag', async (t) => {
  const spelled = `[${FORMAT_CHARS.bmp}]|${FORMAT_CHARS.astral}`
  const withU = new RegExp(`^(?:${spelled})$`, 'u')
  const withoutU = new RegExp(`^(?:${spelled})$`)
  let cf = 0
  let wrong = 0
  for (let cp = 0; cp <= 0x10FFFF; cp++) {
    if (cp >= 0xD800 && cp <= 0xDFFF) continue
    const char = String.fromCodePoint(cp)
    const isCf = FORMAT_CHAR.test(char)
    if (isCf) cf++
    if (withU.test(char) !== isCf || withoutU.test(char) !== isCf) wrong++
  }
  t.ok(cf > 100, `${cf} format characters`)
  t.equal(wrong, 0, 'no code point told apart differently')
})
