// Mints a development token: `AUTH_SECRET=… npm run token -- <user_id> [ttl seconds] [room,room…]`.
// In production the app's own backend signs these (HS256, sub = user id).
import { createAuth } from './auth'
import { ConfigError, loadConfig } from '../config'

function main (): number {
  const [userId, ttl = '3600', rooms] = process.argv.slice(2)
  if (!userId || !/^\d+$/.test(ttl)) {
    console.error('usage: AUTH_SECRET=… npm run token -- <user_id> [ttl seconds] [room,room…]')
    return 2
  }
  let config
  try {
    config = loadConfig()
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    console.error(err.message)
    return 1
  }
  const secret = config.authSecret
  if (secret === null) {
    console.error('AUTH_SECRET is not set: Parley runs in open mode and needs no token')
    return 1
  }
  console.log(createAuth(secret, { issuer: config.authIssuer, audience: config.authAudience }).sign(userId, Number(ttl), rooms === undefined ? {} : { rooms: rooms.split(',').filter(Boolean) }))
  return 0
}

process.exitCode = main()
