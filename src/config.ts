// The environment, parsed once at boot: every variable declared once, with its default and meaning.
import { Type, type Static, type TSchema } from '@sinclair/typebox'
import envSchema from 'env-schema'
import { CHECKPOINT_INTERVAL_MS, CHECKPOINT_PAGES } from './store/sqlite-checkpointer'
import { ConfigError, oneOf, parseBoolean, parseDatabaseUrl, parseOrigins, parsePattern, parsePublicUrl, parseRedisUrl, parseSchemaName, parseSecret, parseTrustProxy } from './config-values'

export { ConfigError, isPostgresUrl } from './config-values'

export const DEFAULT_CORS_ORIGINS = [
  'http://localhost:3000',
  'https://video-chat-frontend-ruby.vercel.app',
  'https://next-js-14-front-end-for-chat-plast.vercel.app'
]

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']

/** One environment variable: its name, its schema (default, range, meaning) and how its text becomes a value. */
interface Variable<S extends TSchema, T> {
  name: string
  schema: S
  parse (value: Static<S>): T
}

function env<S extends TSchema> (name: string, schema: S): Variable<S, Static<S>>
function env<S extends TSchema, T> (name: string, schema: S, parse: (value: Static<S>, name: string) => T): Variable<S, T>
function env<S extends TSchema, T> (name: string, schema: S, parse?: (value: Static<S>, name: string) => T): Variable<S, T | Static<S>> {
  return { name, schema, parse: parse === undefined ? (value) => value : (value) => parse(value, name) }
}

const int = (minimum: number, maximum: number, fallback: number, description: string) =>
  Type.Integer({ minimum, maximum, default: fallback, description })
const text = (fallback: string, description: string) => Type.String({ default: fallback, description })
const boolean = (fallback: boolean, description: string) => Type.String({ default: String(fallback), description })

/**
 * Every setting, once: the environment variable, its default and range, what it means
 * (the README's table is generated from this: `npm run config-table`), and its Config key.
 */
