'use strict'
// The PostgreSQL (+ Redis) rows of `npm run bench` (`--only pg` runs them alone). run.js
// calls pgRun with its own machinery (server starters, the fan-out generators and step,
// the alternating REST rounds), so these rows are measured exactly as the SQLite ones.
//
//   REST      Parley on PostgreSQL (no Redis) vs bench/floor-pg.js (bare Fastify + pg,
//             one autocommit statement per message), POST and GET newest page of 100
//   fan-out   one instance, 40k deliveries/s: Parley on SQLite, on PostgreSQL, and on
//             PostgreSQL + Redis, side by side, in alternating rounds
//   two       instances A and B on one PostgreSQL + Redis: senders on A, the rooms' other
//             sockets alternating over A and B; latency per instance, and what Redis adds
//
// The URLs come from --pg / --redis (or BENCH_DATABASE_URL / BENCH_REDIS_URL). Without a
// PostgreSQL URL the phase prints one line and returns; without a Redis URL, likewise for
// the Redis rows. Parley's tables go to a bench-only schema (parley_bench) and the
// floor's to its own (parley_bench_floor), both dropped at the start and the end.

const path = require('node:path')
const pg = require('pg')
const Redis = require('ioredis')
const lib = require('./lib')

const { fmt, median, sleep } = lib
// Processes whose CPU is reported beside the servers' (every one of that name on the machine).
const SERVICES = ['postgres', 'redis-server']
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/

/** A URL with its password hidden, for logs and the results file. */
function redact (url) {
  return String(url).replace(/^([a-z]+:\/\/[^:/@]*):[^@/]*@/i, '$1:***@')
}

/** Runs `fn` with a connected client of its own, closed after whatever happens. */
async function withClient (url, fn) {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 })
  client.on('error', () => {})
  try {
    await client.connect()
    return await fn(client)
  } finally {
    await client.end().catch(() => {})
  }
}

async function probePg (url) {
  try {
    const { rows: [row] } = await withClient(url, (client) => client.query('SHOW server_version'))
    return { ok: true, version: row.server_version }
  } catch (err) {
    return { ok: false, error: err.message }
  }
}

/**
 * The REST rows leave ~500k rows and their dirty pages behind: PostgreSQL writes them out
 * (checkpoint, autovacuum) for minutes after. The fan-out rows start from empty tables,
 * with that debt paid first (a CHECKPOINT, where the role may run one), not during their
 * rounds. Returns how long the checkpoint took, or why it could not run.
 */
async function settleDatabase (url, names) {
  await dropSchemas(url, names)
  const t0 = performance.now()
  try {
    await withClient(url, (client) => client.query('CHECKPOINT'))
    return { checkpointMs: performance.now() - t0 }
  } catch (err) {
    return { checkpointError: err.message }
  }
}

/**
 * The most the POST row can show in this sitting. With n connections on one room, the
 * requests form two groups that alternate: a room has one statement in flight (its seq
 * order is its commit order), and the requests answered by one batch come back while the
 * next is in flight. So Parley does about n / (2 × t) at most, t being one batch of n/2
 * messages. t is timed here alone, through Parley's own store (one write connection, its
 * statement, round trip and commit flush): the ratio's ceiling, before any of Parley's
 * HTTP work and with none of the machine's other load.
 */
async function batchCeiling (url, schema, connections, { runs = 1000, warmup = 100 } = {}) {
  const { createPostgresStore } = require(path.join(lib.ROOT, 'dist', 'src', 'store', 'postgres-store.js'))
  const size = Math.max(1, Math.round(connections / 2))
  // A pool of 2: one write connection, so every batch is one statement on it.
  const store = await createPostgresStore({ connectionString: url, schema, poolSize: 2 })
  // Appended in one turn of the event loop, the messages go as one batch.
  const batch = () => Promise.all(Array.from({ length: size }, () => store.append({
    roomId: 'bench-ceiling', userId: 'poster', username: 'Poster', avatar: null, content: 'hello from the ceiling probe: a typical short chat message'
  })))
  try {
    for (let i = 0; i < warmup; i++) await batch()
    const ms = []
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now()
      await batch()
      ms.push(performance.now() - t0)
    }
    ms.sort((a, b) => a - b)
    const at = (q) => ms[Math.floor(q * (ms.length - 1))]
    const statementMs = at(0.5)
    return { batch: size, runs, statementMs, p10Ms: at(0.1), p90Ms: at(0.9), reqPerSec: connections / (2 * statementMs / 1000) }
  } finally {
    await store.close()
  }
}

