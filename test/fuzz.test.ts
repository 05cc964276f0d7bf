import t from 'tap'
import fc from 'fast-check'
import http from 'node:http'
import WebSocket from 'ws'
import { BUDGET, CONFIG as BUDGET_CONFIG, HEAVY, SLACK, watchQueues } from './byte-budget'
import { listen, until } from './helper'

// Every property runs against one live in-process server, with the rate limits out of
// the way: this file is about what bad input does, not about how much of it.
const LIMITS = {
  maxContentLength: 4000,
  maxFrameBytes: 65_536,
  bodyLimitBytes: 65_536,
  historyMaxLimit: 10_000,
  rateLimitMax: 100_000_000,
  wsMessageRate: 100_000,
  wsMessageBurst: 1_000_000,
  wsFrameRate: 100_000,
  wsFrameBurst: 1_000_000,
  maxSocketsPerIp: 100_000,
  newRoomsPerIp: 100_000_000,
  corsOrigins: ['https://app.example.com', 'http://localhost:3000'],
  corsOriginPattern: /^(?:https:\/\/preview-[a-z0-9-]+\.example\.app)$/
}
const RUNS = 250
const PROPERTY_MS = 8000

// ---------------------------------------------------------------- oracles

const CONTROL_OR_SLASH = /[\u0000-\u001F\u007F/]/
/** NUL and lone surrogates: text no store keeps as given (refused, see src/chat/text.ts). */
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/
/** Format characters (bidi controls, zero-width…): refused in ids and names. */
const FORMAT = /\p{Cf}/u
const codePoints = (s: string) => [...s].length

/** The id rule: 1–128 UTF-16 units (one rule for REST and the socket), no control or format characters, no '/'. */
function validId (v: unknown): v is string {
  return typeof v === 'string' && v.length > 0 && v.length <= 128 && !CONTROL_OR_SLASH.test(v) && !UNSTORABLE.test(v) && !FORMAT.test(v)
}
const disguisedName = (v: unknown) => typeof v === 'string' && FORMAT.test(v)
/** Schema string limits (username, type) count UTF-16 units; content counts code points. */
const optionalString = (v: unknown, max = Infinity) =>
  v === undefined || v === null || (typeof v === 'string' && v.length <= max)
const goodContent = (v: unknown) =>
  typeof v === 'string' && v.trim() !== '' && codePoints(v) <= LIMITS.maxContentLength && !UNSTORABLE.test(v)

/** Would POST /rooms/:room/messages store this (already parsed) JSON body? */
function validMessageBody (body: unknown): boolean {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return false
  const b = body as Record<string, unknown>
  return validId(b.user_id) && optionalString(b.username, 64) && !disguisedName(b.username) && goodContent(b.content) &&
    optionalString(b.type, 32) && (b.client_id === undefined || validId(b.client_id))
}

type FrameOutcome =
  | { kind: 'message' }
  | { kind: 'error', code: string }
  | { kind: 'ping' }
  | { kind: 'nothing' }
  | { kind: 'close', codes: number[] }

/** What the sender of one text frame gets back, per the README's frame table. */
function frameOutcome (text: string): FrameOutcome {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return { kind: 'error', code: 'invalid_json' }
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { kind: 'error', code: 'invalid_frame' }
  const f = value as Record<string, unknown>
  switch (f.type) {
    case undefined:
    case null:
    case 'message':
      if (typeof f.content !== 'string' || !optionalString(f.username) || !optionalString(f.avatar) ||
        (f.client_id !== undefined && !validId(f.client_id))) return { kind: 'error', code: 'invalid_frame' }
      if (f.content.trim() === '') return { kind: 'error', code: 'empty_content' }
      // A JSON escape can carry a lone surrogate or NUL into the content: refused, as on REST.
      if (UNSTORABLE.test(f.content)) return { kind: 'error', code: 'invalid_content' }
      if (codePoints(f.content) > LIMITS.maxContentLength) return { kind: 'error', code: 'content_too_long' }
      if (disguisedName(f.username)) return { kind: 'error', code: 'invalid_username' }
      return { kind: 'message' }
    case 'typing_start':
    case 'typing_stop':
      // Relayed to the others, never back to the sender.
      return f.timestamp === undefined || typeof f.timestamp === 'number' ? { kind: 'nothing' } : { kind: 'error', code: 'invalid_frame' }
    case 'keep_alive':
      return { kind: 'ping' }
    case 'pong':
      return { kind: 'nothing' }
    default:
      return { kind: 'error', code: 'unknown_type' }
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true })
function isUtf8 (bytes: Uint8Array): boolean {
  try {
    utf8.decode(bytes)
    return true
  } catch {
    return false
  }
}

