import t from 'tap'
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { hog } from './child-server'

// A store whose WAL is checkpointed on its worker every 10 ms and restarted every 100
// frames, appending as fast as it can in a child process that is killed with SIGKILL once
// the WAL has restarted, over and over on one file, with the CPUs busy: every acknowledged
// message must be there afterwards, each once, seqs without a gap.
const ROUNDS = Number(process.env.CHECKPOINT_CRASH_ROUNDS ?? 8)
const STORE_JS = join(__dirname, '..', 'dist', 'src', 'store', 'sqlite-store.js')

const CHILD = `
const { createSqliteStore } = require(process.argv[1])
let restarts = 0
const store = createSqliteStore({
  filename: process.argv[2],
  checkpoint: { intervalMs: 10, restartFrames: 100, onCheckpoint: (r) => { if (r.thread === 'main') restarts++ } }
})
;(async () => {
  for (let i = 0; ; i += 20) {
    const batch = await Promise.all(Array.from({ length: 20 }, (_, k) =>
      store.append({ roomId: 'r', userId: 'u', username: 'U', avatar: null, content: process.argv[3] + '-' + (i + k) + ' ' + 'x'.repeat(500) })))
    process.send({ restarts, acked: batch.map((m) => [m.id, m.seq, m.content.split(' ')[0]]) })
  }
})()
`

interface Acked { id: string, seq: number, content: string }

t.test('SIGKILL while the worker checkpoints and the WAL restarts: every acknowledged message stays, once, in order', async (t) => {
  const filename = join(t.testdir(), 'parley.db')
  const hogs = hog(120_000)
  t.teardown(() => { for (const h of hogs) h.kill('SIGKILL') })
  const acked = new Map<string, Acked>()

  for (let round = 1; round <= ROUNDS; round++) {
    const child = spawn(process.execPath, ['-e', CHILD, STORE_JS, filename, `round${round}`], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] })
    t.teardown(() => child.kill('SIGKILL'))
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)))
    let restarts = 0
    // Killed a little after its second restart: mid-append, and at times mid-checkpoint.
    await new Promise<void>((resolve) => {
      child.on('message', (report: { restarts: number, acked: Array<[string, number, string]> }) => {
        for (const [id, seq, content] of report.acked) acked.set(id, { id, seq, content })
        restarts = report.restarts
        if (restarts >= 2) setTimeout(resolve, Math.floor(Math.random() * 30))
      })
      void exited.then(() => resolve())
    })
    child.kill('SIGKILL')
    t.equal(await exited, 'SIGKILL', `round ${round}: killed after ${restarts} WAL restarts`)
  }

  const db = new Database(filename)
  t.teardown(() => db.close())
  const stored = db.prepare("SELECT id, seq, content FROM messages WHERE room_id = 'r' ORDER BY seq").all() as Acked[]
  t.comment(`acknowledged: ${acked.size}, stored: ${stored.length}`)
  t.same(stored.map((m) => m.seq), stored.map((_, i) => i + 1), 'seqs are 1..N with no gap')
  const byId = new Map(stored.map((m) => [m.id, m]))
  const lost = [...acked.values()].filter((m) => byId.get(m.id)?.seq !== m.seq || !byId.get(m.id)?.content.startsWith(m.content + ' '))
  t.same(lost.slice(0, 10), [], `every acknowledged message is stored with its seq and content (${lost.length} not)`)
  const contents = stored.map((m) => m.content)
  t.equal(new Set(contents).size, contents.length, 'no message is stored twice')
})
