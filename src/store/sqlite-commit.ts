// SQLite group commit: the writes asked for during one turn of the event loop share one transaction.
import type Database from 'better-sqlite3'

type Pending = { run (): unknown, resolve (value: unknown): void, reject (err: unknown): void }

/**
 * The writes asked for during one turn of the event loop (appends, direct messages,
 * delivery marks, profiles) share one transaction (one WAL commit) and are all
 * resolved after it, so nothing is acknowledged before it is durable, and a burst
 * pays one commit instead of many.
 */
export function createGroupCommit (db: Database.Database, opts: {
  /** At most one commit per this many ms (0: every loop turn); an idle store commits at once. */
  commitIntervalMs: number
  /** How long a lazy write (a connect's profile) may wait for company. */
  lazyWaitMs: number
  /** Runs inside each transaction after its writes (the store's per-commit bookkeeping). */
  beforeCommit (): void
  /** After a transaction rolled back: what the store kept from its writes is void. */
  rolledBack (): void
}) {
  const { commitIntervalMs, lazyWaitMs, beforeCommit, rolledBack } = opts
  let pending: Pending[] = []
  const commitBatch = db.transaction((items: Pending[]) => {
    const results = items.map((item) => item.run())
    beforeCommit()
    return results
  })
  const commitOne = db.transaction((item: Pending) => {
    const result = item.run()
    beforeCommit()
    return result
  })

  function flush (): void {
    const items = pending
    pending = []
    lastCommit = performance.now()
    if (!db.open) {
      for (const item of items) item.reject(new Error('the store is closed'))
      return
    }
    let results: unknown[]
    try {
      results = commitBatch(items)
    } catch {
      rolledBack()
      // One bad item must not fail its neighbours: redo them one by one.
      for (const item of items) {
        try {
          item.resolve(commitOne(item))
        } catch (err) {
          rolledBack()
          item.reject(err)
        }
      }
      return
    }
    for (let i = 0; i < items.length; i++) items[i].resolve(results[i])
  }

  let lastCommit = -Infinity
  // The next commit: `soon` (next turn, or the interval's end), or `later` (a lazy write's wait).
  let scheduled: { soon: boolean, timer: NodeJS.Timeout | NodeJS.Immediate } | null = null
  function flushScheduled (): void {
    scheduled = null
    if (pending.length > 0) flush()
  }
  function scheduleFlush (soon: boolean): void {
    if (scheduled !== null) {
      if (scheduled.soon || !soon) return
      clearTimeout(scheduled.timer as NodeJS.Timeout)
    }
    const wait = lastCommit + commitIntervalMs - performance.now()
    const timer = !soon ? setTimeout(flushScheduled, Math.max(wait, lazyWaitMs))
      : wait <= 0 ? setImmediate(flushScheduled)
        : setTimeout(flushScheduled, wait)
    scheduled = { soon, timer }
  }

  return {
    /**
     * Runs `run` inside the next group commit: a plain function, no transaction of its own.
     * `lazy`: the commit may wait lazyWaitMs for company; any other write brings it forward.
     */
    write<T> (run: () => T, lazy = false): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        scheduleFlush(!lazy)
        pending.push({ run, resolve: resolve as (value: unknown) => void, reject })
      })
    },
    /** Commits what waits, now (before the database closes). */
    close (): void {
      if (scheduled !== null) clearTimeout(scheduled.timer as NodeJS.Timeout)
      scheduled = null
      if (pending.length > 0) flush()
    }
  }
}