// ---------------------------------------------------------------- plumbing

function expect (condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(message)
}

interface Answer { status: number, headers: http.IncomingHttpHeaders, text: string }

const agent = new http.Agent({ keepAlive: true, maxSockets: 4 })
t.teardown(() => agent.destroy())

/** One HTTP request; null when Node itself refuses to send it (an invalid header or path). */
function request (port: number, opts: { method: string, path: string, headers?: Record<string, string>, body?: Uint8Array | string, fresh?: boolean }): Promise<Answer | null> {
  return new Promise((resolve, reject) => {
    let req: http.ClientRequest
    try {
      req = http.request({ agent: opts.fresh ? false : agent, host: '127.0.0.1', port, method: opts.method, path: opts.path, headers: opts.headers })
    } catch {
      return resolve(null)
    }
    req.setTimeout(10_000, () => req.destroy(new Error(`${opts.method} ${opts.path.slice(0, 100)}: no answer within 10 s`)))
    req.on('error', reject)
    req.on('upgrade', (res, socket) => {
      socket.destroy()
      resolve({ status: res.statusCode!, headers: res.headers, text: '' })
    })
    req.on('response', (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, text: Buffer.concat(chunks).toString() }))
      res.on('error', reject)
    })
    req.end(opts.body)
  })
}

/** Never a 5xx; a 4xx is `{error, message}` with no stack trace. */
function checkStatus (res: Answer, what: string): void {
  expect(res.status < 500, `${what}: ${res.status} ${res.text.slice(0, 300)}`)
  if (res.status < 400) return
  let body: any
  try {
    body = JSON.parse(res.text)
  } catch {
    throw new Error(`${what}: a ${res.status} whose body is not JSON: ${res.text.slice(0, 200)}`)
  }
  expect(typeof body?.error === 'string' && typeof body?.message === 'string', `${what}: a ${res.status} without {error, message}: ${res.text.slice(0, 200)}`)
  expect(!('stack' in body) && !/\n\s+at /.test(res.text), `${what}: a stack trace in a ${res.status}`)
}

async function property<T> (t: tap.Test, name: string, arb: fc.Arbitrary<T>, predicate: (value: T) => Promise<void>, numRuns = RUNS, ms = PROPERTY_MS) {
  const details = await fc.check(fc.asyncProperty(arb, predicate), {
    numRuns,
    plugins: [fc.interruptAfterTimeLimit(ms)],
    // A failure prints its seed: FUZZ_SEED=<seed> npx tap test/fuzz.test.ts replays it.
    ...(process.env.FUZZ_SEED ? { seed: Number(process.env.FUZZ_SEED) } : {})
  })
  if (details.failed) {
    const error = details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance)
    t.fail(`${name}: ${error}\n${fc.defaultReportMessage(details)}`)
  }
  else t.pass(`${name} (${details.numRuns} runs)`)
}

// ---------------------------------------------------------------- arbitraries