async function dropSchemas (url, names) {
  for (const name of names) if (!SCHEMA_NAME.test(name)) throw new Error(`invalid schema name ${name}`)
  await withClient(url, async (client) => {
    for (const name of names) await client.query(`DROP SCHEMA IF EXISTS ${name} CASCADE`)
  })
}

function redisClient (url) {
  const r = new Redis(url, { lazyConnect: true, connectTimeout: 3000, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false })
  r.on('error', () => {})
  return r
}

async function probeRedis (url) {
  const r = redisClient(url)
  try {
    await r.connect()
    const info = await r.info('server')
    return { ok: true, version: (/redis_version:(\S+)/.exec(info) || [])[1] }
  } catch (err) {
    return { ok: false, error: err.message }
  } finally {
    r.disconnect()
  }
}

/** Deletes what the bench's Parley instances left under their REDIS_PREFIX (presence keys). */
async function redisCleanup (url, prefix) {
  const r = redisClient(url)
  let deleted = 0
  try {
    await r.connect()
    let cursor = '0'
    do {
      const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500)
      cursor = next
      if (keys.length) deleted += await r.del(...keys)
    } while (cursor !== '0')
  } finally {
    r.disconnect()
  }
  return deleted
}

// ---------------------------------------------------------------- the phase

/**
 * ctx: { config (CONFIG.pg), fanoutConfig (CONFIG.fanout), startParley, startBenchServer,
 *        restCompare, fanoutSetup, fanoutStep, fanoutTeardown, logStep, waitForQuiet, quiesce }
 */
