// The one origin rule, for CORS and for the WebSocket upgrade.
import type { Config } from '../config'

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]'])

/**
 * The one origin rule, for CORS and for the WebSocket upgrade (browsers do not
 * apply CORS to sockets). No Origin header means a non-browser client: allowed.
 *
 * A page Parley serves itself (/demo) is allowed from this server's own origins:
 * PUBLIC_URL, and a loopback origin on the port the request came in on. Never from
 * whatever the Host header says: a DNS-rebinding page sends a Host and an Origin of
 * the attacker's name that match each other.
 */
export function createOriginCheck (config: Pick<Config, 'corsOrigins' | 'corsOriginPattern' | 'publicUrl'>) {
  const exact = new Set(config.corsOrigins)
  if (config.publicUrl !== null) exact.add(config.publicUrl)
  const pattern = config.corsOriginPattern
  /** `localPort` is asked only for an origin no rule lists (it is a syscall on every socket that reads it). */
  return function isAllowedOrigin (origin: string | undefined, localPort?: () => number | undefined): boolean {
    if (origin === undefined) return true
    if (exact.has(origin) || (pattern !== null && pattern.test(origin))) return true
    const port = localPort?.()
    return port !== undefined && isLoopbackOrigin(origin, port)
  }
}

function isLoopbackOrigin (origin: string, port: number): boolean {
  try {
    const url = new URL(origin)
    return url.protocol === 'http:' && LOOPBACK.has(url.hostname) && Number(url.port || 80) === port && url.origin === origin
  } catch {
    return false
  }
}