export const VARIABLES = {
  port: env('PORT', int(0, 65535, 8000, 'TCP port to listen on. Railway injects it.')),
  host: env('HOST', Type.String({ minLength: 1, default: '0.0.0.0', description: 'Address to bind. Use `::` for dual stack, which Railway\'s private network needs.' })),
  databaseUrl: env('DATABASE_URL', Type.String({ minLength: 1, default: 'data/parley.db', description: '`postgres://…` selects PostgreSQL (Railway\'s Postgres plugin sets it). Anything else is SQLite: a file path, `:memory:`, or a `sqlite:`/`file:` URL; missing folders are created. Any other `scheme://` is refused.' }), parseDatabaseUrl),
  databaseSchema: env('DATABASE_SCHEMA', text('', 'PostgreSQL only: keep Parley\'s tables in this schema (created if missing) instead of the connection\'s search_path.'), parseSchemaName),
  pgPoolSize: env('PG_POOL_SIZE', int(1, 1000, 10, 'PostgreSQL only: connections per instance. Half of them (at least 1) write messages, the rest (at least 1) serve everything else.')),
  sqliteSynchronous: env('SQLITE_SYNCHRONOUS', Type.Union([Type.Literal('normal'), Type.Literal('full')], { default: 'normal', description: '`normal` survives a process crash (kill -9); `full` also survives power loss, at a cost per commit.' })),
  sqliteCommitIntervalMs: env('SQLITE_COMMIT_INTERVAL_MS', int(0, 1000, 0, 'Group commit: at most one SQLite commit per this many ms (0: one per event-loop turn).')),
  sqliteCheckpointIntervalMs: env('SQLITE_CHECKPOINT_INTERVAL_MS', int(0, 60_000, CHECKPOINT_INTERVAL_MS, `A worker thread checkpoints the SQLite WAL this often, off the event loop (0: the commits checkpoint, every ${CHECKPOINT_PAGES} pages).`)),
  redisUrl: env('REDIS_URL', text('', '`redis://…` or `rediss://…`: fan-out and presence through Redis, so several instances serve one room (Railway\'s Redis plugin sets it). Unset: one instance.'), parseRedisUrl),
  redisPrefix: env('REDIS_PREFIX', Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_.:-]+$', default: 'parley', description: 'Namespace of Parley\'s Redis channels and keys; deployments sharing one Redis need different ones.' })),
  presenceTtlMs: env('PRESENCE_TTL_MS', int(300, 600_000, 15_000, 'With Redis: the users of an instance that stopped refreshing their presence (it died) expire after this.')),
  corsOrigins: env('CORS_ORIGINS', text(DEFAULT_CORS_ORIGINS.join(','), 'Comma-separated exact origins (`scheme://host[:port]`) allowed for CORS and socket upgrades. `*` is refused (credentials are allowed).'), parseOrigins),
  corsOriginPattern: env('CORS_ORIGIN_PATTERN', text('', 'A regular expression for more origins (e.g. preview deployments), anchored as `^(?:…)$`.'), parsePattern),
  logLevel: env('LOG_LEVEL', text('info', `One of ${LOG_LEVELS.join(', ')}.`), (value, name) => oneOf(name, value, LOG_LEVELS)),
  maxContentLength: env('MAX_CONTENT_LENGTH', int(1, 1_000_000, 4000, 'Longest message `content`, in characters (code points); REST and socket alike.')),
  maxFrameBytes: env('MAX_FRAME_BYTES', int(1024, 16_777_216, 65_536, 'Largest WebSocket frame accepted, in bytes; a bigger one closes the socket with 1009.')),
  requestTimeoutMs: env('REQUEST_TIMEOUT_MS', int(1000, 3_600_000, 60_000, 'A request must arrive whole (headers within 10 s, or this if less) within this; a client that trickles one gets 408. An upgraded socket is not affected.')),
  bodyLimitBytes: env('BODY_LIMIT_BYTES', int(1024, 16_777_216, 65_536, 'Largest HTTP request body, in bytes; a bigger one gets 413.')),
  historyMaxLimit: env('HISTORY_MAX_LIMIT', int(1, 10_000, 500, 'Cap on `GET …/messages?limit=`; larger limits are clamped to it.')),
  historyMaxBytes: env('HISTORY_MAX_BYTES', int(65_536, 268_435_456, 1_048_576, 'Largest `GET …/messages` response, in bytes: a page that would be bigger holds only its newest messages that fit (still oldest first; page on with `before`).')),
  wsPingIntervalMs: env('WS_PING_INTERVAL_MS', int(1000, 600_000, 30_000, 'Protocol pings; a socket that has not answered the previous one is terminated.')),
  metricsToken: env('METRICS_TOKEN', text('', 'When set, `GET /metrics` needs `Authorization: Bearer <METRICS_TOKEN>` (401 otherwise). Unset: public, so block it at the proxy.'), (value) => value.trim() || null),
  shutdownGraceMs: env('SHUTDOWN_GRACE_MS', int(100, 600_000, 10_000, 'On SIGTERM/SIGINT, how long shutdown may take before the process is forced out.')),
  maxBufferedBytes: env('MAX_BUFFERED_BYTES', int(16_384, 1_073_741_824, 1_048_576, 'A socket\'s byte budget: everything the server queues for it (broadcasts, replies, a replay, deliveries held during one); a write past it cuts the socket with 1013 (slow consumer).')),
  wsDrainTimeoutMs: env('WS_DRAIN_TIMEOUT_MS', int(100, 600_000, 30_000, 'A replay (`since=`, a DM socket\'s offline push) larger than MAX_BUFFERED_BYTES waits this long at most for the client to read what is queued; then close 1013 (slow consumer).')),
  wsMessageRate: env('WS_MESSAGE_RATE', Type.Number({ exclusiveMinimum: 0, maximum: 100_000, default: 5, description: 'Chat messages per second per socket.' })),
  wsMessageBurst: env('WS_MESSAGE_BURST', int(1, 1_000_000, 10, 'Chat messages a socket may send in a burst above WS_MESSAGE_RATE.')),
  wsFrameRate: env('WS_FRAME_RATE', Type.Number({ exclusiveMinimum: 0, maximum: 100_000, default: 30, description: 'Frames of any kind per second per socket; the client\'s protocol pings count apart, at the same rate and burst.' })),
  wsFrameBurst: env('WS_FRAME_BURST', int(1, 1_000_000, 60, 'Frames a socket may send in a burst above WS_FRAME_RATE.')),
  wsAbuseLimit: env('WS_ABUSE_LIMIT', int(1, 1_000_000, 30, 'Rate-limit refusals (refilled at this many per 10 s) before the socket is closed with 1008.')),
  wsMaxPendingFrames: env('WS_MAX_PENDING_FRAMES', int(1, 100_000, 64, 'Frames of one socket waiting to be handled (commits in flight included); more are refused with `overloaded`. Raise it with WS_MESSAGE_RATE: at 250 messages/s, 64 frames are 256 ms of a stalled database.')),
  maxSocketsPerRoom: env('MAX_SOCKETS_PER_ROOM', int(1, 1_000_000, 1000, 'Sockets per room on one instance; more get close 1013.')),
  maxSocketsPerIp: env('MAX_SOCKETS_PER_IP', int(1, 1_000_000, 100, 'Sockets per client address (an IPv6 client by its /64, as the REST limit) on one instance; more get close 1008.')),
  maxSockets: env('MAX_SOCKETS', int(1, 10_000_000, 20_000, 'Open sockets (room and DM) on one instance; more get close 1013.')),
  newRoomsPerIp: env('NEW_ROOMS_PER_IP', int(1, 100_000_000, 100, 'Rooms one client address may bring into being (a join, message, socket or POST /rooms for a new id) per NEW_ROOMS_WINDOW_MS; more get 429 (a socket: close 1008).')),
  newRoomsWindowMs: env('NEW_ROOMS_WINDOW_MS', int(1000, 604_800_000, 3_600_000, 'The window of NEW_ROOMS_PER_IP.')),
  rateLimitMax: env('RATE_LIMIT_MAX', int(1, 100_000_000, 600, 'REST requests per client address per window; more get 429.')),
  rateLimitWindowMs: env('RATE_LIMIT_WINDOW_MS', int(1000, 86_400_000, 60_000, 'The window of RATE_LIMIT_MAX.')),
  typingThrottleMs: env('TYPING_THROTTLE_MS', int(0, 60_000, 2000, 'A socket\'s `typing_start` is relayed at most once per this.')),
  typingTimeoutMs: env('TYPING_TIMEOUT_MS', int(500, 600_000, 6000, 'A typing user silent this long gets a `typing_stop` broadcast.')),
  trustProxy: env('TRUST_PROXY', text('false', 'Which proxies to believe about the client\'s address: a hop count (Railway: `1`), or a comma list of proxy addresses/CIDRs. `true` believes every `X-Forwarded-For` entry, so a client can pick its own address (warned at start).'), parseTrustProxy),
  authSecret: env('AUTH_SECRET', text('', 'At least 32 characters: REST writes and sockets need an HS256 JWT whose `sub` is the user id. Unset: open mode.'), parseSecret),
  publicReads: env('PUBLIC_READS', boolean(false, 'With AUTH_SECRET: reads (history, rooms, members, users) need no token. Off: every read needs one, as writes do.'), parseBoolean),
  authIssuer: env('AUTH_ISSUER', text('', 'When set, a token\'s `iss` must be this (and Parley\'s own tokens carry it).'), (value) => value.trim() || null),
  authAudience: env('AUTH_AUDIENCE', text('', 'When set, a token\'s `aud` must be this (and Parley\'s own tokens carry it).'), (value) => value.trim() || null),
  recoveryMaxMessages: env('RECOVERY_MAX_MESSAGES', int(1, 100_000, 1000, 'A socket resuming with `since=` that missed more than this gets a `recovery` `gap` frame instead of a replay.')),
  publicUrl: env('PUBLIC_URL', text('', 'This server\'s public origin (e.g. `https://api.example.com`), for the URLs it hands out (room thumbnails). Unset: taken from each request (Host, or X-Forwarded-* with TRUST_PROXY).'), parsePublicUrl),
  thumbnailMaxBytes: env('THUMBNAIL_MAX_BYTES', int(1024, 8_388_608, 262_144, 'Largest uploaded room thumbnail (a `data:image/…` URL in `POST /rooms`), decoded, in bytes.')),
  typingAfterSendMs: env('TYPING_AFTER_SEND_MS', int(0, 10_000, 500, 'A `typing_start` this soon after the same socket\'s chat message is not relayed (the client\'s debounce fires after a quick send).')),
  accountTokenTtlS: env('ACCOUNT_TOKEN_TTL_S', int(60, 31_536_000, 604_800, 'Lifetime of the token `/auth/signup` and `/auth/login` hand out, in seconds.')),
  loginAttemptsPerName: env('LOGIN_ATTEMPTS_PER_NAME', int(1, 10_000, 10, 'Failed logins (and room password guesses) allowed per name per LOGIN_WINDOW_MS; more get 429.')),
  loginAttemptsPerIp: env('LOGIN_ATTEMPTS_PER_IP', int(1, 100_000, 50, 'Failed logins (and room password guesses) allowed per client address per LOGIN_WINDOW_MS.')),
  loginWindowMs: env('LOGIN_WINDOW_MS', int(1000, 86_400_000, 900_000, 'The window over which failed logins are counted (they refill evenly over it).')),
  extendedFrames: env('EXTENDED_FRAMES', boolean(false, 'Send `room_state` to every socket, not only to those that ask with `presence=1`; only if every client understands it.'), parseBoolean)
}

