// SQLite's WAL checkpoints on a worker thread: the copy into the database file and its fsync
// stay off the event loop, which a checkpoint in a commit (wal_autocheckpoint) stalls.
import { Worker } from 'node:worker_threads'
import type { Database } from 'better-sqlite3'

// The store's checkpoint size, in WAL pages: the worker's restart size, or the commits'
// wal_autocheckpoint without it. 4000, not SQLite's 1000: a busy room rewrites its newest
// page in every commit, and a checkpoint copies only its last version, so rarer
// checkpoints copy and fsync less per message.
export const CHECKPOINT_PAGES = 4000
/** How often the worker checkpoints by default (SQLITE_CHECKPOINT_INTERVAL_MS's default too). */
export const CHECKPOINT_INTERVAL_MS = 500

export interface CheckpointerOptions {
  /** How often the worker checkpoints (ms). */
  intervalMs?: number
  /** Once the WAL holds this many frames, the log is restarted from its start (the store's default: its checkpoint size). */
  restartFrames?: number
  /** Each checkpoint: who ran it, how long it took, and the WAL's frames (all, copied). */
  onCheckpoint? (report: CheckpointReport): void
  /** The worker failed: checkpoints fall back to the commits (wal_autocheckpoint). */
  onError? (err: Error): void
}

export interface CheckpointReport {
  thread: 'worker' | 'main'
  seconds: number
  frames: number
  copied: number
}

interface WorkerReport { seconds: number, log: number, checkpointed: number, busy: number }

// Its own connection, PASSIVE checkpoints only: it never waits for the main connection's
// readers or writer, nor makes them wait. Plain JavaScript, so that it runs the same from
// the build and under the tests' TypeScript loader.
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads')
const Database = require(workerData.driver)
// better-sqlite3's errors reach the main thread as bare objects: a plain Error keeps the words.
const plain = (err) => new Error(\`\${err.code ? err.code + ': ' : ''}\${err.message}\`)
let db
try {
  db = new Database(workerData.filename, { fileMustExist: true, timeout: 0 })
} catch (err) {
  throw plain(err)
}
const timer = setInterval(() => {
  const started = performance.now()
  let result
  try {
    result = db.pragma('wal_checkpoint(PASSIVE)')[0]
  } catch (err) {
    throw plain(err)
  }
  parentPort.postMessage({ ...result, seconds: (performance.now() - started) / 1000 })
}, workerData.intervalMs)
parentPort.on('message', () => {
  clearInterval(timer)
  db.close()
  parentPort.close()
})
`

/**
 * Moves a file database's checkpoints to a worker. The main connection keeps
 * wal_autocheckpoint at four times `restartFrames` as a bound if the worker falls behind or
 * fails (then at `restartFrames`). A WAL is only restarted by a writer that finds it fully
 * copied, which a checkpoint running beside continuous writes never leaves: so once the
 * WAL is `restartFrames` long and the worker has copied what it found, the main connection
 * copies the few frames written since (a small PASSIVE checkpoint of its own), and its next
 * commit starts the log again from the beginning.
 */
export function startCheckpointer (db: Database, filename: string, opts: CheckpointerOptions & { restartFrames: number }): { stop (): Promise<void> } {
  const { restartFrames } = opts
  db.pragma(`wal_autocheckpoint = ${restartFrames * 4}`)
  const worker = new Worker(WORKER, {
    eval: true,
    workerData: { driver: require.resolve('better-sqlite3'), filename, intervalMs: opts.intervalMs ?? CHECKPOINT_INTERVAL_MS }
  })
  worker.unref()
  let stopped = false
  let last = { log: 0, checkpointed: 0 }
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()))

  worker.on('message', (report: WorkerReport) => {
    // An idle WAL is checked again and again: only a checkpoint that found new frames is reported.
    if (stopped || !db.open || (report.log === last.log && report.checkpointed === last.checkpointed)) return
    last = report
    opts.onCheckpoint?.({ thread: 'worker', seconds: report.seconds, frames: report.log, copied: report.checkpointed })
    if (report.busy !== 0 || report.log < restartFrames || report.checkpointed < report.log) return
    const started = performance.now()
    try {
      const [result] = db.pragma('wal_checkpoint(PASSIVE)') as Array<{ log: number, checkpointed: number }>
      opts.onCheckpoint?.({ thread: 'main', seconds: (performance.now() - started) / 1000, frames: result.log, copied: result.checkpointed })
    } catch (err) {
      // A disk error here is the commits' to report too; the worker carries on, the restart waits for its next round.
      opts.onError?.(err as Error)
    }
  })
  worker.on('error', (err) => {
    if (db.open) db.pragma(`wal_autocheckpoint = ${restartFrames}`)
    opts.onError?.(err)
  })

  return {
    /** Stops the worker and closes its connection (before the main one closes, which then removes the WAL). */
    async stop () {
      if (stopped) return exited
      stopped = true
      worker.postMessage('stop')
      const timeout = setTimeout(() => { void worker.terminate() }, 5000)
      await exited
      clearTimeout(timeout)
    }
  }
}
