// Brute-force limits on logins: failed attempts per login name and per client address.
import type { BucketFactory } from '../access/buckets'

export interface LoginLimits {
  /** Failed logins allowed per name, refilled over `windowMs`. */
  perName: number
  /** Failed logins allowed per client address, refilled over `windowMs`. */
  perAddress: number
  windowMs: number
}

/**
 * A failed login takes a token from its name's bucket and from its address's; a login
 * is refused while either is empty. A success does not refill them (that would let one
 * known password reset the limit for guesses). The buckets are the deployment's (every
 * instance's, with Redis) or this instance's.
 */
export function createLoginLimiter (limits: LoginLimits, buckets: BucketFactory) {
  const names = buckets('login-name', { burst: limits.perName, windowMs: limits.windowMs })
  const addresses = buckets('login-address', { burst: limits.perAddress, windowMs: limits.windowMs })
  const nameKey = (name: string) => name.toLowerCase()

  return {
    /** Whether another attempt is allowed now (nothing is taken). */
    async allowed (name: string, address: string): Promise<boolean> {
      const [byName, byAddress] = await Promise.all([names.has(nameKey(name)), addresses.has(address)])
      return byName && byAddress
    },
    async failed (name: string, address: string): Promise<void> {
      await Promise.all([names.take(nameKey(name)), addresses.take(address)])
    }
  }
}
