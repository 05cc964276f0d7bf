// Brute-force limits on logins: failed attempts per login name and per client address.
import { TokenBucket } from '../socket/token-bucket'

export interface LoginLimits {
  /** Failed logins allowed per name, refilled over `windowMs`. */
  perName: number
  /** Failed logins allowed per client address, refilled over `windowMs`. */
  perAddress: number
  windowMs: number
}

// Bounded: past this many tracked keys the oldest are forgotten (a flood of names
// cannot grow memory; an attacker who floods it only resets buckets it already filled).
const MAX_KEYS = 50_000

/**
 * Per instance, in memory: a failed login takes a token from its name's bucket and
 * from its address's; a login is refused while either is empty. A success does not
 * refill them (that would let one known password reset the limit for guesses).
 */
export function createLoginLimiter (limits: LoginLimits) {
  const buckets = new Map<string, TokenBucket>()
  const bucket = (key: string, burst: number) => {
    let b = buckets.get(key)
    if (b === undefined) {
      if (buckets.size >= MAX_KEYS) buckets.delete(buckets.keys().next().value as string)
      b = new TokenBucket(burst / (limits.windowMs / 1000), burst)
      buckets.set(key, b)
    }
    return b
  }
  const nameKey = (name: string) => `n:${name.toLowerCase()}`
  const addressKey = (address: string) => `a:${address}`

  return {
    /** Whether another attempt is allowed now (nothing is taken). */
    allowed (name: string, address: string): boolean {
      return bucket(nameKey(name), limits.perName).peek() >= 1 && bucket(addressKey(address), limits.perAddress).peek() >= 1
    },
    failed (name: string, address: string): void {
      bucket(nameKey(name), limits.perName).take()
      bucket(addressKey(address), limits.perAddress).take()
    }
  }
}
