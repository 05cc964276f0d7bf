import t from 'tap'
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { Writable } from 'node:stream'
import { createSigner } from 'fast-jwt'
import { buildApp } from '../src/app'
import { createAuth } from '../src/access/auth'
import { build, connect, listen, testConfig } from './helper'

const secret = 'a-test-secret-of-at-least-32-characters!'
const auth = createAuth(secret)
const bearer = (userId: string) => ({ authorization: `Bearer ${auth.sign(userId)}` })

t.test('with AUTH_SECRET, REST writes need a token for the body user', async (t) => {
  const lines: any[] = []
  const stream = new Writable({ write (chunk, _enc, cb) { lines.push(JSON.parse(chunk.toString())); cb() } })
  const app = await buildApp(testConfig({ authSecret: secret }), { logger: { level: 'info', stream } })
  t.teardown(() => app.close())
  const join = (headers: Record<string, string>, userId = 'alice') => app.inject({ method: 'POST', url: '/rooms/r/join', headers, payload: { user_id: userId } })

  const none = await join({})
  t.equal(none.statusCode, 401)
  t.match(none.json(), { error: 'Unauthorized', code: 'unauthorized', message: /token is required/ })
  t.equal((await join({ authorization: 'Bearer not-a-jwt' })).statusCode, 401)
  const impersonation = await join(bearer('mallory'))
  // A valid token for someone else is a refusal, not a missing token: 403 (a 401 logs the current client out).
  t.equal(impersonation.statusCode, 403)
  t.match(impersonation.json(), { code: 'forbidden_user' })
  t.ok(lines.some((l) => l.msg === 'impersonation refused' && l.subject === 'mallory' && l.level === 40), 'impersonation is logged at warn')
  t.equal((await join(bearer('alice'))).statusCode, 200)

  const post = (headers: Record<string, string>) => app.inject({ method: 'POST', url: '/rooms/r/messages', headers, payload: { user_id: 'alice', content: 'hi' } })
  t.equal((await post({})).statusCode, 401)
  t.equal((await post(bearer('bob'))).statusCode, 403)
  t.equal((await post(bearer('alice'))).statusCode, 200)
  t.equal((await app.store.latest('r', 10)).length, 1, 'only the authorized message is stored')

  t.equal((await app.inject({ method: 'POST', url: '/rooms', payload: { name: 'x' } })).statusCode, 401)
  t.equal((await app.inject({ method: 'POST', url: '/rooms', headers: bearer('anyone'), payload: { name: 'x' } })).statusCode, 200)
})

t.test('an expired token or one signed with another secret is refused', async (t) => {
  const app = await build(t, { authSecret: secret })
  const expired = createSigner({ key: secret, algorithm: 'HS256' })({ sub: 'alice', exp: Math.floor(Date.now() / 1000) - 10 })
  const forged = createAuth('another-secret-that-is-32-characters-long').sign('alice')
  const unsigned = `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${Buffer.from('{"sub":"alice"}').toString('base64url')}.`
  for (const token of [expired, forged, unsigned]) {
    const res = await app.inject({ method: 'POST', url: '/rooms/r/join', headers: { authorization: `Bearer ${token}` }, payload: { user_id: 'alice' } })
    t.equal(res.statusCode, 401)
  }
})

t.test('a token without exp never expires, so it is refused on REST and sockets', async (t) => {
  const { app, wsBase } = await listen(t, { authSecret: secret })
  const forever = createSigner({ key: secret, algorithm: 'HS256' })({ sub: 'alice' })
  const res = await app.inject({ method: 'POST', url: '/rooms/r/join', headers: { authorization: `Bearer ${forever}` }, payload: { user_id: 'alice' } })
  t.equal(res.statusCode, 401)
  t.match(res.json().message, /not valid/)
  const socket = await connect(t, `${wsBase}/ws/r/alice?token=${forever}`)
  t.match(await socket.closed, { code: 1008 })
})

t.test('AUTH_ISSUER and AUTH_AUDIENCE, when set, must match; Parley\'s own tokens carry them', async (t) => {
  const app = await build(t, { authSecret: secret, authIssuer: 'https://app.example.com', authAudience: 'parley' })
  const sign = (claims: object) => createSigner({ key: secret, algorithm: 'HS256' })({ sub: 'alice', exp: Math.floor(Date.now() / 1000) + 60, ...claims })
  const join = (token: string) => app.inject({ method: 'POST', url: '/rooms/r/join', headers: { authorization: `Bearer ${token}` }, payload: { user_id: 'alice' } })
  t.equal((await join(sign({ iss: 'https://app.example.com', aud: 'parley' }))).statusCode, 200)
  t.equal((await join(sign({ iss: 'https://evil.example.com', aud: 'parley' }))).statusCode, 401, 'another issuer')
  t.equal((await join(sign({ iss: 'https://app.example.com', aud: 'other' }))).statusCode, 401, 'another audience')
  t.equal((await join(sign({}))).statusCode, 401, 'neither')
  const signup = await app.inject({ method: 'POST', url: '/auth/signup', payload: { username: 'alice2', email: 'a2@example.com', password: 'long enough 1' } })
  const { token, user } = signup.json()
  t.equal((await app.inject({ method: 'POST', url: '/rooms/r/join', headers: { authorization: `Bearer ${token}` }, payload: { user_id: user.id } })).statusCode, 200, 'an account token works')
})

t.test('with AUTH_SECRET, a socket needs a token for its path user, or it is closed with 1008', async (t) => {
  const { app, wsBase } = await listen(t, { authSecret: secret })
  const missing = await connect(t, `${wsBase}/ws/r/alice`)
  t.match(await missing.closed, { code: 1008, reason: /token is required/ })
  const other = await connect(t, `${wsBase}/ws/r/alice?token=${auth.sign('mallory')}`)
  t.match(await other.closed, { code: 1008, reason: /not for this user/ })
  const good = await connect(t, `${wsBase}/ws/r/alice?token=${auth.sign('alice')}`)
  good.send({ content: 'signed in' })
  t.match(await good.ofType('message'), { user_id: 'alice', content: 'signed in' })
  t.equal((await app.store.latest('r', 10)).length, 1)
})

t.test('without AUTH_SECRET everything is open, as the seed client needs', async (t) => {
  const app = await build(t)
  t.equal(app.auth, null)
  t.equal((await app.inject({ method: 'POST', url: '/rooms/r/join', payload: { user_id: 'alice' } })).statusCode, 200)
})

t.test('npm run token mints a token the server accepts', async (t) => {
  const script = join(__dirname, '..', 'dist', 'src', 'access', 'mint-token.js')
  const { stdout } = await promisify(execFile)(process.execPath, [script, 'alice', '60'], { env: { PATH: process.env.PATH, AUTH_SECRET: secret } })
  t.match(auth.check(stdout.trim(), 'alice'), { ok: true, rooms: null })
  const limited = await promisify(execFile)(process.execPath, [script, 'alice', '60', 'r1,r2'], { env: { PATH: process.env.PATH, AUTH_SECRET: secret } })
  t.same([...(auth.check(limited.stdout.trim(), 'alice') as unknown as { rooms: Set<string> }).rooms], ['r1', 'r2'])
  const refused = await promisify(execFile)(process.execPath, [script, 'alice'], { env: { PATH: process.env.PATH } }).catch((err) => err)
  t.equal(refused.code, 1)
  t.match(refused.stderr, /AUTH_SECRET is not set/)
})
