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
    const t = this.now()
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) / 1000) * this.rate)
    this.last = t
    if (this.tokens < 1) return false
    this.tokens -= 1
    return true
  }
}

function performanceNow (): number {
  return performance.now()
}