async function pgRun (ctx) {
  const cfg = ctx.config
  const log = console.log
  const out = { notes: [] }
  const note = (line) => { log(line); out.notes.push(line) }
  if (!cfg.url) {
    note('PostgreSQL rows skipped: no --pg URL (or BENCH_DATABASE_URL)')
    out.skipped = true
    return out
  }
  out.url = redact(cfg.url)
  log('\n== PostgreSQL (+ Redis): REST vs a bare Fastify + pg floor; fan-out on one instance (vs Parley on SQLite) and across two')
  if (!/^postgres(ql)?:\/\//i.test(cfg.url)) {
    note(`PostgreSQL rows skipped: ${out.url} is not a postgres:// URL`)
    out.skipped = true
    return out
  }
  const t0 = performance.now()
  const elapsed = () => performance.now() - t0
  const probe = await probePg(cfg.url)
  if (!probe.ok) {
    note(`PostgreSQL rows skipped: cannot connect to ${out.url} (${probe.error})`)
    out.skipped = true
    return out
  }
  out.postgresVersion = probe.version
  let redisUrl = cfg.redisUrl || ''
  if (!redisUrl) {
    note('Redis rows skipped: no --redis URL (or BENCH_REDIS_URL)')
  } else if (!/^rediss?:\/\//i.test(redisUrl)) {
    note(`Redis rows skipped: ${redact(redisUrl)} is not a redis:// URL`)
    redisUrl = ''
  } else {
    const r = await probeRedis(redisUrl)
    if (r.ok) {
      out.redisUrl = redact(redisUrl)
      out.redisVersion = r.version
    } else {
      note(`Redis rows skipped: cannot connect to ${redact(redisUrl)} (${r.error})`)
      redisUrl = ''
    }
  }
  Object.assign(out, { schema: cfg.schema, floorSchema: cfg.floorSchema, redisPrefix: redisUrl ? cfg.redisPrefix : undefined })
  log(`  PostgreSQL ${probe.version} at ${out.url}: schemas ${cfg.schema} (Parley) and ${cfg.floorSchema} (floor), dropped and recreated` +
    (redisUrl ? `; Redis ${out.redisVersion} at ${out.redisUrl}, prefix ${cfg.redisPrefix}-*` : ''))
  await dropSchemas(cfg.url, [cfg.schema, cfg.floorSchema])

  const pgEnv = { DATABASE_URL: cfg.url, DATABASE_SCHEMA: cfg.schema }
  const at = () => `(at ${(elapsed() / 1000).toFixed(0)} s)`
  out.timings = {}
  try {
    log(`\n  -- REST on PostgreSQL (no Redis): Parley vs bare Fastify + pg, ${cfg.rest.connections} connections, ${cfg.rest.durationS} s each`)
    const restServers = [
      { kind: 'parley', start: () => ctx.startParley({ env: pgEnv, label: 'parley-pg-rest' }) },
      { kind: 'floor', start: () => ctx.startBenchServer('floor-pg', 'bench/floor-pg.js', { DATABASE_URL: cfg.url, DATABASE_SCHEMA: cfg.floorSchema, PG_POOL_SIZE: String(cfg.rest.connections) }) }
    ]
    out.rest = await ctx.restCompare(restServers, cfg.rest, { label: 'PostgreSQL REST', quietMs: cfg.quietMs, services: ['postgres'] })
    // Informative: a probe that fails is said, and the phase goes on.
    out.ceiling = await batchCeiling(cfg.url, cfg.schema, cfg.rest.connections).catch((err) => ({ error: err.message }))
    const floorPost = out.rest.floor.post && out.rest.floor.post.reqPerSec
    if (out.ceiling.error) log(`  ceiling       not measured: ${out.ceiling.error}`)
    else log(`  ceiling       POST ≲ ${cfg.rest.connections} / (2 × ${fmt(out.ceiling.statementMs, 3)} ms) = ${fmt(out.ceiling.reqPerSec, 0)} req/s, ${fmt(ratio(out.ceiling.reqPerSec, floorPost), 2)}× the floor ` +
      `(one ${out.ceiling.batch}-message batch alone through the store, median of ${out.ceiling.runs}; 10 %: ${fmt(out.ceiling.p10Ms, 3)}, 90 %: ${fmt(out.ceiling.p90Ms, 3)} ms)`)
    // A quiet room: one poster, so every batch is one message. What the database spends
    // on a message that has no company (its statement, its plan, its commit).
    log(`\n  -- a quiet room on PostgreSQL: one connection POSTing, ${cfg.quiet.durationS} s each ${at()}`)
    out.quiet = await ctx.restCompare(restServers, { ...cfg.rest, ...cfg.quiet }, { label: 'PostgreSQL quiet room', quietMs: cfg.quietMs, services: ['postgres'], what: ['post'] })
    out.timings.restS = elapsed() / 1000
    out.settle = await settleDatabase(cfg.url, [cfg.schema, cfg.floorSchema])
    log(`\n  -- the REST rows' tables dropped; ${out.settle.checkpointError ? `no CHECKPOINT (${out.settle.checkpointError})` : `CHECKPOINT in ${fmt(out.settle.checkpointMs / 1000)} s`} ${at()}`)

    const f = ctx.fanoutConfig
    log(`\n  -- fan-out, ${f.rooms} rooms × ${f.socketsPerRoom} sockets, ${fmt(f.targetRate)} deliveries/s, ${cfg.fanout.rounds} round(s) of ${cfg.fanout.measureMs / 1000} s: ` +
      `one instance of Parley on SQLite, on PostgreSQL${redisUrl ? ', on PostgreSQL + Redis (A); and A + B (senders on A, the other sockets alternating over A and B)' : ''} ${at()}`)
    Object.assign(out, await fanoutRounds(ctx, pgEnv, redisUrl, elapsed, note))
    out.timings.fanoutS = elapsed() / 1000 - out.timings.restS
  } catch (err) {
    // The rows measured so far are kept; the rest of the bench carries on.
    out.error = err.message
    log(`\n  PostgreSQL phase failed: ${err.stack || err.message}`)
  } finally {
    try { await dropSchemas(cfg.url, [cfg.schema, cfg.floorSchema]) } catch (err) { log(`  (could not drop the bench schemas: ${err.message})`) }
    if (redisUrl) {
      try { out.redisKeysDeleted = await redisCleanup(redisUrl, cfg.redisPrefix) } catch (err) { log(`  (could not delete the bench's Redis keys: ${err.message})`) }
    }
    out.durationS = elapsed() / 1000
    log(`  PostgreSQL phase: ${out.durationS.toFixed(0)} s`)
  }
  return out
}

