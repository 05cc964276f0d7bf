// The environment, parsed once at boot: every variable declared once, with its default and meaning.
import { Type, type Static } from '@sinclair/typebox'
import envSchema from 'env-schema'

export const DEFAULT_CORS_ORIGINS = [
  'http://localhost:3000',
  'https://video-chat-frontend-ruby.vercel.app',
  'https://next-js-14-front-end-for-chat-plast.vercel.app'
]

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']

// The environment as it arrives: strings, coerced and defaulted by the schema.
export const EnvSchema = Type.Object({
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 8000 }),
  HOST: Type.String({ minLength: 1, default: '0.0.0.0' }),
  DATABASE_URL: Type.String({ minLength: 1, default: 'data/parley.db' }),
  DATABASE_SCHEMA: Type.String({ default: '' }),
  REDIS_URL: Type.String({ default: '' }),
  REDIS_PREFIX: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_.:-]+$', default: 'parley' }),
  PRESENCE_TTL_MS: Type.Integer({ minimum: 300, maximum: 600_000, default: 15_000 }),
  CORS_ORIGINS: Type.String({ default: DEFAULT_CORS_ORIGINS.join(',') }),
  CORS_ORIGIN_PATTERN: Type.String({ default: '' }),
  LOG_LEVEL: Type.String({ default: 'info' }),
  MAX_CONTENT_LENGTH: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 4000 }),
  MAX_FRAME_BYTES: Type.Integer({ minimum: 1024, maximum: 16_777_216, default: 65_536 }),
  BODY_LIMIT_BYTES: Type.Integer({ minimum: 1024, maximum: 16_777_216, default: 65_536 }),
  HISTORY_MAX_LIMIT: Type.Integer({ minimum: 1, maximum: 10_000, default: 500 }),
  WS_PING_INTERVAL_MS: Type.Integer({ minimum: 1000, maximum: 600_000, default: 30_000 }),
  SHUTDOWN_GRACE_MS: Type.Integer({ minimum: 100, maximum: 600_000, default: 10_000 }),
  MAX_BUFFERED_BYTES: Type.Integer({ minimum: 16_384, maximum: 1_073_741_824, default: 1_048_576 }),
  WS_MESSAGE_RATE: Type.Number({ exclusiveMinimum: 0, maximum: 100_000, default: 5 }),
  WS_MESSAGE_BURST: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 10 }),
  WS_FRAME_RATE: Type.Number({ exclusiveMinimum: 0, maximum: 100_000, default: 30 }),
  WS_FRAME_BURST: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 60 }),
  WS_ABUSE_LIMIT: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 30 }),
  MAX_SOCKETS_PER_ROOM: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 1000 }),
  MAX_SOCKETS_PER_IP: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 100 }),
  RATE_LIMIT_MAX: Type.Integer({ minimum: 1, maximum: 100_000_000, default: 600 }),
  RATE_LIMIT_WINDOW_MS: Type.Integer({ minimum: 1000, maximum: 86_400_000, default: 60_000 }),
  TYPING_THROTTLE_MS: Type.Integer({ minimum: 0, maximum: 60_000, default: 2000 }),
  TYPING_TIMEOUT_MS: Type.Integer({ minimum: 500, maximum: 600_000, default: 6000 }),
  TRUST_PROXY: Type.String({ default: 'false' }),
  AUTH_SECRET: Type.String({ default: '' }),
  RECOVERY_MAX_MESSAGES: Type.Integer({ minimum: 1, maximum: 100_000, default: 1000 }),
  EXTENDED_FRAMES: Type.String({ default: 'false' }),
  SQLITE_SYNCHRONOUS: Type.Union([Type.Literal('normal'), Type.Literal('full')], { default: 'normal' }),
  SQLITE_COMMIT_INTERVAL_MS: Type.Integer({ minimum: 0, maximum: 1000, default: 0 })
})
export type Env = Static<typeof EnvSchema>

