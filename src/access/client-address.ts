// The one rule that turns a request's address into the key of every per-address limit.
import { normalizeIP } from '@fastify/rate-limit'

/** An IPv6 client holds a whole /64 (one home, one phone): one key for all of it. */
export const IPV6_PREFIX = 64

/** The key of the client's address for REST limits, socket caps and login limits. */
export function clientKey (ip: string | undefined): string {
  // No peer address (a unix socket, an injected request): one shared key.
  return ip ? normalizeIP(ip, IPV6_PREFIX) : 'unknown'
}

/**
 * Fastify's trustProxy for a TRUST_PROXY value. A hop count becomes a trust function:
 * Fastify 5.12.1+ reads a number as "trust nothing" (a hop count cannot tell the proxy
 * from a client that reaches the server directly), which behind Railway's edge would
 * give every client the proxy's address. So a count is only for a server reachable
 * solely through its proxies (Railway's is); otherwise list the proxies' addresses.
 */
export function trustProxyOption (value: boolean | number | string[]): boolean | string[] | ((address: string, hop: number) => boolean) {
  if (typeof value !== 'number') return value
  // Hop 0 is the peer of the TCP connection, hop 1 the X-Forwarded-For entry it added…
  return (_address, hop) => hop < value
}