let stepId = 0

/** Awaits every promise; what resolved goes into `into` (to be cleaned up), then the first failure is thrown. */
async function settleAll (promises, into) {
  const results = await Promise.allSettled(promises)
  for (const r of results) if (r.status === 'fulfilled') into.push(r.value)
  const failed = results.find((r) => r.status === 'rejected')
  if (failed) throw failed.reason
  return results.map((r) => r.value)
}
const timingOf = (cfg) => ({ warmupMs: cfg.fanout.warmupMs, measureMs: cfg.fanout.measureMs, drainMs: cfg.fanout.drainMs })

/**
 * Parley on SQLite, on PostgreSQL, on PostgreSQL + Redis (instance A), and A with a
 * second instance B on the same PostgreSQL + Redis: all up, each with its own generator
 * and rooms, loaded one at a time; rounds alternate the order, so a round's figures are
 * seconds apart. The two-instance run's senders are on A, its other sockets alternate
 * over A and B (its receipts are counted per instance).
 */
async function fanoutRounds (ctx, pgEnv, redisUrl, elapsed, note) {
  const cfg = ctx.config
  const rate = ctx.fanoutConfig.targetRate
  const redisEnv = { ...pgEnv, REDIS_URL: redisUrl, REDIS_PREFIX: `${cfg.redisPrefix}-fanout` }
  const kinds = [
    { kind: 'sqlite', label: 'parley-sqlite', env: {} },
    { kind: 'pg', label: 'parley-pg', env: pgEnv },
    ...(redisUrl ? [{ kind: 'pg-redis', label: 'parley-pg-redis-a', env: redisEnv }] : [])
  ]
  const runs = []
  const started = []
  try {
    // Servers started, then sockets connected, all at once (setup is not measured).
    const servers = await settleAll([...kinds, ...(redisUrl ? [{ label: 'parley-pg-redis-b', env: redisEnv }] : [])]
      .map((k) => ctx.startParley({ env: k.env, label: k.label })), started)
    const setups = kinds.map((k, i) => ctx.fanoutSetup(k.kind, { servers: [servers[i]] }))
    if (redisUrl) setups.push(ctx.fanoutSetup('two', { servers: [servers[kinds.length - 1], servers[kinds.length]] }))
    await settleAll(setups, runs)
    // Parley registers a socket (profile upsert, registry) just after the upgrade: on
    // PostgreSQL, 2000 of them keep the servers busy for seconds. Wait until all are idle.
    await sleep(500)
    for (const s of started) await ctx.quiesce(s.pid, 20_000)
    const { rounds } = cfg.fanout
    // One step each first, at the same rate, not judged: a server's first load runs its
    // code cold (PostgreSQL + Redis: ~20 % more CPU per delivery than in later rounds), on
    // a machine already near its two cores, and the first PostgreSQL + Redis step had a
    // p99 of 80–400 ms in each of ten runs. The rounds measure servers that have run.
    if (cfg.fanout.warmupStep) {
      for (const run of runs) {
        const step = await ctx.fanoutStep(run.servers, run.gens, rate, ++stepId, { timing: timingOf(cfg), services: SERVICES })
        run.out.warmup = step
        ctx.logStep(run.kind === 'two' ? 'A+B' : run.kind, step, ' (warm-up, not judged)')
        for (const s of run.servers) await ctx.quiesce(s.pid)
      }
    }
    let roundMs = 0
    for (let round = 1; round <= rounds; round++) {
      // Bounded: an extra round only if it still fits the phase's budget.
      if (round > 1 && elapsed() + roundMs > cfg.budgetMs) {
        note(`  (PostgreSQL fan-out: time budget of ${cfg.budgetMs / 1000} s; ${round - 1} of ${rounds} rounds run)`)
        break
      }
      const r0 = performance.now()
      // Once per round: the servers' steps of a round follow one another within seconds.
      await ctx.waitForQuiet(`PostgreSQL fan-out round ${round}`, cfg.quietMs)
      for (const run of round % 2 ? runs : [...runs].reverse()) {
        const step = await ctx.fanoutStep(run.servers, run.gens, rate, ++stepId, { timing: timingOf(cfg), services: SERVICES })
        step.round = round
        run.out.steps.push(step)
        run.out.targetSamples.push(step)
        const [a, b] = step.groups || []
        ctx.logStep(run.kind === 'two' ? 'A+B' : run.kind, step, ` (round ${round} of ${rounds}; PostgreSQL + Redis processes ${fmt(step.serviceCores)} cores)` +
          (a && b ? `\n           receivers on A: delivered ${a.deliveredRatio.toFixed(4)}, p50 ${fmt(a.p50Ms)} p99 ${fmt(a.p99Ms)} ms; ` +
            `on B: delivered ${b.deliveredRatio.toFixed(4)}, p50 ${fmt(b.p50Ms)} p99 ${fmt(b.p99Ms)} ms` : ''))
        for (const s of run.servers) await ctx.quiesce(s.pid)
      }
      roundMs = performance.now() - r0
    }
  } finally {
    // Generators first (a server shared by two runs is stopped once), then every server.
    for (const run of runs) await ctx.fanoutTeardown(run)
    for (const s of started) await s.stop()
  }
  const out = Object.fromEntries(runs.map((r) => [r.kind, r.out]))
  const two = out.two
  delete out.two
  return { fanout: out, two }
}

