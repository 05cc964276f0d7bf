'use strict'
// The environment Parley runs with under the bench. Parley's limits (per-socket
// message rates, sockets per address, REST rate limit…) are meant for real clients;
// a load generator on one address would trip them and measure the limiter instead of
// the server. So every limit variable gets a generous value.
//
// LIMITS is the table to update when src/config.ts gains a limit. Variables that are
// not in the table but look like a limit are raised too (to their schema maximum),
// and the bench prints them so the table can be updated.

const path = require('node:path')
const { ROOT } = require('./lib')

// name → value (a number, or 'max' for the schema's maximum)
const LIMITS = {
  WS_MESSAGE_RATE: 'max',
  WS_MESSAGE_BURST: 'max',
  WS_FRAME_RATE: 'max',
  WS_FRAME_BURST: 'max',
  WS_ABUSE_LIMIT: 'max',
  MAX_SOCKETS_PER_ROOM: 'max',
  MAX_SOCKETS_PER_IP: 'max',
  MAX_SOCKETS: 'max',
  NEW_ROOMS_PER_IP: 'max',
  LOGIN_ATTEMPTS_PER_IP: 'max',
  MAX_CONNECTIONS: 'max',
  RATE_LIMIT_MAX: 'max',
  // A slow-consumer cap: the floor has none, and an overloaded step would cut sockets.
  MAX_BUFFERED_BYTES: 'max'
}

// Variables that look like limits but are not throttles (or where bigger is stricter).
const KEEP = new Set([
  'PORT', 'HOST', 'DATABASE_URL', 'REDIS_URL', 'CORS_ORIGINS', 'CORS_ORIGIN_PATTERN', 'LOG_LEVEL',
  'MAX_CONTENT_LENGTH', 'MAX_FRAME_BYTES', 'BODY_LIMIT_BYTES', 'HISTORY_MAX_LIMIT', 'HISTORY_MAX_BYTES',
  'WS_PING_INTERVAL_MS', 'SHUTDOWN_GRACE_MS', 'RATE_LIMIT_WINDOW_MS', 'TYPING_THROTTLE_MS',
  'TYPING_TIMEOUT_MS', 'TRUST_PROXY', 'EXTENDED_FRAMES', 'SQLITE_SYNCHRONOUS', 'SQLITE_COMMIT_INTERVAL_MS'
])
const LOOKS_LIKE_LIMIT = /(RATE|BURST|PER_IP|PER_ROOM|PER_USER|MAX_SOCKETS|MAX_CONNECTIONS|QUOTA|ABUSE|_LIMIT$|_MAX$)/
const NOT_A_THROTTLE = /(_MS|_SECONDS|WINDOW|INTERVAL|TIMEOUT|GRACE)$/

/**
 * Reads Parley's EnvSchema from the build (dist/src/config.js) and returns
 * { env, applied, unknown }: the limit variables to pass, what was applied, and
 * limit-like names the table does not know yet.
 */
function limitEnv () {
  let schema
  try {
    schema = require(path.join(ROOT, 'dist/src/config.js')).EnvSchema
  } catch (err) {
    return { env: {}, applied: {}, unknown: [], error: `could not read dist/src/config.js: ${err.message}` }
  }
  const props = (schema && schema.properties) || {}
  const env = {}
  const unknown = []
  for (const [name, prop] of Object.entries(props)) {
    let wanted = LIMITS[name]
    if (wanted === undefined) {
      if (KEEP.has(name) || !LOOKS_LIKE_LIMIT.test(name) || NOT_A_THROTTLE.test(name)) continue
      unknown.push(name)
      wanted = 'max'
    }
    const isNumber = prop.type === 'integer' || prop.type === 'number'
    if (!isNumber) continue
    const value = wanted === 'max' ? (prop.maximum ?? 1_000_000_000) : Math.min(wanted, prop.maximum ?? Infinity)
    env[name] = String(value)
  }
  return { env, applied: { ...env }, unknown }
}

module.exports = { LIMITS, limitEnv }
