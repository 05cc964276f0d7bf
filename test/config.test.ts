import t from 'tap'
import type { Test } from 'tap'
import { ConfigError, configWarnings, DEFAULT_CORS_ORIGINS, loadConfig } from '../src/config'
import { createOriginCheck } from '../src/access/origins'

/** The error loadConfig throws for `env`; fails the test if it does not throw one. */
function refusal (t: Test, env: NodeJS.ProcessEnv): ConfigError | undefined {
  try {
    loadConfig(env)
  } catch (err) {
    t.type(err, ConfigError, 'a ConfigError')
    return err as ConfigError
  }
  t.fail(`${JSON.stringify(env)} was accepted`)
  return undefined
}

t.test('an empty environment gives the documented defaults', async (t) => {
  t.same(loadConfig({}), {
    port: 8000,
    host: '0.0.0.0',
    databaseUrl: 'data/parley.db',
    sqliteSynchronous: 'normal',
    sqliteCommitIntervalMs: 0,
    sqliteCheckpointIntervalMs: 500,
    corsOrigins: [
      'http://localhost:3000',
      'https://video-chat-frontend-ruby.vercel.app',
      'https://next-js-14-front-end-for-chat-plast.vercel.app'
    ],
    corsOriginPattern: null,
    logLevel: 'info',
    maxContentLength: 4000,
    maxFrameBytes: 65_536,
    bodyLimitBytes: 65_536,
    historyMaxLimit: 500,
    historyMaxBytes: 1_048_576,
    wsPingIntervalMs: 30_000,
    shutdownGraceMs: 10_000,
    metricsToken: null,
    maxBufferedBytes: 1_048_576,
    wsDrainTimeoutMs: 30_000,
    wsMessageRate: 5,
    wsMessageBurst: 10,
    wsFrameRate: 30,
    wsFrameBurst: 60,
    wsAbuseLimit: 30,
    maxSocketsPerRoom: 1000,
    maxSocketsPerIp: 100,
    maxSockets: 20000,
    newRoomsPerIp: 100,
    newRoomsWindowMs: 3600000,
    requestTimeoutMs: 60000,
    rateLimitMax: 600,
    rateLimitWindowMs: 60_000,
    typingThrottleMs: 2000,
    typingTimeoutMs: 6000,
    trustProxy: false,
    recoveryMaxMessages: 1000,
    authIssuer: null,
    authAudience: null,
    publicReads: false,
    authSecret: null,
    databaseSchema: null,
    pgPoolSize: 10,
    wsMaxPendingFrames: 64,
    redisUrl: null,
    redisPrefix: 'parley',
    presenceTtlMs: 15_000,
    publicUrl: null,
    thumbnailMaxBytes: 262_144,
    typingAfterSendMs: 500,
    accountTokenTtlS: 604_800,
    loginAttemptsPerName: 10,
    loginAttemptsPerIp: 50,
    loginWindowMs: 900_000,
    extendedFrames: false
  })
  t.same(DEFAULT_CORS_ORIGINS, loadConfig({}).corsOrigins)
})

t.test('an explicit environment is the only one read', async (t) => {
  // A controlled process.env, so whatever the runner's environment holds cannot leak in.
  const saved = process.env
  process.env = { PORT: '1234' }
  t.teardown(() => { process.env = saved })
  t.equal(loadConfig({}).port, 8000, 'process.env is ignored when an env is given')
  t.equal(loadConfig().port, 1234, 'process.env is the default')
})

t.test('string values are coerced to their types', async (t) => {
  const config = loadConfig({
    PORT: '3001',
    HOST: '::',
    LOG_LEVEL: 'debug',
    MAX_CONTENT_LENGTH: '100',
    MAX_FRAME_BYTES: '2048',
    BODY_LIMIT_BYTES: '4096',
    HISTORY_MAX_LIMIT: '50',
    WS_PING_INTERVAL_MS: '5000',
    SHUTDOWN_GRACE_MS: '250',
    EXTENDED_FRAMES: 'true',
    SQLITE_SYNCHRONOUS: 'full'
  })
  t.match(config, {
    port: 3001,
    host: '::',
    logLevel: 'debug',
    maxContentLength: 100,
    maxFrameBytes: 2048,
    bodyLimitBytes: 4096,
    historyMaxLimit: 50,
    wsPingIntervalMs: 5000,
    shutdownGraceMs: 250,
    extendedFrames: true,
    sqliteSynchronous: 'full'
  })
  t.equal(typeof config.port, 'number')
  t.equal(loadConfig({ EXTENDED_FRAMES: 'false' }).extendedFrames, false)
})

