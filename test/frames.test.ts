import t from 'tap'
import type { Test } from 'tap'
import { ChatError } from '../src/chat/errors'
import { cleanAvatar, cleanUsername, displayName } from '../src/chat/text'
import { parseClientFrame } from '../src/socket/frames'

const text = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value))
const parse = (value: unknown) => parseClientFrame(text(value), false)

/** The ChatError parseClientFrame throws for `data`; fails the test if it throws none. */
function refusal (t: Test, data: Buffer, isBinary = false): ChatError | undefined {
  try {
    const parsed = parseClientFrame(data, isBinary)
    t.fail(`${data.toString()} was accepted as ${JSON.stringify(parsed)}`)
  } catch (err) {
    t.type(err, ChatError, 'a ChatError')
    t.equal((err as ChatError).statusCode, 400)
    return err as ChatError
  }
  return undefined
}

t.test('a chat frame without a type is a chat message', async (t) => {
  t.same(parse({ content: 'hi' }), { kind: 'chat', frame: { content: 'hi' } })
})

t.test('a chat frame with type "message" is a chat message', async (t) => {
  t.same(parse({ type: 'message', content: 'hi' }), { kind: 'chat', frame: { type: 'message', content: 'hi' } })
})

t.test('a chat frame with type null is a chat message without a type', async (t) => {
  const parsed = parse({ type: null, content: 'hi' })
  t.same(parsed, { kind: 'chat', frame: { content: 'hi' } })
  t.notOk(parsed.kind === 'chat' && 'type' in parsed.frame, 'the null type is dropped')
})

t.test('a chat frame keeps its optional fields, null included', async (t) => {
  t.same(parse({ content: 'hi', username: 'Ada', avatar: 'https://x.test/a.png', user_id: 'someone-else' }),
    { kind: 'chat', frame: { content: 'hi', username: 'Ada', avatar: 'https://x.test/a.png', user_id: 'someone-else' } })
  t.same(parse({ content: 'hi', username: null, avatar: null }), { kind: 'chat', frame: { content: 'hi', username: null, avatar: null } })
  t.same(parse({ content: '', username: '' }), { kind: 'chat', frame: { content: '', username: '' } },
    'empty content is the session\'s business, not the parser\'s')
})

t.test('a chat frame is decoded as UTF-8', async (t) => {
  t.same(parse({ content: 'héllo 🎉 — ✓' }), { kind: 'chat', frame: { content: 'héllo 🎉 — ✓' } })
})

t.test('typing frames with a numeric timestamp or none are typing', async (t) => {
  t.same(parse({ type: 'typing_start', timestamp: 1735000000000 }), { kind: 'typing', frame: { type: 'typing_start', timestamp: 1735000000000 } })
  t.same(parse({ type: 'typing_stop', timestamp: 1735000000001 }), { kind: 'typing', frame: { type: 'typing_stop', timestamp: 1735000000001 } })
  t.same(parse({ type: 'typing_start' }), { kind: 'typing', frame: { type: 'typing_start' } })
  t.same(parse({ type: 'typing_stop' }), { kind: 'typing', frame: { type: 'typing_stop' } })
})

t.test('a typing frame with a string timestamp is refused as invalid_frame', async (t) => {
  for (const type of ['typing_start', 'typing_stop']) {
    const err = refusal(t, text({ type, timestamp: '2025-01-01T00:00:00Z' }))
    t.equal(err?.code, 'invalid_frame', type)
    t.match(err?.message, /timestamp/, 'the message names the field')
  }
})

t.test('keep_alive and pong are recognised', async (t) => {
  t.same(parse({ type: 'keep_alive' }), { kind: 'keep_alive' })
  t.same(parse({ type: 'pong' }), { kind: 'pong' })
  t.same(parse({ type: 'keep_alive', content: 'ignored' }), { kind: 'keep_alive' }, 'extra fields do not matter')
})

t.test('text that is not JSON is refused as invalid_json', async (t) => {
  for (const raw of ['{nope', '', 'hello', '{"content": "hi"', "{'content': 'hi'}"]) {
    t.equal(refusal(t, text(raw))?.code, 'invalid_json', JSON.stringify(raw))
  }
})