// ---------------------------------------------------------------- report

const ratio = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? a / b : NaN)
const verdict = (ok) => (ok === null ? '' : ok ? 'pass' : 'FAIL')
const samples = (run) => (run && run.targetSamples) || []
const med = (run, key) => median(samples(run).map((s) => s[key]))
const worst = (run, key, pick = Math.min) => (samples(run).length ? pick(...samples(run).map((s) => s[key])) : NaN)
const list = (run, key, digits = 2) => samples(run).map((s) => fmt(s[key], digits)).join(', ')
/** Parley's rate over the floor's, round by round (the rounds of one index ran seconds apart). */
const roundRatios = (p, f) => (p.rounds || []).map((r, i) => fmt(ratio(r.reqPerSec, (f.rounds || [])[i]?.reqPerSec), 2)).join(', ')
const totalCpu = (s) => s.serverCpuUsPerDelivery + (s.serviceCpuUsPerDelivery || 0)

/** Sections (tables) for run.js's report, and the phase's one-line notes. */
function pgReport (pgOut, { targets: t, fanout: fanCfg, pg: cfg }, sqliteRest) {
  const sections = []
  if (!pgOut || pgOut.skipped) return sections

  if (pgOut.rest && pgOut.rest.parley.post && pgOut.rest.floor.post) {
    const p = pgOut.rest.parley
    const f = pgOut.rest.floor
    const postRatio = ratio(p.post.reqPerSec, f.post.reqPerSec)
    const getRatio = ratio(p.get.reqPerSec, f.get.reqPerSec)
    const codes = (x) => `${x.status5xx} / ${x.non2xx - x.status5xx} / ${x.errors}`
    sections.push({
      title: `PostgreSQL REST (autocannon, ${cfg.rest.connections} connections, one room, ${cfg.rest.durationS} s each; Parley with DATABASE_URL=postgres://…, no Redis)`,
      headers: ['Figure', 'Parley (PostgreSQL)', 'Floor (Fastify + pg, 1 statement/row, stored JSON)', 'Parley/Floor', 'Target', 'Result'],
      rows: [
        ['POST message (req/s)', fmt(p.post.reqPerSec, 0), fmt(f.post.reqPerSec, 0), fmt(postRatio, 3), `≥ ${t.pgRestPostRatio}×, no 5xx`,
          verdict(postRatio >= t.pgRestPostRatio && p.post.status5xx === 0)],
        ['  POST Parley/Floor in each round (rounds alternate which goes first)', '', '', roundRatios(p.post, f.post), '(informative)', ''],
        ...(pgOut.ceiling && !pgOut.ceiling.error
          ? [[`  POST ceiling: ${cfg.rest.connections} / (2 × one ${pgOut.ceiling.batch}-message batch alone, ${fmt(pgOut.ceiling.statementMs, 3)} ms) (req/s)`,
              fmt(pgOut.ceiling.reqPerSec, 0), '', fmt(ratio(pgOut.ceiling.reqPerSec, f.post.reqPerSec), 3), '(informative)', '']]
          : []),
        ['  POST 5xx / other non-2xx / errors', codes(p.post), codes(f.post), '', '', ''],
        ['  POST latency mean / p99 worst round (ms)', `${p.post.latencyMean} / ${p.post.latencyP99}`, `${f.post.latencyMean} / ${f.post.latencyP99}`, '', '', ''],
        ['GET newest page of 100 (req/s)', fmt(p.get.reqPerSec, 0), fmt(f.get.reqPerSec, 0), fmt(getRatio, 3), `≥ ${t.pgRestGetRatio}×, no 5xx`,
          verdict(getRatio >= t.pgRestGetRatio && p.get.status5xx === 0)],
        ['  GET 5xx / other non-2xx / errors', codes(p.get), codes(f.get), '', '', ''],
        ['  GET latency mean / p99 worst round (ms)', `${p.get.latencyMean} / ${p.get.latencyP99}`, `${f.get.latencyMean} / ${f.get.latencyP99}`, '', '', ''],
        ['  CPU per POST, Parley or floor process / PostgreSQL (µs)', `${fmt(p.post.serverCpuUsPerReq, 0)} / ${fmt(p.post.serviceCpuUsPerReq, 0)}`,
          `${fmt(f.post.serverCpuUsPerReq, 0)} / ${fmt(f.post.serviceCpuUsPerReq, 0)}`, '', '(informative)', ''],
        ...(pgOut.quiet && pgOut.quiet.parley.post && pgOut.quiet.floor.post
          ? [['Quiet room, 1 connection: POST (req/s)', fmt(pgOut.quiet.parley.post.reqPerSec, 0), fmt(pgOut.quiet.floor.post.reqPerSec, 0),
              fmt(ratio(pgOut.quiet.parley.post.reqPerSec, pgOut.quiet.floor.post.reqPerSec), 3), '(informative)', ''],
            ['  quiet room: CPU per POST, Parley or floor process / PostgreSQL (µs)', `${fmt(pgOut.quiet.parley.post.serverCpuUsPerReq, 0)} / ${fmt(pgOut.quiet.parley.post.serviceCpuUsPerReq, 0)}`,
              `${fmt(pgOut.quiet.floor.post.serverCpuUsPerReq, 0)} / ${fmt(pgOut.quiet.floor.post.serviceCpuUsPerReq, 0)}`, '', '(informative)', '']]
          : []),
        ...(sqliteRest && sqliteRest.parley.post && sqliteRest.parley.get
          ? [['Parley on SQLite, this run: POST / GET (req/s)', `${fmt(sqliteRest.parley.post.reqPerSec, 0)} / ${fmt(sqliteRest.parley.get.reqPerSec, 0)}`, '', '', '(informative)', '']]
          : [])
      ]
    })
  }

  const fan = pgOut.fanout
  if (fan && fan.sqlite && fan.pg) {
    const s = fan.sqlite
    const p = fan.pg
    const r = fan['pg-redis']
    const main = r || p
    const mainName = r ? 'PG + Redis' : 'PG'
    const n = Math.min(samples(s).length, samples(main).length)
    const roundRatios = samples(main).slice(0, n).map((x, i) => ratio(x.serverCpuUsPerDelivery, samples(s)[i].serverCpuUsPerDelivery))
    const cpuRatio = median(roundRatios)
    pgOut.fanout.cpuRatio = { of: r ? 'pg-redis' : 'pg', rounds: roundRatios, median: cpuRatio }
    const row = (name, get, target, ok, digits = 2, withRatio = true) => {
      const v = [s, p, r].map((x) => (x ? get(x) : NaN))
      return [name, ...v.map((x) => fmt(x, digits)), withRatio ? fmt(ratio(get(main), v[0]), 3) : '', target || '', verdict(ok === undefined ? null : ok)]
    }
    const delivered = worst(main, 'deliveredRatio')
    const p99 = med(main, 'p99Ms')
    sections.push({
      title: `PostgreSQL fan-out, one instance: ${fanCfg.rooms} rooms × ${fanCfg.socketsPerRoom} sockets, offered ${fmt(fanCfg.targetRate)} deliveries/s, ` +
        `${n} round(s) of ${cfg.fanout.measureMs / 1000} s, the servers alternating`,
      headers: ['Figure', 'Parley SQLite', 'Parley PG', 'Parley PG + Redis', `${mainName} / SQLite`, 'Target', 'Result'],
      rows: [
        row('delivered ratio (worst round)', (x) => worst(x, 'deliveredRatio'), `${mainName} ≥ ${fanCfg.minDelivered}`, delivered >= fanCfg.minDelivered, 4),
        row('deliveries/s (median)', (x) => med(x, 'deliveriesPerSec'), '', undefined, 0),
        row('latency p50 (ms, median of rounds)', (x) => med(x, 'p50Ms')),
        row('latency p99 (ms, median of rounds)', (x) => med(x, 'p99Ms'), `${mainName} ≤ ${t.fanoutP99Ms} ms`, p99 <= t.fanoutP99Ms),
        ['  each round p99 (ms)', list(s, 'p99Ms'), list(p, 'p99Ms'), list(r, 'p99Ms'), '', '', ''],
        ['  each round: server event loop, longest delay (ms; a 100 ms monitor)', list(s, 'serverLoopMaxMs', 0), list(p, 'serverLoopMaxMs', 0), list(r, 'serverLoopMaxMs', 0), '', '(informative)', ''],
        ['  each round: appends over 50 ms / all', ...[s, p, r].map((x) => samples(x).map((y) => `${fmt(y.appendsOver50ms, 0)} / ${fmt(y.appends, 0)}`).join(', ')), '', '(informative)', ''],
        row('latency max (ms, worst round)', (x) => worst(x, 'maxMs', Math.max), '', undefined, 1),
        [`Parley CPU per delivery (µs), median of rounds; ratio: median of the round ratios`,
          fmt(med(s, 'serverCpuUsPerDelivery'), 3), fmt(med(p, 'serverCpuUsPerDelivery'), 3), fmt(med(r, 'serverCpuUsPerDelivery'), 3),
          fmt(cpuRatio, 3), `≤ ${t.fanoutCpuRatio}×`, verdict(roundRatios.length ? cpuRatio <= t.fanoutCpuRatio : null)],
        ['  each round (µs; ratio)', list(s, 'serverCpuUsPerDelivery', 3), list(p, 'serverCpuUsPerDelivery', 3), list(r, 'serverCpuUsPerDelivery', 3),
          roundRatios.map((x) => fmt(x, 3)).join(', '), '', ''],
        ['  of which user / kernel (µs)', ...[s, p, r].map((x) => (x ? `${fmt(med(x, 'serverUserUsPerDelivery'), 3)} / ${fmt(med(x, 'serverSysUsPerDelivery'), 3)}` : '—')), '', '', ''],
        row('PostgreSQL + Redis processes CPU per delivery (µs)', (x) => med(x, 'serviceCpuUsPerDelivery'), '(informative)', undefined, 3, false),
        row('Parley + PostgreSQL + Redis CPU per delivery (µs)', (x) => median(samples(x).map(totalCpu)), '(informative)', undefined, 3),
        row('server CPU (cores)', (x) => med(x, 'serverCores')),
        row('server RSS (MB)', (x) => med(x, 'rssMB'), '', undefined, 1),
        row('others (cores)', (x) => med(x, 'otherCores'), '', undefined, 2, false)
      ]
    })
  }

  const two = pgOut.two
  if (two && samples(two).length) {
    const g = (i, key, pick) => {
      const v = samples(two).map((x) => x.groups && x.groups[i] && x.groups[i][key])
      return pick ? (v.length ? pick(...v) : NaN) : median(v)
    }
    const row = (name, key, digits, pick) => [name, fmt(g(0, key, pick), digits), fmt(g(1, key, pick), digits),
      fmt(pick ? worst(two, key, pick) : med(two, key), digits), '(reported)', '']
    sections.push({
      title: `PostgreSQL + Redis fan-out across two instances: ${fanCfg.rooms} rooms × ${fanCfg.socketsPerRoom} sockets, senders on A, ` +
        `offered ${fmt(fanCfg.targetRate)} deliveries/s, ${samples(two).length} round(s)`,
      headers: ['Figure', 'Receivers on A (the senders\' instance)', 'Receivers on B (A → B)', 'All receivers', 'Target', 'Result'],
      rows: [
        ['sockets per room', fmt(g(0, 'socketsPerRoom'), 0), fmt(g(1, 'socketsPerRoom'), 0), fmt(fanCfg.socketsPerRoom, 0), '', ''],
        row('delivered ratio (worst round)', 'deliveredRatio', 4, Math.min),
        row('latency p50 (ms, median of rounds)', 'p50Ms', 2),
        row('latency p99 (ms, median of rounds)', 'p99Ms', 2),
        row('latency max (ms, worst round)', 'maxMs', 1, Math.max),
        ['Parley CPU per delivery, A + B (µs)', '', '', fmt(med(two, 'serverCpuUsPerDelivery'), 3), '(informative)', ''],
        ['PostgreSQL + Redis processes CPU per delivery (µs)', '', '', fmt(med(two, 'serviceCpuUsPerDelivery'), 3), '(informative)', '']
      ]
    })
  }

  if (fan && fan.pg && fan['pg-redis']) {
    const p = fan.pg
    const r = fan['pg-redis']
    const b = (key) => (two ? median(samples(two).map((x) => x.groups && x.groups[1] && x.groups[1][key])) : NaN)
    const row = (name, inproc, same, cross, digits = 2) => [name, fmt(inproc, digits), fmt(same, digits), fmt(same - inproc, digits), fmt(cross, digits), fmt(cross - inproc, digits)]
    sections.push({
      title: 'What Redis adds (PostgreSQL in-process fan-out vs with Redis), medians of rounds',
      headers: ['Figure', 'PG, in-process (one instance)', 'PG + Redis, same instance', 'added by Redis', 'PG + Redis, A → B (two instances)', 'added by Redis + a hop'],
      rows: [
        row('latency p50 (ms)', med(p, 'p50Ms'), med(r, 'p50Ms'), b('p50Ms')),
        row('latency p99 (ms)', med(p, 'p99Ms'), med(r, 'p99Ms'), b('p99Ms')),
        ['Parley CPU per delivery (µs)', fmt(med(p, 'serverCpuUsPerDelivery'), 3), fmt(med(r, 'serverCpuUsPerDelivery'), 3),
          fmt(med(r, 'serverCpuUsPerDelivery') - med(p, 'serverCpuUsPerDelivery'), 3), two ? `${fmt(med(two, 'serverCpuUsPerDelivery'), 3)} (A + B)` : '—',
          two ? fmt(med(two, 'serverCpuUsPerDelivery') - med(p, 'serverCpuUsPerDelivery'), 3) : '—'],
        ['Parley + PostgreSQL + Redis CPU per delivery (µs)', fmt(median(samples(p).map(totalCpu)), 3), fmt(median(samples(r).map(totalCpu)), 3),
          fmt(median(samples(r).map(totalCpu)) - median(samples(p).map(totalCpu)), 3),
          two ? fmt(median(samples(two).map(totalCpu)), 3) : '—',
          two ? fmt(median(samples(two).map(totalCpu)) - median(samples(p).map(totalCpu)), 3) : '—']
      ]
    })
  }
  return sections
}

module.exports = { pgRun, pgReport, redact, SERVICES }