t.test('CORS_ORIGINS is a trimmed comma list', async (t) => {
  t.same(loadConfig({ CORS_ORIGINS: ' https://a.example.com , ,http://localhost:5173,' }).corsOrigins,
    ['https://a.example.com', 'http://localhost:5173'])
})

t.test('DATABASE_URL takes a path, :memory: or a sqlite:/file: URL', async (t) => {
  const url = (value: string) => loadConfig({ DATABASE_URL: value }).databaseUrl
  t.equal(url(':memory:'), ':memory:')
  t.equal(url('/var/data/parley.db'), '/var/data/parley.db')
  t.equal(url('sqlite:///var/data/parley.db'), '/var/data/parley.db')
  t.equal(url('sqlite://./data/x.db'), './data/x.db')
  t.equal(url('file:data/x.db'), 'data/x.db')
})

t.test('CORS_ORIGIN_PATTERN becomes a RegExp', async (t) => {
  const { corsOriginPattern } = loadConfig({ CORS_ORIGIN_PATTERN: 'https://[a-z0-9-]+\\.vercel\\.app' })
  t.type(corsOriginPattern, RegExp)
})

t.test('each bad value throws a ConfigError that names the variable', async (t) => {
  const cases: Array<[string, NodeJS.ProcessEnv]> = [
    ['PORT', { PORT: 'abc' }],
    ['PORT', { PORT: '70000' }],
    ['PORT', { PORT: '-1' }],
    ['PORT', { PORT: '80.5' }],
    ['PORT', { PORT: '' }],
    ['HOST', { HOST: '' }],
    ['CORS_ORIGINS', { CORS_ORIGINS: '*' }],
    ['CORS_ORIGINS', { CORS_ORIGINS: 'https://ok.example.com,*' }],
    ['CORS_ORIGINS', { CORS_ORIGINS: 'not a url' }],
    ['CORS_ORIGINS', { CORS_ORIGINS: 'https://a.com/path' }],
    ['CORS_ORIGINS', { CORS_ORIGINS: 'https://a.com/' }],
    ['CORS_ORIGIN_PATTERN', { CORS_ORIGIN_PATTERN: '(' }],
    ['DATABASE_URL', { DATABASE_URL: 'postgres://user:secret@db.internal:badport/parley' }],
    ['REDIS_URL', { REDIS_URL: 'localhost:6379' }],
    ['AUTH_SECRET', { AUTH_SECRET: 'too-short' }],
    ['REDIS_PREFIX', { REDIS_PREFIX: 'has space' }],
    ['PRESENCE_TTL_MS', { PRESENCE_TTL_MS: '5' }],
    ['DATABASE_URL', { DATABASE_URL: 'mysql://db.internal/parley' }],
    ['LOG_LEVEL', { LOG_LEVEL: 'loud' }],
    ['EXTENDED_FRAMES', { EXTENDED_FRAMES: 'maybe' }],
    ['SQLITE_SYNCHRONOUS', { SQLITE_SYNCHRONOUS: 'off' }],
    ['MAX_CONTENT_LENGTH', { MAX_CONTENT_LENGTH: '0' }],
    ['MAX_FRAME_BYTES', { MAX_FRAME_BYTES: '10' }],
    ['BODY_LIMIT_BYTES', { BODY_LIMIT_BYTES: 'big' }],
    ['HISTORY_MAX_LIMIT', { HISTORY_MAX_LIMIT: '100000' }],
    ['HISTORY_MAX_BYTES', { HISTORY_MAX_BYTES: '1000' }],
    ['WS_PING_INTERVAL_MS', { WS_PING_INTERVAL_MS: '10' }],
    ['SHUTDOWN_GRACE_MS', { SHUTDOWN_GRACE_MS: 'soon' }]
  ]
  for (const [variable, env] of cases) {
    const err = refusal(t, env)
    t.match(err?.message, new RegExp(`\\b${variable}\\b`), `${JSON.stringify(env)} names ${variable}`)
    t.notMatch(err?.message, /env\//, 'in the words an operator reads')
  }
})

t.test('"*" in CORS_ORIGINS is refused because of credentials', async (t) => {
  t.match(refusal(t, { CORS_ORIGINS: '*' })?.message, /CORS_ORIGINS: "\*" cannot be used with credentials/)
})

t.test('a PostgreSQL DATABASE_URL and a REDIS_URL are kept whole', async (t) => {
  const config = loadConfig({ DATABASE_URL: 'postgresql://user:secret@db.internal/parley', REDIS_URL: 'redis://default:pw@cache:6379' })
  t.equal(config.databaseUrl, 'postgresql://user:secret@db.internal/parley')
  t.equal(config.redisUrl, 'redis://default:pw@cache:6379')
  t.equal(loadConfig({}).redisUrl, null, 'unset: one instance')
})

t.test('a refused DATABASE_URL does not echo its credentials', async (t) => {
  for (const DATABASE_URL of ['postgres://user:secret@db.internal:badport/parley', 'redis://user:secret@cache.internal:6379']) {
    t.notMatch(refusal(t, { DATABASE_URL })?.message, /secret/, DATABASE_URL)
  }
})

t.test('origin checks', async (t) => {
  const vercel = 'https://[a-z0-9-]+\\.vercel\\.app'

  t.test('a request with no Origin is allowed', async (t) => {
    t.equal(createOriginCheck(loadConfig({}))(undefined), true)
    t.equal(createOriginCheck(loadConfig({ CORS_ORIGINS: '' }))(undefined), true, 'even with an empty allowlist')
  })

  t.test('the listed origins are allowed exactly', async (t) => {
    const check = createOriginCheck(loadConfig({}))
    for (const origin of DEFAULT_CORS_ORIGINS) t.equal(check(origin), true, origin)
    for (const origin of ['http://localhost:3001', 'https://localhost:3000', 'http://localhost:3000/', 'null', '', 'https://evil.vercel.app']) {
      t.equal(check(origin), false, `refuses ${JSON.stringify(origin)}`)
    }
  })

  t.test('the pattern allows a matching origin', async (t) => {
    const check = createOriginCheck(loadConfig({ CORS_ORIGIN_PATTERN: vercel }))
    t.equal(check('https://x.vercel.app'), true)
    t.equal(check('https://x.vercel.app'), true, 'and again: the check keeps no state between calls')
    t.equal(check('https://my-preview-123.vercel.app'), true)
    t.equal(check('http://localhost:3000'), true, 'the exact list still applies')
  })

  t.test('the pattern is anchored at both ends', async (t) => {
    const check = createOriginCheck(loadConfig({ CORS_ORIGIN_PATTERN: vercel }))
    t.equal(check('https://x.vercel.app.evil.com'), false)
    t.equal(check('https://evil.com?https://x.vercel.app'), false)
    t.equal(check('evil-https://x.vercel.app'), false)
  })

  t.test('an alternation in the pattern is anchored as a whole', async (t) => {
    const check = createOriginCheck(loadConfig({ CORS_ORIGINS: '', CORS_ORIGIN_PATTERN: 'https://a\\.example\\.com|https://b\\.example\\.com' }))
    t.equal(check('https://a.example.com'), true)
    t.equal(check('https://b.example.com'), true)
    t.equal(check('https://a.example.com.evil.com'), false)
    t.equal(check('https://evil.com/https://b.example.com'), false)
  })
})

t.test('a bad LOG_LEVEL lists the allowed levels', async (t) => {
  t.match(refusal(t, { LOG_LEVEL: 'loud' })?.message, /fatal, error, warn, info, debug, trace, silent/)
})

t.test('EXTENDED_FRAMES takes the usual spellings of a boolean', async (t) => {
  for (const value of ['1', 'true', 'yes', 'on', 'TRUE']) t.equal(loadConfig({ EXTENDED_FRAMES: value }).extendedFrames, true, value)
  for (const value of ['0', 'false', 'no', 'off']) t.equal(loadConfig({ EXTENDED_FRAMES: value }).extendedFrames, false, value)
})

t.test('TRUST_PROXY=true is accepted with a warning that says why; a hop count is not warned about', async (t) => {
  const [warning] = configWarnings(loadConfig({ TRUST_PROXY: 'true' }))
  t.match(warning, /X-Forwarded-For/)
  t.match(warning, /TRUST_PROXY=1/)
  t.same(configWarnings(loadConfig({ TRUST_PROXY: '1' })), [])
  t.same(configWarnings(loadConfig({})), [])
})