t.test('JSON that is not an object is refused as invalid_frame', async (t) => {
  for (const raw of ['[]', '[{"content":"hi"}]', '42', 'null', '"hi"', 'true']) {
    t.equal(refusal(t, text(raw))?.code, 'invalid_frame', raw)
  }
})

t.test('an unknown type is refused as unknown_type and named', async (t) => {
  const err = refusal(t, text({ type: 'dance', content: 'hi' }))
  t.equal(err?.code, 'unknown_type')
  t.match(err?.message, /"dance"/)
  t.equal(refusal(t, text({ type: 'MESSAGE', content: 'hi' }))?.code, 'unknown_type', 'types are case-sensitive')
  t.equal(refusal(t, text({ type: '', content: 'hi' }))?.code, 'unknown_type', 'an empty type is not a chat message')
})

t.test('an unknown type is quoted at most 64 characters long', async (t) => {
  const err = refusal(t, text({ type: 'x'.repeat(10_000) }))
  t.equal(err?.code, 'unknown_type')
  t.ok((err?.message.length ?? Infinity) < 120, 'the echoed type is truncated')
  t.match(err?.message, `"${'x'.repeat(64)}"`)
})

t.test('a type that is not a string is refused as unknown_type', async (t) => {
  for (const type of [42, 0, true, false, {}, ['message']]) {
    const err = refusal(t, text({ type, content: 'hi' }))
    t.equal(err?.code, 'unknown_type', JSON.stringify(type))
    t.match(err?.message, /must be a string/)
  }
})

t.test('a binary frame is refused as binary_not_supported, even when it holds JSON', async (t) => {
  t.equal(refusal(t, text({ content: 'hi' }), true)?.code, 'binary_not_supported')
  t.equal(refusal(t, Buffer.from([0xff, 0x00, 0x01]), true)?.code, 'binary_not_supported')
})

t.test('a chat frame whose content is not a string is refused as invalid_frame', async (t) => {
  for (const frame of [{ content: 42 }, { content: null }, { content: ['hi'] }, {}, { type: 'message' }, { type: null }]) {
    const err = refusal(t, text(frame))
    t.equal(err?.code, 'invalid_frame', JSON.stringify(frame))
    t.match(err?.message, /content/, 'the message names the field')
  }
})

t.test('a chat frame with a non-string username or avatar is refused as invalid_frame', async (t) => {
  t.equal(refusal(t, text({ content: 'hi', username: 42 }))?.code, 'invalid_frame')
  t.equal(refusal(t, text({ content: 'hi', avatar: { url: 'x' } }))?.code, 'invalid_frame')
})

t.test('cleanUsername', async (t) => {
  t.equal(cleanUsername('Ada'), 'Ada')
  t.equal(cleanUsername('  Ada Lovelace \n'), 'Ada Lovelace', 'trimmed')
  t.equal(cleanUsername('x'.repeat(64)), 'x'.repeat(64), '64 characters is within the limit')
  t.equal(cleanUsername(` ${'x'.repeat(64)} `), 'x'.repeat(64), 'the limit applies after trimming')
  for (const value of ['', '   ', '\t\n', 'x'.repeat(65), undefined, null, 42, {}, ['Ada']]) {
    t.equal(cleanUsername(value), undefined, `${JSON.stringify(value) ?? 'undefined'} is not a username`)
  }
})

t.test('cleanAvatar', async (t) => {
  for (const url of ['https://cdn.example.com/a.png', 'http://localhost:3000/a.png?size=64&x=1', `https://x.test/${'a'.repeat(2048 - 'https://x.test/'.length)}`]) {
    t.equal(cleanAvatar(url), url, `keeps ${url.slice(0, 40)}`)
  }
  for (const value of [
    '', 'https://', 'javascript:alert(1)', 'data:image/png;base64,AAAA', 'ftp://x.test/a.png', '/relative.png',
    'https://x.test/a b.png', ' https://x.test/a.png', `https://x.test/${'a'.repeat(2048)}`, undefined, null, 42, {}
  ]) {
    t.equal(cleanAvatar(value), undefined, `drops ${String(JSON.stringify(value)).slice(0, 40)}`)
  }
})

t.test('displayName', async (t) => {
  t.equal(displayName('Ada'), 'Ada')
  t.equal(displayName(''), 'Anonymous')
  t.equal(displayName(null), 'Anonymous')
  t.equal(displayName(undefined), 'Anonymous')
})