export interface Config {
  port: number
  host: string
  /** A postgres:// URL, or a SQLite file path or `:memory:` (a `sqlite:`/`file:` URL is reduced to its path). */
  databaseUrl: string
  /** PostgreSQL only: the schema Parley's tables live in (created if missing); null: the connection's search_path. */
  databaseSchema: string | null
  /** Unset: one instance, in-process fan-out. Set: Redis pub/sub and presence across instances. */
  redisUrl: string | null
  /** Namespace of Parley's Redis channels and keys; deployments sharing a Redis need distinct ones. */
  redisPrefix: string
  /** An instance that stops refreshing its users' presence has them expire after this. */
  presenceTtlMs: number
  sqliteSynchronous: 'normal' | 'full'
  /** Group commit: at most one SQLite commit per this many ms under load. */
  sqliteCommitIntervalMs: number
  corsOrigins: string[]
  corsOriginPattern: RegExp | null
  logLevel: string
  maxContentLength: number
  maxFrameBytes: number
  bodyLimitBytes: number
  historyMaxLimit: number
  wsPingIntervalMs: number
  shutdownGraceMs: number
  /** A socket with more unsent bytes than this is cut with 1013. */
  maxBufferedBytes: number
  /** Chat messages per second per socket, and the burst allowed above it. */
  wsMessageRate: number
  wsMessageBurst: number
  /** Frames of any kind per second per socket, and the burst. */
  wsFrameRate: number
  wsFrameBurst: number
  /** Refused frames in a row before the socket is closed with 1008. */
  wsAbuseLimit: number
  maxSocketsPerRoom: number
  maxSocketsPerIp: number
  /** REST requests per window per client address. */
  rateLimitMax: number
  rateLimitWindowMs: number
  /** A user's typing_start is relayed at most once per this many ms. */
  typingThrottleMs: number
  /** A typing user silent for this long gets a typing_stop broadcast. */
  typingTimeoutMs: number
  /** Fastify's trustProxy: false, true, a hop count, or a list of addresses/CIDRs. */
  trustProxy: boolean | number | string[]
  /** Set: REST writes need a bearer token and sockets a `token` query value, an HS256 JWT whose sub is the user id. */
  authSecret: string | null
  /** A recovering socket that missed more than this gets a `recovery` gap frame instead of a replay. */
  recoveryMaxMessages: number
  /** Send frames the older client does not know (room_state, presence…) to every socket. */
  extendedFrames: boolean
}

export class ConfigError extends Error {
  name = 'ConfigError'
}

/** Parses the environment once; any bad value throws a ConfigError naming the variable. */
export function loadConfig (env: NodeJS.ProcessEnv = process.env): Config {
  let parsed: Env
  try {
    parsed = envSchema<Env>({ schema: structuredClone(EnvSchema), data: env, env: false })
  } catch (err) {
    // ajv says "env/PORT must be integer"; say it the way an operator reads it.
    throw new ConfigError(`invalid configuration: ${(err as Error).message.replace(/env\//g, '')}`)
  }
  return {
    port: parsed.PORT,
    host: parsed.HOST,
    databaseUrl: parseDatabaseUrl(parsed.DATABASE_URL),
    databaseSchema: parseSchemaName(parsed.DATABASE_SCHEMA),
    redisUrl: parseRedisUrl(parsed.REDIS_URL),
    redisPrefix: parsed.REDIS_PREFIX,
    presenceTtlMs: parsed.PRESENCE_TTL_MS,
    sqliteSynchronous: parsed.SQLITE_SYNCHRONOUS,
    sqliteCommitIntervalMs: parsed.SQLITE_COMMIT_INTERVAL_MS,
    corsOrigins: parseOrigins(parsed.CORS_ORIGINS),
    corsOriginPattern: parsePattern(parsed.CORS_ORIGIN_PATTERN),
    logLevel: oneOf('LOG_LEVEL', parsed.LOG_LEVEL, LOG_LEVELS),
    maxContentLength: parsed.MAX_CONTENT_LENGTH,
    maxFrameBytes: parsed.MAX_FRAME_BYTES,
    bodyLimitBytes: parsed.BODY_LIMIT_BYTES,
    historyMaxLimit: parsed.HISTORY_MAX_LIMIT,
    wsPingIntervalMs: parsed.WS_PING_INTERVAL_MS,
    shutdownGraceMs: parsed.SHUTDOWN_GRACE_MS,
    maxBufferedBytes: parsed.MAX_BUFFERED_BYTES,
    wsMessageRate: parsed.WS_MESSAGE_RATE,
    wsMessageBurst: parsed.WS_MESSAGE_BURST,
    wsFrameRate: parsed.WS_FRAME_RATE,
    wsFrameBurst: parsed.WS_FRAME_BURST,
    wsAbuseLimit: parsed.WS_ABUSE_LIMIT,
    maxSocketsPerRoom: parsed.MAX_SOCKETS_PER_ROOM,
    maxSocketsPerIp: parsed.MAX_SOCKETS_PER_IP,
    rateLimitMax: parsed.RATE_LIMIT_MAX,
    rateLimitWindowMs: parsed.RATE_LIMIT_WINDOW_MS,
    typingThrottleMs: parsed.TYPING_THROTTLE_MS,
    typingTimeoutMs: parsed.TYPING_TIMEOUT_MS,
    trustProxy: parseTrustProxy(parsed.TRUST_PROXY),
    recoveryMaxMessages: parsed.RECOVERY_MAX_MESSAGES,
    authSecret: parseSecret(parsed.AUTH_SECRET),
    extendedFrames: parseBoolean('EXTENDED_FRAMES', parsed.EXTENDED_FRAMES)
  }
}