/** Strings of every kind a client might send for an id or a name. */
const junkString = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: 'binary-ascii', maxLength: 40 }),
  fc.constantFrom('', ' ', '/', 'a/b', '..', '.', '%', '%2F', '\u0000', '\n', '\u007f', '\u202e', '😀', 'é', '\ud800x'),
  fc.integer({ min: 100, max: 700 }).map((n) => 'x'.repeat(n)),
  fc.integer({ min: 100, max: 300 }).map((n) => '😀'.repeat(n))
)
const junkValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: junkString },
  fc.constant(undefined),
  fc.constant(null),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.jsonValue({ maxDepth: 3 })
)
let unique = 0
/** A fresh valid client_id (idempotency keys must not repeat by accident), or junk that is never valid. */
const clientId = fc.oneof(
  fc.constant(undefined),
  fc.constant('fresh').map(() => `cid-${++unique}`),
  fc.constantFrom('', 'a/b', '\u0001', 'x'.repeat(129), 7, null, { id: 1 }, ['x'])
)
const content = fc.oneof(
  { weight: 3, arbitrary: fc.string({ minLength: 1, maxLength: 50 }) },
  fc.string({ unit: 'binary', maxLength: 50 }),
  fc.constantFrom('', ' ', '\n\t ', '\u00a0', '\u2028', '\u3000', '\ufeff', '😀'),
  // Around the content limit and past it, up to past the body limit.
  fc.integer({ min: LIMITS.maxContentLength - 2, max: LIMITS.maxContentLength + 2 }).map((n) => 'c'.repeat(n)),
  fc.integer({ min: LIMITS.maxContentLength - 2, max: LIMITS.maxContentLength + 2 }).map((n) => '😀'.repeat(n)),
  fc.integer({ min: 4000, max: 70_000 }).map((n) => 'h'.repeat(n)),
  junkValue
)
const messageLike = fc.record({
  user_id: fc.oneof({ weight: 3, arbitrary: fc.constantFrom('alice', 'mock-1735-abc123', '6f1c1d2e-0000-4000-8000-000000000000') }, junkValue),
  username: fc.oneof({ weight: 2, arbitrary: fc.constantFrom(undefined, null, 'Alice', '') }, junkValue),
  content,
  type: fc.oneof({ weight: 2, arbitrary: fc.constantFrom(undefined, null, 'message', 'text') }, junkValue),
  client_id: clientId,
  extra: fc.option(fc.dictionary(fc.string({ maxLength: 10 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }))
}).map(({ extra, ...fields }) => ({ ...(extra ?? {}), ...fields }))
const nested = fc.integer({ min: 1, max: 20_000 }).chain((depth) =>
  fc.constantFrom(`${'['.repeat(depth)}${']'.repeat(depth)}`, `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`, '['.repeat(depth)))
const jsonBody = fc.oneof(
  { weight: 4, arbitrary: messageLike.map((v) => JSON.stringify(v)) },
  fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)),
  fc.anything({ maxDepth: 3 }).map((v) => { try { return JSON.stringify(v) ?? 'undefined' } catch { return '{}' } }),
  nested,
  fc.string({ unit: 'binary', maxLength: 100 })
)

// ---------------------------------------------------------------- properties