type Variables = typeof VARIABLES
/** The parsed configuration: one key per variable, typed by its parser. */
export type Config = { [K in keyof Variables]: ReturnType<Variables[K]['parse']> }

// The environment as it arrives: strings, coerced and defaulted by the schema.
export const EnvSchema = Type.Object(Object.fromEntries(Object.values(VARIABLES).map((v) => [v.name, v.schema])))
export type Env = Record<string, unknown>

/** Parses the environment once; any bad value throws a ConfigError naming the variable. */
export function loadConfig (environment: NodeJS.ProcessEnv = process.env): Config {
  let parsed: Env
  try {
    parsed = envSchema<Env>({ schema: structuredClone(EnvSchema), data: environment, env: false })
  } catch (err) {
    // ajv says "env/PORT must be integer"; say it the way an operator reads it.
    throw new ConfigError(`invalid configuration: ${(err as Error).message.replace(/env\//g, '')}`)
  }
  const config: Record<string, unknown> = {}
  for (const [key, variable] of Object.entries(VARIABLES)) {
    config[key] = (variable.parse as (value: unknown) => unknown)(parsed[variable.name])
  }
  return config as Config
}

/** What a start-up should warn about: settings that work but weaken something. */
export function configWarnings (config: Config): string[] {
  const warnings: string[] = []
  if (config.trustProxy === true) {
    warnings.push('TRUST_PROXY=true trusts every X-Forwarded-For entry, the leftmost of which the client writes: rate limits and per-address socket caps can be walked around. Set the number of proxy hops instead (Railway: TRUST_PROXY=1) or the proxies\' addresses.')
  }
  return warnings
}

/** The README's configuration table, from VARIABLES. */
export function configTable (): string {
  const value = (schema: TSchema) => (schema.default === '' ? '*(unset)*' : `\`${String(schema.default)}\``)
  return [
    '| Variable | Default | Meaning |',
    '|---|---|---|',
    ...Object.values(VARIABLES).map((v) => `| \`${v.name}\` | ${value(v.schema)} | ${(v.schema as TSchema).description} |`)
  ].join('\n')
}