function oneOf (name: string, value: string, allowed: string[]): string {
  if (allowed.includes(value)) return value
  throw new ConfigError(`invalid configuration: ${name}: "${value}" is not one of ${allowed.join(', ')}`)
}

function parseBoolean (name: string, value: string): boolean {
  const normalized = value.trim().toLowerCase()
  if (['true', '1', 'yes', 'on'].includes(normalized)) return true
  if (['false', '0', 'no', 'off', ''].includes(normalized)) return false
  throw new ConfigError(`invalid configuration: ${name}: "${value}" is not a boolean (true/false, 1/0, yes/no)`)
}

function parseSecret (value: string): string | null {
  if (value === '') return null
  // HS256 with a short secret can be brute-forced offline from any token.
  if (value.length < 32) throw new ConfigError('invalid configuration: AUTH_SECRET: use at least 32 characters (e.g. `openssl rand -hex 32`)')
  return value
}

function parseTrustProxy (value: string): boolean | number | string[] {
  const trimmed = value.trim()
  if (/^\d+$/.test(trimmed)) return Number(trimmed)
  if (/^(true|false|yes|no|on|off)$/i.test(trimmed) || trimmed === '') return parseBoolean('TRUST_PROXY', trimmed)
  const list = trimmed.split(',').map((entry) => entry.trim()).filter(Boolean)
  for (const entry of list) {
    if (!/^[0-9a-f:.]+(\/\d{1,3})?$/i.test(entry)) {
      throw new ConfigError(`invalid configuration: TRUST_PROXY: "${entry}" is not true/false, a hop count, or an address/CIDR list`)
    }
  }
  return list
}

export function isPostgresUrl (value: string): boolean {
  return /^postgres(ql)?:\/\//i.test(value)
}

function parseSchemaName (value: string): string | null {
  if (value === '') return null
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(value)) {
    throw new ConfigError(`invalid configuration: DATABASE_SCHEMA: "${value}" is not a lower-case PostgreSQL identifier`)
  }
  return value
}

function parseRedisUrl (value: string): string | null {
  if (value.trim() === '') return null
  if (!/^rediss?:\/\/[^\s]+$/i.test(value.trim())) {
    throw new ConfigError('invalid configuration: REDIS_URL: expected redis://[user:password@]host:port[/db] or rediss://…')
  }
  return value.trim()
}

function parseDatabaseUrl (value: string): string {
  if (isPostgresUrl(value)) {
    try {
      new URL(value) // eslint-disable-line no-new
    } catch {
      throw new ConfigError('invalid configuration: DATABASE_URL: not a valid postgres:// URL')
    }
    return value
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value) && !/^(sqlite|file):/i.test(value)) {
    throw new ConfigError(`invalid configuration: DATABASE_URL: unsupported scheme in "${value.split(':')[0]}:"; use a SQLite file path or a postgres:// URL`)
  }
  return value.replace(/^(sqlite|file):(\/\/)?/i, '')
}

function parseOrigins (value: string): string[] {
  const origins = value.split(',').map((origin) => origin.trim()).filter(Boolean)
  for (const origin of origins) {
    if (origin === '*') {
      throw new ConfigError('invalid configuration: CORS_ORIGINS: "*" cannot be used with credentials; list the exact origins')
    }
    let url: URL
    try {
      url = new URL(origin)
    } catch {
      throw new ConfigError(`invalid configuration: CORS_ORIGINS: "${origin}" is not an origin like https://app.example.com`)
    }
    if (url.origin !== origin) {
      throw new ConfigError(`invalid configuration: CORS_ORIGINS: "${origin}" is not an exact origin (did you mean "${url.origin}"?)`)
    }
  }
  return origins
}

function parsePattern (value: string): RegExp | null {
  if (value === '') return null
  try {
    // Anchored, so a pattern for *.vercel.app cannot match https://evil.vercel.app.attacker.com.
    return new RegExp(`^(?:${value})$`)
  } catch (err) {
    throw new ConfigError(`invalid configuration: CORS_ORIGIN_PATTERN: ${(err as Error).message}`)
  }
}