t.test('fuzzing REST and WebSocket input', async (t) => {
  const { app, base, wsBase } = await listen(t, LIMITS)
  const port = Number(new URL(base).port)
  const history = async (room: string): Promise<any[]> => {
    const res = await request(port, { method: 'GET', path: `/rooms/${encodeURIComponent(room)}/messages?limit=10000` })
    expect(res && res.status === 200, `history of ${room}: ${res?.status} ${res?.text.slice(0, 200)}`)
    return JSON.parse(res.text)
  }
  const alive = async (what: string) => {
    const res = await request(port, { method: 'GET', path: '/' })
    t.equal(res?.status, 200, `the server answers GET / after ${what}`)
  }

  await t.test('random JSON bodies to POST /rooms/:room/messages', async (t) => {
    const stored = new Map<string, string>()
    await property(t, 'never a 5xx; 200 exactly for a valid message; 4xx is {error, message}', jsonBody, async (body) => {
      const res = await request(port, { method: 'POST', path: '/rooms/fuzz-json/messages', headers: { 'content-type': 'application/json' }, body })
      expect(res, 'the request was sent')
      checkStatus(res, `body ${body.slice(0, 200)}`)
      let parsed: unknown
      let parses = true
      try { parsed = JSON.parse(body) } catch { parses = false }
      const tooBig = Buffer.byteLength(body) > LIMITS.bodyLimitBytes
      // Fastify's parser refuses prototype-poisoning keys outright.
      const poisoned = /"(__proto__|constructor)"/.test(body)
      const valid = parses && !tooBig && validMessageBody(parsed)
      if (valid && !poisoned) {
        expect(res.status === 200, `a valid message got ${res.status} ${res.text.slice(0, 300)} for ${body.slice(0, 200)}`)
      } else if (!valid) {
        expect(res.status >= 400, `an invalid body got ${res.status}: ${body.slice(0, 300)}`)
      }
      if (res.status === 200) {
        const message = JSON.parse(res.text)
        expect(message.content === (parsed as any).content && message.room_id === 'fuzz-json', `the answer is not the message sent: ${res.text.slice(0, 200)}`)
        stored.set(message.id, message.content)
      }
    })
    const kept = await history('fuzz-json')
    t.equal(kept.length, stored.size, `exactly the accepted messages are stored (${stored.size})`)
    t.same(kept.map((m) => [m.id, m.content]).sort(), [...stored.entries()].sort(), 'with the content each was accepted with')
    await alive('random JSON bodies')
  })

  await t.test('random raw bytes and content types to POST /rooms/:room/messages', async (t) => {
    const stored = new Set<string>()
    const bytes = fc.oneof(
      fc.uint8Array({ maxLength: 300 }),
      // A valid message whose content carries bytes that are not UTF-8.
      fc.uint8Array({ minLength: 1, maxLength: 20 }).map((junk) => Buffer.concat([
        Buffer.from('{"user_id":"raw","content":"x'), Buffer.from(junk.map((b) => (b === 0x22 || b === 0x5c ? 0xff : b))), Buffer.from('"}')
      ])),
      jsonBody.map((s) => Buffer.from(s))
    )
    const contentType = fc.oneof(
      fc.constantFrom(undefined, 'application/json', 'application/json; charset=utf-8', 'application/json; charset=latin1',
        'APPLICATION/JSON', 'text/plain', 'text/plain; charset=utf-8', 'application/x-www-form-urlencoded',
        'multipart/form-data; boundary=x', 'application/octet-stream', 'application/json-patch+json', '', ';', 'application/'),
      fc.string({ maxLength: 40 })
    )
    await property(t, 'never a 5xx; 4xx is {error, message}; a 200 is a stored message', fc.tuple(bytes, contentType), async ([body, type]) => {
      const headers: Record<string, string> = type === undefined ? {} : { 'content-type': type }
      const res = await request(port, { method: 'POST', path: '/rooms/fuzz-raw/messages', headers, body })
      if (!res) return // Node refused the header itself
      checkStatus(res, `content-type ${JSON.stringify(type)}, body ${Buffer.from(body).toString('hex').slice(0, 200)}`)
      if (res.status === 200) stored.add(JSON.parse(res.text).id)
    })
    t.equal((await history('fuzz-raw')).length, stored.size, `exactly the accepted messages are stored (${stored.size})`)
    await alive('raw bodies')
  })

  await t.test('random query strings on GET /rooms/:room/messages', async (t) => {
    for (let i = 0; i < 30; i++) {
      await request(port, { method: 'POST', path: '/rooms/fuzz-query/messages', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user_id: 'q', content: `m${i}` }) })
    }
    const value = fc.oneof(
      fc.integer({ min: -1_000_000, max: 1_000_000 }).map(String),
      fc.constantFrom('', '0', '1', '30', '100', '10001', '1e3', '1.5', '-0', '%205', '5%20', '+5', '0x10', 'NaN', 'Infinity', '9'.repeat(400), 'null', '[]', '%00', '%FF', '%', '%%', '5%00'),
      fc.double().map(String),
      fc.string({ maxLength: 20 }).map(encodeURIComponent)
    )
    const query = fc.array(fc.tuple(fc.constantFrom('limit', 'limit', 'before', 'after', 'before_id', 'after_id', 'x', 'limit[]', '__proto__'), value), { maxLength: 4 })
      .map((pairs) => pairs.map(([k, v]) => `${k}=${v}`).join('&'))
    await property(t, 'never a 5xx; a 200 is a page no longer than asked or capped', query, async (qs) => {
      const res = await request(port, { method: 'GET', path: `/rooms/fuzz-query/messages?${qs}` })
      if (!res) return // not a path Node will send
      checkStatus(res, `?${qs}`)
      if (res.status === 200) {
        const page = JSON.parse(res.text)
        expect(Array.isArray(page) && page.length <= 30, `?${qs}: not a page: ${res.text.slice(0, 200)}`)
        const limit = /^limit=(\d+)$/.exec(qs)
        if (limit) expect(page.length === Math.min(Number(limit[1]), 30), `?${qs}: ${page.length} messages`)
      }
      const single = /^limit=(-?\d+)$/.exec(qs)
      if (single && Number(single[1]) < 1) expect(res.status === 400, `?${qs}: ${res.status}`)
    })
    await alive('random query strings')
  })

  await t.test('random room ids in REST paths', async (t) => {
    const id = fc.oneof(junkString, fc.string({ unit: 'grapheme', minLength: 1, maxLength: 128 }))
    await property(t, 'a valid id is served and round-trips; an invalid one is a 4xx; never a 5xx', id, async (roomId) => {
      let encoded: string
      try { encoded = encodeURIComponent(roomId) } catch { return } // a lone surrogate has no URL form
      const post = await request(port, {
        method: 'POST',
        path: `/rooms/${encoded}/messages`,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ user_id: 'path', content: 'path fuzz' })
      })
      const join = await request(port, { method: 'POST', path: `/rooms/${encoded}/join`, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user_id: 'path' }) })
      const get = await request(port, { method: 'GET', path: `/rooms/${encoded}/messages?limit=5` })
      expect(post && join && get, 'the requests were sent')
      for (const [what, res] of [['POST messages', post], ['POST join', join], ['GET messages', get]] as const) {
        checkStatus(res, `${what} ${JSON.stringify(roomId).slice(0, 200)}`)
        if (validId(roomId)) expect(res.status === 200, `${what}: the valid id ${JSON.stringify(roomId).slice(0, 200)} (${encoded.length} chars encoded) got ${res.status} ${res.text.slice(0, 200)}`)
        else expect(res.status >= 400, `${what}: the invalid id ${JSON.stringify(roomId).slice(0, 200)} got ${res.status}`)
      }
      if (post.status === 200) {
        const message = JSON.parse(post.text)
        expect(message.room_id === roomId, `room_id ${JSON.stringify(message.room_id)} is not ${JSON.stringify(roomId)}`)
        expect(JSON.parse(get.text).some((m: any) => m.id === message.id), 'the message is in the history of the same id')
      }
    }, 150)
    await alive('random path ids')
  })

  await t.test('random Origin headers on REST and on the upgrade', async (t) => {
    const origin = fc.oneof(
      fc.constantFrom('https://app.example.com', 'http://localhost:3000', 'https://preview-pr-12.example.app',
        'https://app.example.com.evil.com', 'https://APP.example.com', 'https://app.example.com/', 'http://app.example.com',
        'https://preview-.example.app.evil', 'https://preview-x.example.app:443', 'null', '*', '', ' https://app.example.com'),
      fc.webUrl().map((u) => new URL(u).origin),
      fc.string({ maxLength: 60 })
    )
    const allowed = (o: string) => LIMITS.corsOrigins.includes(o) || LIMITS.corsOriginPattern.test(o)
    await property(t, 'CORS headers exactly for allowed origins, never *; the upgrade is 101 exactly for them, else 403', origin, async (o) => {
      const get = await request(port, { method: 'GET', path: '/', headers: { origin: o } })
      if (!get) return // not a header value Node will send
      checkStatus(get, `GET / with Origin ${JSON.stringify(o)}`)
      expect(get.status === 200, `GET / with Origin ${JSON.stringify(o)}: ${get.status}`)
      // Node trims header values as it parses them: the server sees the trimmed origin.
      const seen = o.trim()
      const acao = get.headers['access-control-allow-origin']
      expect(acao !== '*', 'access-control-allow-origin: * was sent')
      if (allowed(seen)) expect(acao === seen && get.headers['access-control-allow-credentials'] === 'true', `allowed ${JSON.stringify(o)}: ${acao}`)
      else expect(acao === undefined, `refused ${JSON.stringify(o)} got access-control-allow-origin ${acao}`)

      const upgrade = await request(port, {
        method: 'GET',
        path: '/ws/fuzz-origin/u',
        // Its own connection, as a browser's handshake has: a refused upgrade is answered
        // "connection: keep-alive" and then destroyed by @fastify/websocket, so a pooled
        // connection would be reused after it is gone.
        fresh: true,
        headers: { origin: o, connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' }
      })
      expect(upgrade, 'the upgrade was sent')
      checkStatus(upgrade, `upgrade with Origin ${JSON.stringify(o)}`)
      if (allowed(seen)) expect(upgrade.status === 101, `allowed ${JSON.stringify(o)}: the upgrade got ${upgrade.status}`)
      else expect(upgrade.status === 403, `refused ${JSON.stringify(o)}: the upgrade got ${upgrade.status}`)
    }, 150)
    await alive('random origins')
  })

  await t.test('random socket frames', async (t) => {
    const room = 'fuzz-ws'
    let echoes = 0
    // Counted apart, so the property still checks what every frame says.
    let binaryFrames = 0
    let socket: WebSocket
    let inbox: any[] = []
    let closed: Promise<number>
    let wake = () => {}
    const open = async () => {
      socket = new WebSocket(`${wsBase}/ws/${room}/fuzzer`)
      const s = socket
      t.teardown(() => s.terminate())
      inbox = []
      s.on('message', (data, isBinary) => {
        if (isBinary) binaryFrames++
        inbox.push(JSON.parse(data.toString()))
        wake()
      })
      s.on('error', () => {})
      closed = new Promise((resolve) => s.on('close', (code) => { resolve(code); wake() }))
      await new Promise((resolve, reject) => { s.once('open', resolve); s.once('close', () => reject(new Error('closed before open'))) })
    }
    await open()

    const frameText = fc.oneof(
      { weight: 3, arbitrary: messageLike.map((v) => JSON.stringify(v)) },
      fc.record({
        type: fc.oneof(fc.constantFrom(undefined, null, 'message', 'typing_start', 'typing_stop', 'keep_alive', 'pong', 'ping', 'error', 'MESSAGE', ''), junkValue),
        content: fc.option(content, { nil: undefined }),
        username: fc.option(junkValue, { nil: undefined }),
        avatar: fc.option(junkValue, { nil: undefined }),
        timestamp: fc.option(junkValue, { nil: undefined })
      }).map((v) => JSON.stringify(v)),
      fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)),
      nested,
      fc.string({ unit: 'binary', maxLength: 200 }),
      fc.integer({ min: LIMITS.maxFrameBytes - 20, max: LIMITS.maxFrameBytes + 20 }).map((n) => `{"content":"${'f'.repeat(Math.max(0, n - 14))}"}`)
    )
    const frame = fc.oneof(
      { weight: 6, arbitrary: frameText.map((text) => ({ kind: 'text' as const, data: Buffer.from(text) })) },
      fc.uint8Array({ maxLength: 200 }).map((data) => ({ kind: 'binary' as const, data: Buffer.from(data) })),
      // Bytes sent as a text frame: mostly not UTF-8.
      fc.uint8Array({ minLength: 1, maxLength: 100 }).map((data) => ({ kind: 'text' as const, data: Buffer.concat([Buffer.from('{"content":"'), Buffer.from(data), Buffer.from([0xff]), Buffer.from('"}')]) })),
      fc.uint8Array({ minLength: 1, maxLength: 100 }).map((data) => ({ kind: 'text' as const, data: Buffer.from(data) }))
    )

    await property(t, 'each frame gets exactly its documented answer; the socket stays open unless closed 1009/1007', frame, async ({ kind, data }) => {
      if (socket.readyState !== WebSocket.OPEN) await open()
      let expected: FrameOutcome
      if (data.length > LIMITS.maxFrameBytes) expected = { kind: 'close', codes: [1009] }
      else if (kind === 'binary') expected = { kind: 'error', code: 'binary_not_supported' }
      else if (!isUtf8(data)) expected = { kind: 'close', codes: [1007] }
      else expected = frameOutcome(data.toString())
      const what = `${kind} frame ${data.toString('utf8').slice(0, 150)} (${data.length} bytes)`
      inbox = []
      socket.send(data, { binary: kind === 'binary' })
      if (expected.kind === 'close') {
        const code = await Promise.race([closed, new Promise<string>((resolve) => setTimeout(resolve, 3000, 'still open'))])
        expect(typeof code === 'number' && expected.codes.includes(code), `${what}: expected close ${expected.codes}, got ${code}; frames ${JSON.stringify(inbox).slice(0, 200)}`)
        return
      }
      // A keep_alive round trip: everything the frame caused has arrived before its ping.
      socket.send(JSON.stringify({ type: 'keep_alive' }))
      const pings = expected.kind === 'ping' ? 2 : 1
      const deadline = Date.now() + 5000
      while (inbox.filter((f) => f.type === 'ping').length < pings && socket.readyState === WebSocket.OPEN && Date.now() < deadline) {
        await new Promise<void>((resolve) => { wake = resolve; setTimeout(resolve, 50) })
      }
      if (socket.readyState !== WebSocket.OPEN) throw new Error(`${what}: the socket closed with ${await closed}`)
      const answers = inbox.slice(0, -1)
      const got = answers.map((f) => (f.type === 'error' ? `error:${f.code}` : f.type))
      const want = expected.kind === 'error' ? [`error:${expected.code}`] : expected.kind === 'nothing' ? [] : [expected.kind]
      expect(JSON.stringify(got) === JSON.stringify(want), `${what}: expected ${JSON.stringify(want)}, got ${JSON.stringify(answers).slice(0, 300)}`)
      for (const f of answers) {
        if (f.type === 'error') expect(typeof f.message === 'string' && !/\n\s+at /.test(f.message), `${what}: error frame ${JSON.stringify(f)}`)
      }
      if (expected.kind === 'message') {
        expect(answers[0].content === JSON.parse(data.toString()).content, `${what}: the echo carries other content`)
        echoes++
      }
    })
    socket!.terminate()
    t.equal((await history(room)).length, echoes, `exactly the echoed messages are stored (${echoes})`)
    t.equal(binaryFrames, 0, `every frame the server sent is a text frame (${binaryFrames} were binary)`)
    await alive('random frames')
  })

  await t.test('random ids in socket paths', async (t) => {
    // '.' and '..' are dot segments: a WHATWG URL (a browser's, ws's) removes them, even as %2E.
    const id = fc.oneof(junkString, fc.string({ unit: 'grapheme', minLength: 1, maxLength: 128 })).filter((v) => v !== '.' && v !== '..')
    // Every upgrade's server-side socket, to find the ones nobody closes.
    const upgraded = new Map<import('node:net').Socket, string>()
    const onUpgrade = (req: http.IncomingMessage, s: import('node:net').Socket) => upgraded.set(s, req.url ?? '')
    app.server.on('upgrade', onUpgrade)
    t.teardown(() => { app.server.off('upgrade', onUpgrade) })
    // A run cut off by the time limit is abandoned before its finally: its socket is closed after the property.
    const opened = new Set<WebSocket>()
    await property(t, 'a valid room and user id get an open socket; an invalid one is closed 4004 or refused with a 4xx', fc.tuple(id, id), async ([roomId, userId]) => {
      let path: string
      try { path = `/ws/${encodeURIComponent(roomId)}/${encodeURIComponent(userId)}` } catch { return }
      const socket = new WebSocket(`${wsBase}${path}`)
      opened.add(socket)
      try {
        const outcome = await new Promise<string>((resolve) => {
          socket.on('error', () => {})
          socket.once('unexpected-response', (req, res) => { resolve(`http ${res.statusCode}`); req.destroy() })
          socket.once('close', (code) => resolve(`close ${code}`))
          socket.once('open', () => {
            socket.send(JSON.stringify({ type: 'keep_alive' }))
            socket.once('message', () => resolve('open'))
          })
          setTimeout(() => resolve('timeout'), 5000)
        })
        const what = `room ${JSON.stringify(roomId).slice(0, 100)}, user ${JSON.stringify(userId).slice(0, 100)} (${path.length} chars)`
        expect(!/^http 5/.test(outcome) && outcome !== 'timeout', `${what}: ${outcome}`)
        if (validId(roomId) && validId(userId)) {
          expect(outcome === 'open', `${what}: valid ids, but ${outcome}`)
        } else {
          expect(outcome === 'close 4004' || /^http 4/.test(outcome), `${what}: invalid ids, but ${outcome}`)
        }
      } finally {
        socket.terminate()
      }
    }, 150)
    for (const socket of opened) socket.terminate()
    await new Promise((resolve) => setTimeout(resolve, 300))
    const leaked = [...upgraded].filter(([s]) => !s.destroyed)
    // Destroyed here so that app.close() can finish; the assertion says how many there were.
    for (const [s] of leaked) s.destroy()
    t.same(leaked.map(([, url]) => url.slice(0, 80)), [], `every refused upgrade's socket is closed (${leaked.length} of ${upgraded.size} left open)`)
    // REST and the socket apply one id rule: both take, or both refuse, the same id.
    for (const room of ['😀'.repeat(64), '😀'.repeat(65), 'é'.repeat(128)]) {
      const join = await request(port, { method: 'POST', path: `/rooms/${encodeURIComponent(room)}/join`, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user_id: 'u' }) })
      const socket = new WebSocket(`${wsBase}/ws/${encodeURIComponent(room)}/u`)
      socket.on('error', () => {})
      const outcome = await new Promise<string>((resolve) => {
        socket.once('close', (code) => resolve(`close ${code}`))
        socket.once('open', () => { socket.send(JSON.stringify({ type: 'keep_alive' })); socket.once('message', () => resolve('open')) })
      })
      socket.terminate()
      t.equal(join?.status === 200, outcome === 'open', `REST (${join?.status}) and the socket (${outcome}) agree on a room id of ${[...room].length} characters, ${room.length} UTF-16 units`)
    }
    await alive('random socket paths')
  })

  await until(() => app.registry.connectionCount === 0, 5000).catch(() => {})
  t.equal(app.registry.connectionCount, 0, 'every fuzzing socket has left the registry')
})

