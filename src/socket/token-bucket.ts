// Refusals past the abuse limit within this window close a socket (frames and pings alike).
const ABUSE_WINDOW_S = 10

/** A token bucket: `rate` tokens a second, holding at most `burst`. A class: one per socket and limit, so no closures. */
export class TokenBucket {
  private tokens: number
  private last: number

  constructor (private readonly rate: number, private readonly burst: number, private readonly now: () => number = performanceNow) {
    this.tokens = burst
    this.last = now()
  }

  /** Takes one token if there is one. */
  take (): boolean {
    if (this.peek() < 1) return false
    this.tokens -= 1
    return true
  }

  /** The tokens there are now, taking none. */
  peek (): number {
    const t = this.now()
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) / 1000) * this.rate)
    this.last = t
    return this.tokens
  }
}

function performanceNow (): number {
  return performance.now()
}

/**
 * The abuse rule of a socket: refusals (frames or pings past their rate) refill at
 * `limit` per ABUSE_WINDOW_S; past that, the socket is abusive. `strike` says so once.
 */
export class Strikes {
  private readonly bucket: TokenBucket
  private abusive = false

  constructor (limit: number) {
    this.bucket = new TokenBucket(limit / ABUSE_WINDOW_S, limit)
  }

  /** Counts one refusal; true for the one that makes the socket abusive, never again. */
  strike (): boolean {
    if (this.abusive || this.bucket.take()) return false
    this.abusive = true
    return true
  }
}
