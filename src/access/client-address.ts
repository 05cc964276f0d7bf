// Who the client is behind proxies: TRUST_PROXY as Fastify's trustProxy (the per-address key is plugins/rate-limit.ts clientKey).

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
