// Token buckets per key (failed logins, new rooms): this instance's own, or shared by every instance through Redis.
import { TokenBucket } from '../socket/token-bucket'

/** A family of buckets, one per key, each holding `burst` tokens and refilled evenly over `windowMs`. */
export interface Buckets {
  /** Takes one token from `key`'s bucket; false when it is empty. */
  take (key: string): Promise<boolean>
  /** Whether `key`'s bucket holds a token now; nothing is taken. */
  has (key: string): Promise<boolean>
}

export interface BucketLimits {
  burst: number
  windowMs: number
}

/** Tokens a second. */
export function refillRate ({ burst, windowMs }: BucketLimits): number {
  return burst / (windowMs / 1000)
}

/** Makes the family `name` (a namespace among the deployment's families) with these limits. */
export type BucketFactory = (name: string, limits: BucketLimits) => Buckets

// Bounded: past this many keys the oldest are forgotten (a flood of keys cannot grow
// memory; whoever floods it only resets buckets they filled themselves).
const MAX_KEYS = 50_000

/** Buckets in this process's memory: the only ones without Redis, the fallback with it. */
export function createLocalBuckets (limits: BucketLimits, maxKeys = MAX_KEYS): Buckets {
  const rate = refillRate(limits)
  const buckets = new Map<string, TokenBucket>()
  const bucket = (key: string) => {
    let b = buckets.get(key)
    if (b === undefined) {
      if (buckets.size >= maxKeys) buckets.delete(buckets.keys().next().value as string)
      b = new TokenBucket(rate, limits.burst)
      buckets.set(key, b)
    }
    return b
  }
  return {
    async take (key) {
      return bucket(key).take()
    },
    async has (key) {
      return bucket(key).peek() >= 1
    }
  }
}

export const localBuckets: BucketFactory = (_name, limits) => createLocalBuckets(limits)
