/** A token bucket: `rate` tokens a second, holding at most `burst`. */
export function createTokenBucket ({ rate, burst, now = () => performance.now() }: { rate: number, burst: number, now?: () => number }) {
  let tokens = burst
  let last = now()
  return {
    /** Takes one token if there is one. */
    take (): boolean {
      const t = now()
      tokens = Math.min(burst, tokens + ((t - last) / 1000) * rate)
      last = t
      if (tokens < 1) return false
      tokens -= 1
      return true
    }
  }
}