t.test('fuzzing what one socket can make the server queue for it', async (t) => {
  const room = 'fuzz-budget'
  const { app, wsBase } = await listen(t, { ...LIMITS, ...BUDGET_CONFIG })
  // A history of ~6 MB, past the loopback kernel buffers (~4 MB) and the budget: a
  // since=0 replay of it must be paced.
  for (let i = 1; i <= 250; i++) {
    await app.inject({ method: 'POST', url: `/rooms/${room}/messages`, payload: { user_id: 'w', content: HEAVY } })
  }
  const queues = watchQueues(app, [room])

  // Frames the server answers to the sender alone, from ~20 bytes to ~24 KB each.
  const answered = fc.constantFrom(
    '{"type":"keep_alive"}',
    'not json',
    '{"content":7}',
    JSON.stringify({ type: HEAVY.slice(0, 64) }),
    // A retried client_id is answered with the stored message.
    JSON.stringify({ content: HEAVY, client_id: 'fuzz-heavy' })
  )
  type Action =
    | { kind: 'frames', text: string, count: number }
    | { kind: 'post', count: number }
    | { kind: 'pings', count: number }
    | { kind: 'pause' }
    | { kind: 'resume' }
    | { kind: 'wait', ms: number }
    | { kind: 'open', since: boolean, presence: boolean }
  const action: fc.Arbitrary<Action> = fc.oneof(
    { weight: 4, arbitrary: fc.record({ kind: fc.constant('frames' as const), text: answered, count: fc.integer({ min: 1, max: 400 }) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('post' as const), count: fc.integer({ min: 1, max: 10 }) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('pings' as const), count: fc.integer({ min: 1, max: 20_000 }) }) },
    { weight: 3, arbitrary: fc.constant({ kind: 'pause' as const }) },
    { weight: 1, arbitrary: fc.constant({ kind: 'resume' as const }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('wait' as const), ms: fc.integer({ min: 0, max: 100 }) }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('open' as const), since: fc.boolean(), presence: fc.boolean() }) }
  )
  const yieldNow = () => new Promise((resolve) => setTimeout(resolve, 1))
  const PING = Buffer.alloc(125, 7)

  // Every socket of every run: a run cut off by the time limit is abandoned by
  // fast-check before its finally, so its sockets are closed here after the property.
  const opened = new Set<WebSocket>()
  await property(t, 'no sequence of frames and reads makes the server hold more than MAX_BUFFERED_BYTES for a socket; past it, close 1013', fc.array(action, { minLength: 1, maxLength: 12 }), async (actions) => {
    queues.reset()
    const sockets: Array<{ socket: WebSocket, closes: number[] }> = []
    let paused = false
    const open = async (query: string) => {
      const socket = new WebSocket(`${wsBase}/ws/${room}/fuzz-${sockets.length}${query}`)
      opened.add(socket)
      const entry = { socket, closes: [] as number[] }
      sockets.push(entry)
      socket.on('error', () => {})
      socket.on('message', () => {})
      socket.on('close', (code) => entry.closes.push(code))
      await new Promise((resolve) => { socket.once('open', resolve); socket.once('close', resolve) })
      if (paused) (socket as any)._socket?.pause()
    }
    const current = () => sockets[sockets.length - 1].socket
    try {
      await open('')
      for (const a of actions) {
        const socket = current()
        switch (a.kind) {
          case 'frames':
          case 'pings':
            for (let i = 0; i < a.count && socket.readyState === WebSocket.OPEN; i++) {
              if (a.kind === 'frames') socket.send(a.text)
              else socket.ping(PING)
              if (i % (a.kind === 'frames' ? 4 : 100) === 3) await yieldNow()
            }
            break
          case 'post':
            for (let i = 0; i < a.count; i++) await app.inject({ method: 'POST', url: `/rooms/${room}/messages`, payload: { user_id: 'w', content: HEAVY } })
            break
          case 'pause':
          case 'resume':
            paused = a.kind === 'pause'
            for (const { socket: s } of sockets) (s as any)._socket?.[a.kind]()
            break
          case 'wait':
            await new Promise((resolve) => setTimeout(resolve, a.ms))
            break
          case 'open':
            await open(`?${a.since ? 'since=0&' : ''}${a.presence ? 'presence=1' : ''}`)
            break
        }
      }
      // What the last actions set off (a replay, a burst's answers) has time to be written.
      await new Promise((resolve) => setTimeout(resolve, 100))
      expect(queues.max <= BUDGET + SLACK, `the server held ${queues.max} bytes for one socket (MAX_BUFFERED_BYTES=${BUDGET})`)
      for (const { closes } of sockets) expect(closes.every((code) => code === 1013), `a socket was closed with ${closes}`)
    } finally {
      for (const { socket } of sockets) socket.terminate()
      await until(() => app.registry.connectionCount === 0, 5000).catch(() => {})
    }
  }, 40, 20_000)
  for (const socket of opened) socket.terminate()
  await until(() => app.registry.connectionCount === 0, 10_000).catch(() => {})
  t.equal(app.registry.connectionCount, 0, 'every fuzzing socket has left the registry once closed')
})
