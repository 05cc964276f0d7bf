// The one origin rule, for CORS and for the WebSocket upgrade.
import type { Config } from '../config'

/**
 * The one origin rule, for CORS and for the WebSocket upgrade (browsers do not
 * apply CORS to sockets). No Origin header means a non-browser client: allowed.
 * With the request's Host, a same-origin page (one Parley serves, /demo) is allowed too.
 */
export function createOriginCheck (config: Pick<Config, 'corsOrigins' | 'corsOriginPattern'>) {
  const exact = new Set(config.corsOrigins)
  const pattern = config.corsOriginPattern
  return function isAllowedOrigin (origin: string | undefined, host?: string): boolean {
    if (origin === undefined) return true
    return exact.has(origin) || (pattern !== null && pattern.test(origin)) || (host !== undefined && hostOf(origin) === host)
  }
}

function hostOf (origin: string): string | undefined {
  try {
    return new URL(origin).host
  } catch {
    return undefined
  }
}
