#!/usr/bin/env node
'use strict'
// npm run bench [-- --quick] [-- --profile] [-- --only fanout,dm,rest,history,capacity,pg,storm]
//               [-- --no-build] [-- --steps 10000,20000] [-- --sockets 10000] [-- --gen-procs 1]
//               [-- --pg postgres://…] [-- --redis redis://…]   (or BENCH_DATABASE_URL, BENCH_REDIS_URL)
//               [-- --dm-rates 2000,5000] [-- --dm-pairs 50]
//
// Builds Parley, then measures it against floors in one invocation, on 127.0.0.1 only:
//   fan-out   Parley vs bench/floor-ws.js (plain ws, no store), stepped offered rate
//   dm        direct messages vs room messages on one Parley (SQLite): N DM pairs vs N rooms
//             of 2, same offered message rate, DM/room ratios (bench/dm-client.js)
//   REST      Parley vs bench/floor-fastify.js (bare Fastify + SQLite, each message's JSON stored as text)
//   history   Parley's newest page in rooms of 100, 100k, 1M messages
//   capacity  10k idle sockets: RSS per socket, connect rate (Parley vs floor-ws)
//   storm     a deploy's restart storm: N sockets over R rooms with history, SIGTERM, restart,
//             every client back with the client's backoff and page polls (bench/restart-storm.js),
//             Parley vs bench/floor-storm.js (plain ws + the stored-JSON page route, one process)
//   pg        with a PostgreSQL URL (and a Redis URL): REST vs bench/floor-pg.js (bare Fastify + pg),
//             fan-out on PostgreSQL (+ Redis) vs Parley on SQLite, fan-out across two instances
//             (see bench/pg-phase.js); skipped with one line without a URL
// Prints tables and writes bench/results/<timestamp>.json. Every phase is bounded;
// a global deadline kills whatever is left.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { execFileSync, spawnSync } = require('node:child_process')
const lib = require('./lib')
const { limitEnv } = require('./server-env')
const { historyDb } = require('./history-fill')
const { summarize, print: printProfile } = require('./profile-summary')
const pgPhase = require('./pg-phase')
const { stormRun, stormReport } = require('./restart-storm')

const { ROOT, CACHE, sleep, cpuMs, rssBytes, median, fmt, table } = lib

// ---------------------------------------------------------------- options

const argv = process.argv.slice(2)
const flag = (name) => argv.includes(`--${name}`)
const option = (name) => {
  const i = argv.indexOf(`--${name}`)
  return i >= 0 ? argv[i + 1] : undefined
}
const QUICK = flag('quick')
const PROFILE = flag('profile')
const ONLY = new Set((option('only') || (PROFILE ? 'fanout' : 'fanout,dm,rest,history,capacity,storm,pg')).split(','))
const PG_URL = option('pg') || process.env.BENCH_DATABASE_URL || ''
const REDIS_URL = option('redis') || process.env.BENCH_REDIS_URL || ''

const CONFIG = {
  mode: PROFILE ? 'profile' : QUICK ? 'quick' : 'full',
  deadlineMs: PROFILE ? 4 * 60_000 : QUICK ? 4 * 60_000 : 18 * 60_000,
  fanout: {
    rooms: Number(option('rooms') || 10),
    socketsPerRoom: Number(option('sockets-per-room') || 50),
    sendersPerRoom: 5,
    contentBytes: 48,
    // Offered deliveries per second (messages/s × sockets per room).
    steps: option('steps') ? option('steps').split(',').map(Number)
      : PROFILE ? [40_000]
        : QUICK ? [40_000, 80_000]
          : [20_000, 40_000, 60_000, 80_000, 100_000, 120_000, 140_000, 160_000, 200_000],
    targetRate: 40_000,
    // The target rate is measured this many times, Parley and floor alternating, and
    // judged on the median of the pairs' ratios: one neighbour's burst on this shared
    // machine moves one pair, not the verdict.
    targetPairs: Number(option('target-pairs') || (PROFILE || QUICK ? 1 : 3)),
    warmupMs: QUICK ? 1000 : 2000,
    measureMs: PROFILE ? 15_000 : QUICK ? 4000 : 8000,
    drainMs: QUICK ? 2000 : 3000,
    budgetP99Ms: 50,
    minDelivered: 0.999,
    genProcs: Number(option('gen-procs') || 1),
    retries: 1,
    budgetMs: PROFILE ? 120_000 : QUICK ? 75_000 : 360_000
  },
  // DMs vs room messages (bench/dm-client.js): one Parley on SQLite, `pairs` DM pairs
  // (a sender and a receiver DM socket each) and as many rooms of 2, loaded one at a time
  // at the same offered message rate. The whole phase is bounded by budgetMs.
  dm: {
    pairs: Number(option('dm-pairs') || 50),
    // Offered messages per second, in total over the senders.
    rates: option('dm-rates') ? option('dm-rates').split(',').map(Number) : [2000, 5000],
    // A full run measures the first rate a second time (the order reversed) if the budget allows.
    repeatFirst: !QUICK,
    contentBytes: 48,
    warmupMs: QUICK ? 500 : 1000,
    measureMs: QUICK ? 2000 : 6000,
    drainMs: QUICK ? 1000 : 2000,
    quietMs: QUICK ? 1000 : 3000,
    minDelivered: 0.999,
    budgetP99Ms: 50,
    budgetMs: QUICK ? 20_000 : 60_000
  },
  rest: {
    connections: 10,
    warmupS: 1,
    durationS: QUICK ? 4 : 10,
    rounds: 2,
    pageRoomMessages: 300
  },
  history: {
    warmupMs: QUICK ? 500 : 1000,
    durationMs: QUICK ? 2000 : 6000,
    rounds: QUICK ? 2 : 3
  },
  capacity: {
    sockets: Number(option('sockets') || (QUICK ? 2000 : 10_000)),
    concurrency: 100,
    rooms: 100,
    localAddresses: ['127.0.0.1', '127.0.0.2', '127.0.0.3', '127.0.0.4'],
    settleMs: QUICK ? 1500 : 3000,
    // Parley, the floor and the floor without presence, interleaved; medians are reported.
    rounds: Number(option('capacity-rounds') || (QUICK ? 1 : 3))
  },
  // The restart storm (bench/restart-storm.js): rounds alternate Parley and the floor; one
  // more Parley round with the default limits but MAX_SOCKETS_PER_IP and RATE_LIMIT_MAX.
  storm: {
    sockets: Number(option('storm-sockets') || (QUICK ? 1000 : 5000)),
    rooms: Number(option('storm-rooms') || (QUICK ? 20 : 100)),
    messages: QUICK ? 200 : 1000,
    concurrency: 100,
    settleMs: QUICK ? 1000 : 2000,
    rounds: Number(option('storm-rounds') || (QUICK ? 1 : 3)),
    defaultLimitsRound: !flag('no-storm-default-limits'),
    budgetMs: QUICK ? 60_000 : 120_000,
    targetRatio: 2
  },
  // The PostgreSQL (+ Redis) rows (bench/pg-phase.js): bounded to about 4 minutes (quick: under 1).
  pg: {
    url: PG_URL,
    redisUrl: REDIS_URL,
    // Bench-only schemas, dropped at the start and the end of the phase: every run starts empty.
    schema: option('pg-schema') || 'parley_bench',
    floorSchema: 'parley_bench_floor',
    redisPrefix: `parley-bench-${process.pid}`,
    budgetMs: QUICK ? 50_000 : 260_000,
    quietMs: QUICK ? 2000 : 5000,
    rest: {
      connections: 10,
      // Each server is new, its code cold: after 1 s of warm-up Parley's first POST round ran
      // 10-25 % below its later ones (4404, 4535, 4158 req/s against 4900-5700 in three runs).
      warmupS: QUICK ? 1 : 3,
      // Four alternating rounds of 3 s each: on this shared machine one server's rate moves
      // by half between rounds seconds apart, and two rounds made the ratio a coin toss.
      durationS: QUICK ? 2 : 12,
      rounds: QUICK ? 2 : 4,
      pageRoomMessages: 300,
      prefillConcurrency: 10
    },
    quiet: {
      connections: 1,
      durationS: QUICK ? 2 : 4,
      rounds: 2
    },
    fanout: {
      // Rounds of the 40k step, the servers alternating: PostgreSQL + Redis is judged
      // on the median of its rounds' ratios to Parley on SQLite (3 rounds fit the budget
      // with 6 s windows; 8 s ones would not).
      rounds: QUICK ? 1 : 3,
      warmupStep: !QUICK,
      warmupMs: QUICK ? 1000 : 1500,
      measureMs: QUICK ? 2000 : 6000,
      drainMs: QUICK ? 1500 : 3000
    }
  },
  targets: {
    pgRestPostRatio: 3,
    pgRestGetRatio: 0.9,
    fanoutCpuRatio: 1.25,
    fanoutP99Ms: 50,
    historyRatio: 1.2,
    capacityRssRatio: 1.6,
    connectRatio: 0.6,
    restRatio: 0.8,
    restGetRatio: 0.9
  }
}

// ---------------------------------------------------------------- file descriptors

function ensureOpenFiles () {
  const needed = Math.max(ONLY.has('capacity') ? CONFIG.capacity.sockets : 0, ONLY.has('storm') ? CONFIG.storm.sockets : 0) + 2000
  const { soft, hard } = lib.openFilesLimit()
  if (soft >= needed) return
  if (hard >= needed && !process.env.BENCH_REEXEC) {
    console.log(`open files: soft limit ${soft} < ${needed}; re-running under ulimit -n ${hard}`)
    const quoted = process.argv.slice(1).map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ')
    const r = spawnSync('/bin/sh', ['-c', `ulimit -n ${hard} && exec '${process.execPath}' ${quoted}`], {
      stdio: 'inherit',
      env: { ...process.env, BENCH_REEXEC: '1' }
    })
    process.exit(r.status ?? 1)
  }
  const fit = Math.max(100, Math.min(soft, hard) - 2000)
  console.log(`open files: limit ${soft} (hard ${hard}) is too low for ${CONFIG.capacity.sockets} sockets; ` +
    `capacity runs with ${fit}. Raise it with \`ulimit -n ${needed}\` (as root, or in /etc/security/limits.conf).`)
  CONFIG.capacity.sockets = fit
}

// ---------------------------------------------------------------- servers

const RUN_ID = new Date().toISOString().replace(/[:.]/g, '-')
const RUN_DIR = path.join(CACHE, `run-${RUN_ID}`)
const LOG_DIR = path.join(CACHE, 'logs')
let LIMITS = { env: {}, applied: {}, unknown: [] }
let serverCount = 0

/**
 * Parley as `npm start` runs it; `env` adds to (or overrides) its environment, e.g. a
 * postgres:// DATABASE_URL. `limits`: the limit variables to set instead of LIMITS.env
 * (the storm's default-limits round); `port`, `pollMs`: a restart on a known port.
 */
function startParley ({ dbFile, nodeArgs = [], env = {}, label = 'parley', limits = LIMITS.env, port, pollMs } = {}) {
  const n = ++serverCount
  return lib.startServer({
    name: label,
    script: 'dist/src/server.js',
    nodeArgs,
    port,
    pollMs,
    env: {
      DATABASE_URL: dbFile || path.join(RUN_DIR, `parley-${n}.db`),
      LOG_LEVEL: 'warn',
      ...limits,
      ...env
    },
    logFile: path.join(LOG_DIR, `${RUN_ID}-${label}-${n}.log`)
  })
}

/** A floor or helper server from bench/ (GET / answers 200 once it listens). */
function startBenchServer (name, script, env = {}, { port, pollMs } = {}) {
  const n = ++serverCount
  return lib.startServer({ name, script, env, port, pollMs, logFile: path.join(LOG_DIR, `${RUN_ID}-${name}-${n}.log`) })
}

function startFloorWs ({ nodeArgs = [], env } = {}) {
  const n = ++serverCount
  return lib.startServer({
    name: 'floor-ws',
    script: 'bench/floor-ws.js',
    nodeArgs,
    env,
    logFile: path.join(LOG_DIR, `${RUN_ID}-floor-ws-${n}.log`)
  })
}

function startFloorFastify () {
  const n = ++serverCount
  return lib.startServer({
    name: 'floor-fastify',
    script: 'bench/floor-fastify.js',
    env: { DATABASE_URL: path.join(RUN_DIR, `floor-${n}.db`) },
    logFile: path.join(LOG_DIR, `${RUN_ID}-floor-fastify-${n}.log`)
  })
}

/**
 * Other sessions may share this machine (tests, builds). Waits up to maxMs for the
 * machine to be nearly idle and returns the busy cores seen in the last second.
 */
async function waitForQuiet (label, maxMs = QUICK ? 5000 : 15_000) {
  const end = Date.now() + maxMs
  let cores = 0
  let told = false
  do {
    const b0 = lib.machineBusyMs()
    await sleep(1000)
    cores = (lib.machineBusyMs() - b0) / 1000
    if (cores < 0.25) return cores
    if (!told) {
      console.log(`  (${label}: the machine is busy with something else, ${cores.toFixed(2)} cores; waiting up to ${maxMs / 1000} s for it to settle)`)
      told = true
    }
  } while (Date.now() < end)
  console.log(`  (${label}: going ahead with ${cores.toFixed(2)} cores busy elsewhere; figures may be noisy)`)
  return cores
}

/** Waits until the server uses under 5% of a core for 250 ms (at most maxMs). */
async function quiesce (pid, maxMs = 6000) {
  const end = Date.now() + maxMs
  while (Date.now() < end) {
    const c0 = cpuMs(pid)
    await sleep(250)
    if (cpuMs(pid) - c0 < 12.5) return
  }
}

async function medianRss (pid, samples = 3, gapMs = 300) {
  const values = []
  for (let i = 0; i < samples; i++) {
    if (i) await sleep(gapMs)
    values.push(rssBytes(pid))
  }
  return median(values)
}

// ---------------------------------------------------------------- fan-out

/**
 * Starts one server (or takes `servers`, already started) and its generator process(es),
 * all sockets connected. With several servers a room's senders are on the first and its
 * other sockets alternate over all of them (bench/fanout-client.js).
 */
async function fanoutSetup (kind, { nodeArgs = [], servers } = {}) {
  const cfg = CONFIG.fanout
  servers = servers || [kind === 'parley' ? await startParley({ nodeArgs }) : await startFloorWs({ nodeArgs })]
  const server = servers[0]
  const rooms = Array.from({ length: cfg.rooms }, (_, i) => `fan-${kind}-${i}`)
  const procs = Math.max(1, Math.min(cfg.genProcs, cfg.rooms))
  const run = { kind, server, servers, gens: [], out: { server: kind, serverPid: server.pid, serverPids: servers.map((s) => s.pid), steps: [], targetSamples: [], connect: [] }, active: true }
  for (let g = 0; g < procs; g++) {
    const mine = rooms.filter((_, i) => i % procs === g)
    const gen = lib.startWorker('fanout-client.js', [String(CONFIG.deadlineMs)])
    gen.rooms = mine
    gen.send({
      cmd: 'init',
      wsUrl: server.wsUrl,
      wsUrls: servers.length > 1 ? servers.map((s) => s.wsUrl) : undefined,
      rooms: mine,
      socketsPerRoom: cfg.socketsPerRoom,
      sendersPerRoom: cfg.sendersPerRoom,
      contentBytes: cfg.contentBytes,
      concurrency: 50,
      userPrefix: `g${g}`
    })
    run.gens.push(gen)
  }
  for (const gen of run.gens) {
    const ready = await gen.next((m) => m.ev === 'ready', 60_000)
    run.out.connect.push(ready)
    if (ready.failed > 0) throw new Error(`${kind}: ${ready.failed} fan-out sockets failed to connect: ${ready.failures.join('; ')}`)
  }
  return run
}

async function fanoutTeardown (run) {
  await Promise.all(run.gens.map((g) => g.exit()))
  run.out.exit = await run.server.stop()
  for (const s of run.servers.slice(1)) (run.out.otherExits ||= []).push(await s.stop())
  const held = run.out.steps.filter((s) => s.holds)
  run.out.highestHoldingRate = held.length ? Math.max(...held.map((s) => s.offeredRate)) : 0
  run.out.atTarget = run.out.steps.find((s) => s.offeredRate === CONFIG.fanout.targetRate) || null
  run.out.targetCpuUsPerDelivery = run.out.targetSamples.map((s) => s.serverCpuUsPerDelivery)
  return run.out
}

/**
 * Parley and the floor run side by side (each with its own generator, only one under
 * load at a time), and at each offered rate Parley's step is followed by the floor's:
 * the two figures of a row are minutes apart at most, whatever else the machine does.
 * A server stops climbing after a step that fails (twice, in a full run) at or above
 * the target rate.
 */
async function fanoutRun ({ nodeArgs = [] } = {}) {
  const cfg = CONFIG.fanout
  const runs = []
  try {
    for (const kind of ['parley', 'floor']) runs.push(await fanoutSetup(kind, { nodeArgs }))
    // Parley registers a socket (profile upsert, registry) just after the upgrade.
    await sleep(500)
    let stepId = 0
    const t0 = performance.now()
    for (const rate of cfg.steps) {
      // Bounded: past the budget, no retries and no higher rates.
      if (performance.now() - t0 > cfg.budgetMs) {
        console.log(`  fan-out: time budget of ${cfg.budgetMs / 1000} s spent; stopping the climb at ${fmt(rate)}/s`)
        break
      }
      for (const run of runs) {
        if (!run.active) continue
        const { kind, server, gens, out } = run
        out.ambientCores = out.ambientCores ?? await waitForQuiet(`fan-out ${kind}`)
        let step = await fanoutStep(server, gens, rate, ++stepId)
        // Retries: a neighbour's burst on a shared machine must not end the climb. One
        // retry always; a second one when other processes were busy during the last try.
        for (let attempt = 1; !step.holds && (attempt <= cfg.retries || (attempt === cfg.retries + 1 && step.otherCores > 0.25)); attempt++) {
          if (performance.now() - t0 > cfg.budgetMs) break
          logStep(kind, step, ' (retrying)')
          await quiesce(server.pid)
          await waitForQuiet(`fan-out ${kind} retry`)
          const previous = step
          step = await fanoutStep(server, gens, rate, ++stepId)
          step.retried = attempt
          step.previousAttempt = previous
        }
        out.steps.push(step)
        if (rate === cfg.targetRate) out.targetSamples.push(step)
        logStep(kind, step, '')
        if (!step.holds && rate >= cfg.targetRate) run.active = false
        await quiesce(server.pid)
      }
      for (let pair = 2; rate === cfg.targetRate && pair <= cfg.targetPairs && runs.every((r) => r.active); pair++) {
        for (const run of runs) {
          await waitForQuiet(`fan-out ${run.kind} pair ${pair}`)
          const step = await fanoutStep(run.server, run.gens, rate, ++stepId)
          run.out.targetSamples.push(step)
          logStep(run.kind, step, ` (target, pair ${pair} of ${cfg.targetPairs})`)
          await quiesce(run.server.pid)
        }
      }
      if (!runs.some((r) => r.active)) break
    }
  } finally {
    for (const run of runs) await fanoutTeardown(run)
  }
  return Object.fromEntries(runs.map((r) => [r.kind, r.out]))
}

function logStep (kind, step, suffix) {
  console.log(`  ${kind.padEnd(8)} offered ${fmt(step.offeredRate).padStart(6)}/s: delivered ${step.deliveredRatio.toFixed(4)}, ` +
    `${fmt(step.deliveriesPerSec)}/s, p50 ${fmt(step.p50Ms)} p99 ${fmt(step.p99Ms)} max ${fmt(step.maxMs)} ms, ` +
    `server ${fmt(step.serverCpuUsPerDelivery, 3)} µs/delivery (${fmt(step.serverCores)} cores), ` +
    `generator ${fmt(step.genCores)} cores, others ${fmt(step.otherCores)} cores, RSS ${fmt(step.rssMB, 1)} MB${step.holds ? '' : '  ✗'}` +
    (step.serverLoopMaxMs === undefined ? '' : `; server event loop late by up to ${fmt(step.serverLoopMaxMs)} ms, appends over 50 ms ${step.appendsOver50ms} of ${step.appends}`) +
    (step.binaryFrames ? `, ${step.binaryFrames} BINARY frames` : '') +
    (step.errorFrames ? `, error frames ${JSON.stringify(step.errorCodes)}` : '') +
    (Object.keys(step.closes).length ? `, closes ${JSON.stringify(step.closes)}` : '') + suffix)
}

/**
 * What a Parley server says of itself in /metrics: its event loop's longest delay since
 * the last read (to within the monitor's 100 ms: a shorter stall between its runs can be
 * missed), and its appends (all, and those done within 50 ms). Null for a server without
 * Parley's metrics (the floors).
 */
async function scrapeParley (server) {
  try {
    const res = await fetch(`${server.url}/metrics`, { signal: AbortSignal.timeout(2000) })
    if (!res.ok) return null
    const text = await res.text()
    const value = (re) => Number((re.exec(text) || [])[1])
    // The monitor records the interval between its timer's runs (every 100 ms, not
    // 0): how late the latest ran is the longest interval less the shortest.
    const out = {
      loopMaxMs: (value(/^nodejs_eventloop_lag_max_seconds (\S+)/m) - value(/^nodejs_eventloop_lag_min_seconds (\S+)/m)) * 1000,
      appends: value(/^parley_store_append_seconds_count (\S+)/m),
      appendsWithin50ms: value(/^parley_store_append_seconds_bucket\{le="0\.05"\} (\S+)/m)
    }
    return Object.values(out).every(Number.isFinite) ? out : null
  } catch {
    return null
  }
}

/**
 * A step's window as the servers saw it: the longest event-loop delay of any of them, and
 * the appends that took over 50 ms (a slow commit holds the room's messages behind it).
 * Tells a p99 lost to a stalled server from one lost to its store, or to neither (the
 * machine: the generator, the kernel). Empty when a server has no such metrics.
 */
function insideOf (before, after) {
  if (before.some((b) => b === null) || after.some((a) => a === null)) return {}
  let appends = 0; let slow = 0
  before.forEach((b, i) => {
    appends += after[i].appends - b.appends
    slow += (after[i].appends - after[i].appendsWithin50ms) - (b.appends - b.appendsWithin50ms)
  })
  return { serverLoopMaxMs: Math.max(...after.map((a) => a.loopMaxMs)), appends, appendsOver50ms: slow }
}

/** Sums utime/stime over several processes (the servers of a step). */
function cpuSplitOf (pids) {
  let user = 0; let sys = 0
  for (const pid of pids) { const s = lib.cpuSplit(pid); user += s.user; sys += s.sys }
  return { user, sys }
}
function syscallsOf (pids) {
  let r = 0; let w = 0
  for (const pid of pids) { const s = lib.syscalls(pid); r += s.r; w += s.w }
  return { r, w }
}

/**
 * One offered rate over a server (or several: their CPU, syscalls and RSS are summed).
 * `timing` overrides CONFIG.fanout's warm-up, window and drain; `services` names other
 * processes (e.g. postgres, redis-server) whose CPU over the window is reported apart.
 */
async function fanoutStep (servers, gens, rate, stepId, { timing = {}, services = null } = {}) {
  const list = Array.isArray(servers) ? servers : [servers]
  const pids = list.map((s) => s.pid)
  const cfg = { ...CONFIG.fanout, ...timing }
  const msgRate = rate / cfg.socketsPerRoom
  for (const gen of gens) {
    gen.send({
      cmd: 'step',
      step: stepId,
      msgRate: (msgRate * gen.rooms.length) / cfg.rooms,
      warmupMs: cfg.warmupMs,
      measureMs: cfg.measureMs,
      drainMs: cfg.drainMs
    })
  }
  const timeout = cfg.warmupMs + cfg.measureMs + cfg.drainMs + 20_000
  for (const gen of gens) await gen.next((m) => m.ev === 'window-start', timeout)
  // Parley's own view of the window (its /metrics): read now, so that the event-loop
  // maximum (reset by each read) and the slow appends counted at the end are the window's.
  const inside0 = await Promise.all(list.map(scrapeParley))
  const split0 = cpuSplitOf(pids)
  const cpu0 = split0.user + split0.sys
  const io0 = syscallsOf(pids)
  const svc0 = services && lib.cpuByName(services)
  const busy0 = lib.machineBusyMs()
  const self0 = process.cpuUsage()
  const t0 = performance.now()
  for (const gen of gens) await gen.next((m) => m.ev === 'drained', timeout)
  const split1 = cpuSplitOf(pids)
  const cpu1 = split1.user + split1.sys
  const io1 = syscallsOf(pids)
  const svc1 = services && lib.cpuByName(services)
  const busy1 = lib.machineBusyMs()
  const self = process.cpuUsage(self0)
  const t1 = performance.now()
  const rss = pids.reduce((a, pid) => a + rssBytes(pid), 0)
  const serviceCpuMs = services ? lib.cpuByNameDelta(svc0, svc1) : 0
  const inside = insideOf(inside0, await Promise.all(list.map(scrapeParley)))
  const results = []
  for (const gen of gens) results.push(await gen.next((m) => m.ev === 'result', 20_000))

  const hist = new Uint32Array(lib.HIST_SIZE)
  let sentMeasured = 0; let expected = 0; let received = 0; let latMax = 0; let latSum = 0
  let genCpuMs = 0; let genWallMs = 0; let errorFrames = 0; let stale = 0; let lagMax = 0; let otherFrames = 0; let binaryFrames = 0
  const closes = {}
  const errorCodes = {}
  for (const r of results) {
    for (let i = 0; i < r.hist.length; i += 2) hist[r.hist[i]] += r.hist[i + 1]
    sentMeasured += r.sentMeasured
    expected += r.expected
    received += r.received
    latSum += r.latSum
    latMax = Math.max(latMax, r.latMax)
    genCpuMs += r.genCpuMs
    genWallMs = Math.max(genWallMs, r.genWallMs)
    errorFrames += r.errorFrames
    stale += r.stale
    otherFrames += r.otherFrames
    binaryFrames += r.binaryFrames
    lagMax = Math.max(lagMax, r.sendLagMaxMs)
    for (const [code, n] of Object.entries(r.closes)) closes[code] = (closes[code] || 0) + n
    for (const [code, n] of Object.entries(r.errorCodes)) errorCodes[code] = (errorCodes[code] || 0) + n
  }
  // Several servers: receipts per server the receiving socket is on (index in `servers`).
  let groups
  if (results.length && results.every((r) => Array.isArray(r.groups))) {
    groups = results[0].groups.map((_, g) => {
      const h = new Uint32Array(lib.HIST_SIZE)
      let exp = 0; let rec = 0; let sum = 0; let max = 0
      for (const r of results) {
        const x = r.groups[g]
        for (let i = 0; i < x.hist.length; i += 2) h[x.hist[i]] += x.hist[i + 1]
        exp += x.expected; rec += x.received; sum += x.latSum; max = Math.max(max, x.latMax)
      }
      return {
        server: list[g] && list[g].name,
        socketsPerRoom: results[0].groups[g].sockets,
        expected: exp,
        received: rec,
        deliveredRatio: exp ? rec / exp : 0,
        p50Ms: lib.histPercentile(h, rec, 50),
        p99Ms: lib.histPercentile(h, rec, 99),
        maxMs: max,
        meanMs: rec ? sum / rec : NaN
      }
    })
  }
  const serverCpuMs = cpu1 - cpu0
  const p99 = lib.histPercentile(hist, received, 99)
  const deliveredRatio = expected ? received / expected : 0
  return {
    offeredRate: rate,
    offeredMsgPerSec: msgRate,
    sentMeasured,
    expected,
    received,
    deliveredRatio,
    deliveriesPerSec: received / (cfg.measureMs / 1000),
    p50Ms: lib.histPercentile(hist, received, 50),
    p99Ms: p99,
    maxMs: latMax,
    meanMs: received ? latSum / received : NaN,
    serverCpuMs,
    serverWindowMs: t1 - t0,
    serverCores: serverCpuMs / (t1 - t0),
    serverCpuUsPerDelivery: received ? (serverCpuMs * 1000) / received : NaN,
    // User (JS, SQLite's own code) vs kernel (syscalls: socket writes, WAL writes).
    serverUserUsPerDelivery: received ? ((split1.user - split0.user) * 1000) / received : NaN,
    serverSysUsPerDelivery: received ? ((split1.sys - split0.sys) * 1000) / received : NaN,
    rssMB: rss / 1048576,
    serverWriteSyscallsPerDelivery: received ? (io1.w - io0.w) / received : NaN,
    serverReadSyscallsPerMessage: sentMeasured ? (io1.r - io0.r) / sentMeasured : NaN,
    genCores: genCpuMs / genWallMs,
    ...(services ? {
      // The database and Redis processes (every one of that name on the machine).
      serviceCpuMs,
      serviceCores: serviceCpuMs / (t1 - t0),
      serviceCpuUsPerDelivery: received ? (serviceCpuMs * 1000) / received : NaN
    } : {}),
    ...(groups ? { groups } : {}),
    // Whatever else ran on the machine in the window (other sessions' tests, builds).
    otherCores: Math.max(0, (busy1 - busy0) - serverCpuMs - serviceCpuMs - genCpuMs - (self.user + self.system) / 1000) / (t1 - t0),
    genSendLagMaxMs: lagMax,
    ...inside,
    errorFrames,
    errorCodes,
    // Frames that are not this step's chat messages (presence, pings…): extra work per socket.
    otherFrames,
    // The wire format is text frames: a server sending binary ones is not comparable.
    binaryFrames,
    stale,
    closes,
    holds: deliveredRatio >= cfg.minDelivered && p99 <= cfg.budgetP99Ms
  }
}

// ---------------------------------------------------------------- DMs vs room messages

/**
 * One offered message rate on one arrangement ('dm' or 'room') of bench/dm-client.js.
 * Server CPU is read from /proc over the generator's window (measured + drain), as in
 * fanoutStep; figures per message are per delivered message.
 */
async function dmStep (server, gen, kind, rate, stepId, drainMs) {
  const cfg = CONFIG.dm
  const pid = server.pid
  gen.send({ cmd: 'step', step: stepId, kind, msgRate: rate, warmupMs: cfg.warmupMs, measureMs: cfg.measureMs, drainMs })
  const timeout = cfg.warmupMs + cfg.measureMs + drainMs + 20_000
  await gen.next((m) => m.ev === 'window-start', timeout)
  const split0 = lib.cpuSplit(pid)
  const io0 = lib.syscalls(pid)
  const busy0 = lib.machineBusyMs()
  const self0 = process.cpuUsage()
  const t0 = performance.now()
  await gen.next((m) => m.ev === 'drained', timeout)
  const split1 = lib.cpuSplit(pid)
  const io1 = lib.syscalls(pid)
  const busy1 = lib.machineBusyMs()
  const self = process.cpuUsage(self0)
  const t1 = performance.now()
  const rss = rssBytes(pid)
  const r = await gen.next((m) => m.ev === 'result', 20_000)

  const histOf = (pairs) => {
    const h = new Uint32Array(lib.HIST_SIZE)
    for (let i = 0; i < pairs.length; i += 2) h[pairs[i]] += pairs[i + 1]
    return h
  }
  const hist = histOf(r.hist)
  const storeHist = histOf(r.storeHist)
  const serverCpuMs = (split1.user + split1.sys) - (split0.user + split0.sys)
  const genCpuMs = r.genCpuMs
  const seconds = cfg.measureMs / 1000
  const per = (v) => (r.delivered ? v / r.delivered : NaN)
  const deliveredRatio = r.sentMeasured ? r.delivered / r.sentMeasured : 0
  const p99 = lib.histPercentile(hist, r.delivered, 99)
  return {
    kind,
    offeredRate: rate,
    sentMeasured: r.sentMeasured,
    stored: r.stored,
    delivered: r.delivered,
    storedPerSec: r.stored / seconds,
    deliveredPerSec: r.delivered / seconds,
    storedRatio: r.sentMeasured ? r.stored / r.sentMeasured : 0,
    deliveredRatio,
    // Send → receipt by the receiver socket.
    p50Ms: lib.histPercentile(hist, r.delivered, 50),
    p99Ms: p99,
    maxMs: r.latMax,
    meanMs: r.delivered ? r.latSum / r.delivered : NaN,
    // Send → the sender's confirmation (dm_sent, or the room's echo): stored.
    storedP50Ms: lib.histPercentile(storeHist, r.stored, 50),
    storedP99Ms: lib.histPercentile(storeHist, r.stored, 99),
    storedMaxMs: r.storeLatMax,
    serverCpuMs,
    serverWindowMs: t1 - t0,
    serverCores: serverCpuMs / (t1 - t0),
    serverCpuUsPerMessage: per(serverCpuMs * 1000),
    serverUserUsPerMessage: per((split1.user - split0.user) * 1000),
    serverSysUsPerMessage: per((split1.sys - split0.sys) * 1000),
    serverWriteSyscallsPerMessage: per(io1.w - io0.w),
    rssMB: rss / 1048576,
    genCores: genCpuMs / r.genWallMs,
    genSendLagMaxMs: r.sendLagMaxMs,
    otherCores: Math.max(0, (busy1 - busy0) - serverCpuMs - genCpuMs - (self.user + self.system) / 1000) / (t1 - t0),
    drainMs: r.drainMs,
    errorFrames: r.errorFrames,
    errorCodes: r.errorCodes,
    otherFrames: r.otherFrames,
    binaryFrames: r.binaryFrames,
    stale: r.stale,
    closes: r.closes,
    holds: deliveredRatio >= cfg.minDelivered && p99 <= cfg.budgetP99Ms
  }
}

function logDmStep (s, suffix = '') {
  console.log(`  ${s.kind.padEnd(5)} offered ${fmt(s.offeredRate).padStart(6)} msg/s: stored ${fmt(s.storedPerSec)}/s, delivered ${s.deliveredRatio.toFixed(4)} ` +
    `(${fmt(s.deliveredPerSec)}/s), p50 ${fmt(s.p50Ms)} p99 ${fmt(s.p99Ms)} max ${fmt(s.maxMs, 1)} ms, stored p99 ${fmt(s.storedP99Ms)} ms, ` +
    `server ${fmt(s.serverCpuUsPerMessage, 1)} µs/msg (${fmt(s.serverCores)} cores), generator ${fmt(s.genCores)} cores, ` +
    `others ${fmt(s.otherCores)} cores${s.holds ? '' : '  ✗'}` +
    (s.errorFrames ? `, error frames ${JSON.stringify(s.errorCodes)}` : '') +
    (Object.keys(s.closes).length ? `, closes ${JSON.stringify(s.closes)}` : '') + suffix)
}

/**
 * One Parley (SQLite), one generator holding both arrangements; each rate is a pair of
 * steps, DM and room, their order alternating from one pair to the next. A full run adds
 * a second pair at the first rate when the budget allows. Bounded: a step starts only if
 * it fits in what is left of budgetMs (teardown included), and its drain is cut to fit.
 */
async function dmRun () {
  const cfg = CONFIG.dm
  const t0 = performance.now()
  const left = () => cfg.budgetMs - (performance.now() - t0)
  const teardownMs = 2000
  const out = { pairs: cfg.pairs, rates: cfg.rates, measureMs: cfg.measureMs, steps: [], notes: [] }
  out.ambientCores = await waitForQuiet('dm', cfg.quietMs)
  const server = await startParley({ label: 'parley-dm' })
  out.serverPid = server.pid
  const gen = lib.startWorker('dm-client.js', [String(CONFIG.deadlineMs)])
  try {
    gen.send({ cmd: 'init', wsUrl: server.wsUrl, pairs: cfg.pairs, contentBytes: cfg.contentBytes, concurrency: 50, userPrefix: 'b' })
    const ready = await gen.next((m) => m.ev === 'ready', 30_000)
    out.connect = ready
    if (ready.failed > 0) throw new Error(`dm: ${ready.failed} sockets failed to connect: ${ready.failures.join('; ')}`)
    // Registration (profile upsert, registry, presence) happens just after each upgrade.
    await sleep(300)
    await quiesce(server.pid, 1000)

    const pairs = cfg.rates.map((rate, i) => ({ rate, order: i % 2 ? ['room', 'dm'] : ['dm', 'room'] }))
    if (cfg.repeatFirst && cfg.rates.length) pairs.push({ rate: cfg.rates[0], order: ['room', 'dm'], repeat: true })
    const window = cfg.warmupMs + cfg.measureMs
    let stepId = 0
    for (const pair of pairs) {
      // The repeat is optional: run it only if both steps fit with a typical drain.
      if (pair.repeat && left() < 2 * (window + 700) + teardownMs) {
        out.notes.push(`  dm: the repeat pair at ${fmt(pair.rate)}/s skipped (${(left() / 1000).toFixed(1)} s of the ${cfg.budgetMs / 1000} s budget left)`)
        break
      }
      for (const kind of pair.order) {
        if (left() < window + 300 + teardownMs) {
          out.notes.push(`  dm: ${kind} at ${fmt(pair.rate)}/s skipped: the ${cfg.budgetMs / 1000} s budget is spent`)
          continue
        }
        const drainMs = Math.max(300, Math.min(cfg.drainMs, left() - window - teardownMs))
        const step = await dmStep(server, gen, kind, pair.rate, ++stepId, drainMs)
        step.repeat = !!pair.repeat
        out.steps.push(step)
        logDmStep(step, pair.repeat ? ' (repeat)' : '')
        await quiesce(server.pid, Math.max(0, Math.min(1000, left() - teardownMs - window)))
      }
    }
  } finally {
    await gen.exit()
    out.exit = await server.stop()
    out.durationS = (performance.now() - t0) / 1000
  }
  for (const line of out.notes) console.log(line)
  console.log(`  dm phase: ${out.durationS.toFixed(1)} s (budget ${cfg.budgetMs / 1000} s)`)
  return out
}

// ---------------------------------------------------------------- REST

async function restPrepare (kind, server, cfg = CONFIG.rest) {
  // Prefill the page room: one keep-alive connection, or `prefillConcurrency` of them.
  const lanes = cfg.prefillConcurrency || 1
  const agent = new (require('node:http').Agent)({ keepAlive: true, maxSockets: lanes })
  let next = 0
  await Promise.all(Array.from({ length: lanes }, async () => {
    for (let i = next++; i < cfg.pageRoomMessages; i = next++) {
      const res = await lib.httpPostJson(`${server.url}/rooms/rest-page/messages`,
        { user_id: `user-${i % 20}`, username: `User ${i % 20}`, content: `page message ${i}: the quick brown fox jumps over the lazy dog` }, agent)
      if (res.status !== 200) throw new Error(`${kind}: prefill POST answered ${res.status}: ${res.body.slice(0, 200)}`)
    }
  }))
  agent.destroy()
  const page = await lib.httpGet(`${server.url}/rooms/rest-page/messages?limit=100`)
  const length = JSON.parse(page.body).length
  if (length !== 100) throw new Error(`${kind}: GET page returned ${length} messages, not 100`)
  return {
    kind,
    server,
    post: {
      url: `${server.url}/rooms/rest-post/messages`,
      method: 'POST',
      body: JSON.stringify({ user_id: 'poster', username: 'Poster', content: 'hello from autocannon: a typical short chat message' }),
      connections: cfg.connections
    },
    get: { url: `${server.url}/rooms/rest-page/messages?limit=100`, connections: cfg.connections }
  }
}

/** Parley (SQLite) vs bench/floor-fastify.js. */
function restRun () {
  return restCompare([
    { kind: 'parley', start: () => startParley() },
    { kind: 'floor', start: startFloorFastify }
  ])
}

/** Responses with a 5xx status, from autocannon's statusCodeStats of each round. */
function count5xx (rounds) {
  let n = 0
  for (const r of rounds) for (const [code, v] of Object.entries(r.statusCodes || {})) if (code.startsWith('5')) n += (v && v.count) || 0
  return n
}

/**
 * Both servers up (`entries`: [{ kind, start }], Parley first); each figure measured in
 * rounds that alternate the order (Parley, floor, floor, Parley…), so drift and a
 * neighbour's load fall on both.
 */
async function restCompare (entries, cfg = CONFIG.rest, { label = 'REST', quietMs, services, what: figures = ['post', 'get'] } = {}) {
  const kinds = entries.map((e) => e.kind)
  const targets = []
  const servers = []
  const out = Object.fromEntries(kinds.map((k) => [k, { server: k }]))
  try {
    out.ambientCoresBefore = await waitForQuiet(label, quietMs)
    // Started at once; a server that started is stopped below even if the other failed.
    const started = await Promise.allSettled(entries.map((e) => e.start()))
    started.forEach((r, i) => { if (r.status === 'fulfilled') servers.push({ kind: entries[i].kind, server: r.value }) })
    const failed = started.find((r) => r.status === 'rejected')
    if (failed) throw failed.reason
    for (const { kind, server } of servers) targets.push(await restPrepare(kind, server, cfg))
    const timeout = (cfg.durationS + 30) * 1000
    const per = Math.max(1, Math.round(cfg.durationS / cfg.rounds))
    for (const what of figures) {
      for (const t of targets) await lib.runJson('rest-load.js', [JSON.stringify({ ...t[what], duration: cfg.warmupS })], timeout)
      const rounds = Object.fromEntries(kinds.map((k) => [k, []]))
      for (let round = 0; round < cfg.rounds; round++) {
        for (const t of round % 2 ? [...targets].reverse() : targets) {
          await quiesce(t.server.pid)
          // CPU of the server and (with `services`) of the database's processes over the round.
          const cpu0 = cpuMs(t.server.pid)
          const svc0 = services && lib.cpuByName(services)
          const r = await lib.runJson('rest-load.js', [JSON.stringify({ ...t[what], duration: per })], timeout)
          r.serverCpuMs = cpuMs(t.server.pid) - cpu0
          if (services) r.serviceCpuMs = lib.cpuByNameDelta(svc0, lib.cpuByName(services))
          rounds[t.kind].push(r)
        }
      }
      for (const kind of kinds) {
        const rs = rounds[kind]
        const total = rs.reduce((a, r) => a + r.total, 0)
        const seconds = rs.reduce((a, r) => a + r.durationS, 0)
        const r = {
          reqPerSec: total / seconds,
          total,
          latencyMean: Number((rs.reduce((a, x) => a + x.latencyMean * x.total, 0) / total).toFixed(2)),
          latencyP99: Math.max(...rs.map((x) => x.latencyP99)),
          non2xx: rs.reduce((a, x) => a + x.non2xx, 0),
          status5xx: count5xx(rs),
          errors: rs.reduce((a, x) => a + x.errors, 0),
          statusCodes: rs.map((x) => x.statusCodes),
          serverCpuUsPerReq: rs.reduce((a, x) => a + x.serverCpuMs, 0) * 1000 / total,
          ...(services ? { serviceCpuUsPerReq: rs.reduce((a, x) => a + x.serviceCpuMs, 0) * 1000 / total } : {}),
          rounds: rs
        }
        out[kind][what] = r
        console.log(`  ${kind.padEnd(13)} ${what.toUpperCase().padEnd(4)} ${fmt(r.reqPerSec)} req/s, mean ${r.latencyMean} ms, p99 (worst round) ${r.latencyP99} ms` +
          `, rounds ${rs.map((x) => fmt(x.reqPerSec, 0)).join(' / ')}` +
          `, server CPU ${fmt(r.serverCpuUsPerReq, 0)} µs/req` + (services ? `, ${services.join(' + ')} CPU ${fmt(r.serviceCpuUsPerReq, 0)} µs/req` : '') +
          (r.non2xx ? `, ${r.non2xx} non-2xx ${JSON.stringify(r.statusCodes)}` : '') + (r.errors ? `, ${r.errors} errors` : ''))
      }
    }
  } finally {
    for (const { kind, server } of servers) out[kind].exit = await server.stop()
  }
  return out
}

// ---------------------------------------------------------------- history

async function historyRun () {
  const cfg = CONFIG.history
  console.log('  preparing the history database (cached in bench/.cache/)…')
  const db = await historyDb({ log: console.log })
  console.log(`  history database: ${path.relative(ROOT, db.file)} (${db.cached ? 'cached' : `built in ${(db.ms / 1000).toFixed(1)} s`})`)
  const ambient = await waitForQuiet('history')
  const server = await startParley({ dbFile: db.file })
  const out = { file: path.relative(ROOT, db.file), cached: db.cached, buildMs: db.ms, ambientCoresBefore: ambient, rooms: [] }
  try {
    for (const { roomId, count } of db.rooms) {
      const url = `${server.url}/rooms/${roomId}/messages?limit=100`
      const page = JSON.parse((await lib.httpGet(url)).body)
      if (page.length !== 100 || page[99].seq !== count) throw new Error(`history: ${roomId} page is wrong (${page.length} messages, last seq ${page[99] && page[99].seq})`)
      out.rooms.push({ roomId, messages: count, rounds: [] })
    }
    // Rounds over the rooms in turn, so drift (JIT, caches, a neighbour's load) hits every room alike.
    const per = Math.round(cfg.durationMs / cfg.rounds)
    for (let round = 0; round < cfg.rounds; round++) {
      for (const room of out.rooms) {
        const url = `${server.url}/rooms/${room.roomId}/messages?limit=100`
        const warmupMs = round === 0 ? cfg.warmupMs : 200
        room.rounds.push(await lib.runJson('http-loop.js', [JSON.stringify({ url, warmupMs, durationMs: per })], per + warmupMs + 30_000))
      }
    }
    for (const room of out.rooms) {
      const requests = room.rounds.reduce((a, r) => a + r.requests, 0)
      Object.assign(room, {
        requests,
        p50Ms: median(room.rounds.map((r) => r.p50Ms)),
        p99Ms: median(room.rounds.map((r) => r.p99Ms)),
        reqPerSec: requests / room.rounds.reduce((a, r) => a + r.requests / r.reqPerSec, 0),
        non2xx: room.rounds.reduce((a, r) => a + r.non2xx, 0)
      })
      console.log(`  ${room.roomId.padEnd(13)} p50 ${fmt(room.p50Ms, 3)} ms, p99 ${fmt(room.p99Ms, 3)} ms, ${fmt(room.reqPerSec)} req/s ` +
        `(one connection, median of ${cfg.rounds} rounds)` + (room.non2xx ? `, ${room.non2xx} non-2xx` : ''))
    }
  } finally {
    out.exit = await server.stop()
  }
  const base = out.rooms[0]
  for (const r of out.rooms) {
    r.p50Ratio = r.p50Ms / base.p50Ms
    r.reqPerSecRatio = base.reqPerSec / r.reqPerSec
  }
  return out
}

// ---------------------------------------------------------------- capacity

async function capacityRun (kind) {
  const cfg = CONFIG.capacity
  const ambient = await waitForQuiet(`capacity ${kind}`)
  // 'plain': the floor without the presence a connect owes (FLOOR_PRESENCE=0), a reference row.
  const server = kind === 'parley' ? await startParley() : await startFloorWs({ env: kind === 'plain' ? { FLOOR_PRESENCE: '0' } : {} })
  const client = lib.startWorker('idle-client.js', [String(CONFIG.deadlineMs)])
  const out = { server: kind, ambientCoresBefore: ambient }
  try {
    const common = { wsUrl: server.wsUrl, concurrency: cfg.concurrency, localAddresses: cfg.localAddresses, rooms: cfg.rooms }
    // Warm-up: the first sockets pay for lazy compilation and first allocations.
    client.send({ cmd: 'open', ...common, count: 200, prefix: 'warm' })
    await client.next((m) => m.ev === 'opened', 60_000)
    client.send({ cmd: 'close' })
    await client.next((m) => m.ev === 'closed', 60_000)
    await quiesce(server.pid)
    await sleep(1000)
    const rss0 = await medianRss(server.pid)

    client.send({ cmd: 'open', ...common, count: cfg.sockets, prefix: 'idle' })
    const opened = await client.next((m) => m.ev === 'opened', 240_000)
    await quiesce(server.pid)
    await sleep(cfg.settleMs)
    const rss1 = await medianRss(server.pid)
    Object.assign(out, {
      requested: cfg.sockets,
      open: opened.open,
      failed: opened.failed,
      failures: opened.failures,
      closes: opened.closes,
      connectMs: opened.ms,
      connectPerSec: opened.rate,
      rssBeforeMB: rss0 / 1048576,
      rssAfterMB: rss1 / 1048576,
      rssPerSocketKB: (rss1 - rss0) / opened.open / 1024
    })
    console.log(`  ${kind.padEnd(8)} ${opened.open}/${cfg.sockets} idle sockets open (${opened.failed} failed) at ${fmt(opened.rate)}/s; ` +
      `RSS ${fmt(out.rssBeforeMB, 1)} → ${fmt(out.rssAfterMB, 1)} MB = ${fmt(out.rssPerSocketKB, 2)} KB/socket` +
      (opened.failures.length ? `; failures: ${opened.failures.join('; ')}` : ''))
    client.send({ cmd: 'close' })
    await client.next((m) => m.ev === 'closed', 60_000)
  } finally {
    await client.exit()
    out.exit = await server.stop()
  }
  return out
}

// ---------------------------------------------------------------- profile

async function profileRun () {
  const dir = path.join(CACHE, 'prof')
  fs.rmSync(dir, { recursive: true, force: true })
  fs.mkdirSync(dir, { recursive: true })
  console.log(`\nprofiling Parley and the floor under fan-out at ${CONFIG.fanout.steps.map((s) => fmt(s)).join(', ')} deliveries/s (node --cpu-prof --cpu-prof-dir=${path.relative(ROOT, dir)})`)
  const runs = await fanoutRun({ nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${dir}`] })
  const results = {}
  for (const kind of ['parley', 'floor']) {
    // --cpu-prof names files CPU.<date>.<time>.<pid>.<tid>.<seq>.cpuprofile.
    const pid = runs[kind].serverPid
    const file = fs.readdirSync(dir).find((f) => f.endsWith('.cpuprofile') && f.split('.').includes(String(pid)))
    if (!file) throw new Error(`${kind}: no .cpuprofile for pid ${pid} in ${dir} (exit ${JSON.stringify(runs[kind].exit)})`)
    const summary = summarize(path.join(dir, file), 25)
    console.log(`\n### ${kind}: top self time under fan-out\n`)
    console.log(printProfile(summary))
    results[kind] = { run: runs[kind], profile: { ...summary, file: path.relative(ROOT, summary.file) } }
  }
  return results
}

// ---------------------------------------------------------------- report

const ratio = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? a / b : NaN)

/** Parley/floor CPU per delivery of each interleaved pair at the target rate, and their median. */
function targetPairs (fanout) {
  const p = fanout.parley.targetSamples || []
  const f = fanout.floor.targetSamples || []
  const ratios = p.slice(0, f.length).map((a, i) => ratio(a.serverCpuUsPerDelivery, f[i].serverCpuUsPerDelivery))
  return {
    ratios,
    median: median(ratios),
    parley: median(p.map((a) => a.serverCpuUsPerDelivery)),
    floor: median(f.map((b) => b.serverCpuUsPerDelivery))
  }
}
const verdict = (ok) => (ok === null ? '' : ok ? 'pass' : 'FAIL')

/** DM and room figures side by side per offered rate: medians of the steps at that rate, and DM/room. */
function dmReport (dm) {
  const cfg = CONFIG.dm
  const rates = [...new Set(dm.steps.map((s) => s.offeredRate))]
  const of = (kind, rate) => dm.steps.filter((s) => s.kind === kind && s.offeredRate === rate)
  const headers = ['Figure']
  for (const rate of rates) {
    const n = Math.max(of('dm', rate).length, of('room', rate).length)
    const runs = n > 1 ? ` (median of ${n})` : ''
    headers.push(`DM ${fmt(rate)}/s${runs}`, `room ${fmt(rate)}/s${runs}`, 'DM/room')
  }
  const row = (name, key, digits = 2) => {
    const cells = [name]
    for (const rate of rates) {
      const d = median(of('dm', rate).map((s) => s[key]))
      const r = median(of('room', rate).map((s) => s[key]))
      cells.push(fmt(d, digits), fmt(r, digits), fmt(ratio(d, r), 3))
    }
    return cells
  }
  const rows = [
    row('stored (msg/s)', 'storedPerSec', 0),
    row('delivered to the receiver (msg/s)', 'deliveredPerSec', 0),
    row('delivered fraction', 'deliveredRatio', 4),
    row('latency send → receipt p50 (ms)', 'p50Ms', 2),
    row('latency send → receipt p99 (ms)', 'p99Ms', 2),
    row('latency send → receipt max (ms)', 'maxMs', 1),
    row('send → stored (dm_sent / echo) p99 (ms)', 'storedP99Ms', 2),
    row('server CPU per message (µs)', 'serverCpuUsPerMessage', 1),
    row('  of which user (µs)', 'serverUserUsPerMessage', 1),
    row('  of which kernel (µs)', 'serverSysUsPerMessage', 1),
    row('  write syscalls per message', 'serverWriteSyscallsPerMessage', 2),
    row('server CPU (cores)', 'serverCores', 2),
    row('server RSS (MB)', 'rssMB', 1),
    row('generator CPU (cores)', 'genCores', 2),
    row('other processes (cores)', 'otherCores', 2)
  ]
  const cells = ['holds (delivered ≥ 0.999, p99 ≤ 50 ms) / error frames']
  for (const rate of rates) {
    const show = (list) => `${list.map((s) => (s.holds ? 'yes' : 'no')).join(',') || '—'} / ${list.reduce((a, s) => a + s.errorFrames, 0)}`
    cells.push(show(of('dm', rate)), show(of('room', rate)), '')
  }
  rows.push(cells)
  return {
    title: `DMs vs room messages: ${cfg.pairs} DM pairs (a sender and a receiver DM socket each) vs ${cfg.pairs} rooms of 2 ` +
      `(one sender, one receiver), same offered message rate, one Parley on SQLite, ${cfg.measureMs / 1000} s windows`,
    headers,
    rows
  }
}

function report (results) {
  const t = CONFIG.targets
  const sections = []

  if (results.fanout) {
    const p = results.fanout.parley.atTarget || {}
    const f = results.fanout.floor.atTarget || {}
    const row = (name, key, digits, target, ok) => [name, fmt(p[key], digits), fmt(f[key], digits), fmt(ratio(p[key], f[key]), 3), target || '', verdict(ok ?? null)]
    const pairs = targetPairs(results.fanout)
    results.fanout.targetPairs = pairs
    const cpuRatio = pairs.median
    sections.push({
      title: `Fan-out: ${CONFIG.fanout.rooms} rooms × ${CONFIG.fanout.socketsPerRoom} sockets, ${CONFIG.fanout.sendersPerRoom} senders/room, offered ${fmt(CONFIG.fanout.targetRate)} deliveries/s`,
      headers: ['Figure', 'Parley', 'Floor (ws)', 'Parley/Floor', 'Target', 'Result'],
      rows: [
        row('delivered ratio', 'deliveredRatio', 4, `≥ ${CONFIG.fanout.minDelivered}`, p.deliveredRatio >= CONFIG.fanout.minDelivered),
        row('deliveries/s', 'deliveriesPerSec', 0),
        row('latency p50 (ms)', 'p50Ms', 2),
        row('latency p99 (ms)', 'p99Ms', 2, `Parley ≤ ${t.fanoutP99Ms} ms`, p.p99Ms <= t.fanoutP99Ms),
        row('latency max (ms)', 'maxMs', 1),
        [`server CPU per delivery (µs), median of ${pairs.ratios.length} interleaved pairs; Parley/Floor is the median pair ratio`,
          fmt(pairs.parley, 3), fmt(pairs.floor, 3), fmt(cpuRatio, 3), `≤ ${t.fanoutCpuRatio}×`, verdict(pairs.ratios.length > 0 ? cpuRatio <= t.fanoutCpuRatio : null)],
        ['  each pair (µs, Parley/Floor)', results.fanout.parley.targetSamples.map((a) => fmt(a.serverCpuUsPerDelivery, 3)).join(', '),
          results.fanout.floor.targetSamples.map((b) => fmt(b.serverCpuUsPerDelivery, 3)).join(', '), pairs.ratios.map((r) => fmt(r, 3)).join(', '), '', ''],
        (() => {
          // Every rate both servers ran and held: one noisy step weighs less than in the row above.
          const both = results.fanout.parley.steps.filter((a) => a.holds && results.fanout.floor.steps.some((b) => b.holds && b.offeredRate === a.offeredRate))
          const mp = median(both.map((a) => a.serverCpuUsPerDelivery))
          const mf = median(both.map((a) => results.fanout.floor.steps.find((b) => b.holds && b.offeredRate === a.offeredRate).serverCpuUsPerDelivery))
          return [`server CPU per delivery, median of ${both.length} rates both held (µs)`, fmt(mp, 3), fmt(mf, 3), fmt(ratio(mp, mf), 3), '(informative)', '']
        })(),
        ['  of which user / kernel (µs)', `${fmt(p.serverUserUsPerDelivery, 3)} / ${fmt(p.serverSysUsPerDelivery, 3)}`,
          `${fmt(f.serverUserUsPerDelivery, 3)} / ${fmt(f.serverSysUsPerDelivery, 3)}`,
          `${fmt(ratio(p.serverUserUsPerDelivery, f.serverUserUsPerDelivery), 3)} / ${fmt(ratio(p.serverSysUsPerDelivery, f.serverSysUsPerDelivery), 3)}`, '', ''],
        ['  write syscalls per delivery', fmt(p.serverWriteSyscallsPerDelivery, 3), fmt(f.serverWriteSyscallsPerDelivery, 3),
          fmt(ratio(p.serverWriteSyscallsPerDelivery, f.serverWriteSyscallsPerDelivery), 3), '', ''],
        row('server CPU (cores)', 'serverCores', 2),
        row('server RSS (MB)', 'rssMB', 1),
        row('generator CPU (cores)', 'genCores', 2),
        ['highest offered rate that holds (deliveries/s)', fmt(results.fanout.parley.highestHoldingRate), fmt(results.fanout.floor.highestHoldingRate),
          fmt(ratio(results.fanout.parley.highestHoldingRate, results.fanout.floor.highestHoldingRate), 3),
          `delivered ≥ ${CONFIG.fanout.minDelivered}, p99 ≤ ${CONFIG.fanout.budgetP99Ms} ms`, '']
      ]
    })
    const steps = []
    const rates = [...new Set([...results.fanout.parley.steps, ...results.fanout.floor.steps].map((s) => s.offeredRate))].sort((a, b) => a - b)
    for (const rate of rates) {
      for (const kind of ['parley', 'floor']) {
        const s = results.fanout[kind].steps.find((x) => x.offeredRate === rate)
        if (!s) continue
        steps.push([fmt(rate), kind, s.deliveredRatio.toFixed(4), fmt(s.deliveriesPerSec), fmt(s.p50Ms), fmt(s.p99Ms), fmt(s.maxMs, 1),
          fmt(s.serverCpuUsPerDelivery, 3), fmt(s.serverCores), fmt(s.genCores), fmt(s.otherCores), s.holds ? 'holds' : 'no'])
      }
    }
    sections.push({
      title: 'Fan-out steps',
      headers: ['offered/s', 'server', 'delivered', 'deliveries/s', 'p50 ms', 'p99 ms', 'max ms', 'CPU µs/delivery', 'server cores', 'generator cores', 'others cores', 'holds'],
      rows: steps
    })
  }

  if (results.dm && results.dm.steps) sections.push(dmReport(results.dm))

  if (results.rest) {
    const p = results.rest.parley
    const f = results.rest.floor
    const row = (name, a, b, digits, target, ok) => [name, fmt(a, digits), fmt(b, digits), fmt(ratio(a, b), 3), target || '', verdict(ok ?? null)]
    const postRatio = ratio(p.post.reqPerSec, f.post.reqPerSec)
    const getRatio = ratio(p.get.reqPerSec, f.get.reqPerSec)
    sections.push({
      title: `REST (autocannon, ${CONFIG.rest.connections} connections, ${CONFIG.rest.durationS} s each)`,
      headers: ['Figure', 'Parley', 'Floor (Fastify+SQLite, stored JSON)', 'Parley/Floor', 'Target', 'Result'],
      rows: [
        row('POST message (req/s)', p.post.reqPerSec, f.post.reqPerSec, 0, `≥ ${t.restRatio}×`, postRatio >= t.restRatio),
        row('POST latency mean / p99 worst round (ms)', `${p.post.latencyMean} / ${p.post.latencyP99}`, `${f.post.latencyMean} / ${f.post.latencyP99}`),
        row('GET page of 100 (req/s)', p.get.reqPerSec, f.get.reqPerSec, 0, `≥ ${t.restGetRatio}×`, getRatio >= t.restGetRatio),
        row('GET latency mean / p99 worst round (ms)', `${p.get.latencyMean} / ${p.get.latencyP99}`, `${f.get.latencyMean} / ${f.get.latencyP99}`)
      ]
    })
  }

  if (results.history) {
    const rooms = results.history.rooms
    const base = rooms[0]
    sections.push({
      title: 'History growth: GET newest page of 100 (Parley, one keep-alive connection)',
      headers: ['Room', 'p50 (ms)', 'p99 (ms)', 'req/s', 'p50 / 100-msg room', 'Target', 'Result'],
      rows: rooms.map((r, i) => [
        `${fmt(r.messages)} messages`, fmt(r.p50Ms, 3), fmt(r.p99Ms, 3), fmt(r.reqPerSec, 0), fmt(r.p50Ms / base.p50Ms, 3),
        i === rooms.length - 1 ? `≤ ${t.historyRatio}×` : '',
        i === rooms.length - 1 ? verdict(r.p50Ms / base.p50Ms <= t.historyRatio) : ''
      ])
    })
  }

  if (results.capacity) {
    const { parley: p, floor: f, plain: q } = results.capacity
    const row = (name, key, digits, target, ok) => [name, fmt(p[key], digits), fmt(f[key], digits), fmt(ratio(p[key], f[key]), 3), target || '', verdict(ok ?? null)]
    const rssRatio = ratio(p.rssPerSocketKB, f.rssPerSocketKB)
    const connectRatio = ratio(p.connectPerSec, f.connectPerSec)
    const rounds = (kind) => results.capacity.runs[kind].map((r) => fmt(r.connectPerSec, 0)).join(', ')
    sections.push({
      title: `Capacity: ${fmt(CONFIG.capacity.sockets)} idle sockets over ${CONFIG.capacity.rooms} rooms (median of ${CONFIG.capacity.rounds} interleaved rounds)`,
      headers: ['Figure', 'Parley', 'Floor (ws + presence)', 'Parley/Floor', 'Target', 'Result'],
      rows: [
        row('sockets open', 'open', 0),
        row('RSS per idle socket (KB)', 'rssPerSocketKB', 2, `≤ ${t.capacityRssRatio}×`, rssRatio <= t.capacityRssRatio),
        row('RSS before → after (MB)', 'rssAfterMB', 1),
        row('connect rate (sockets/s)', 'connectPerSec', 0, `≥ ${t.connectRatio}×`, connectRatio >= t.connectRatio),
        ['connect rate, each round', rounds('parley'), rounds('floor'), '', '', ''],
        // The plain upgrade skips the snapshot and join frames every connect owes: a reference, not the floor.
        ['reference: plain ws, no presence frames', '', `${fmt(q.connectPerSec, 0)} (${rounds('plain')})`, fmt(ratio(p.connectPerSec, q.connectPerSec), 3), '', '']
      ]
    })
    sections[sections.length - 1].rows[2] = ['RSS before → after (MB)', `${fmt(p.rssBeforeMB, 1)} → ${fmt(p.rssAfterMB, 1)}`,
      `${fmt(f.rssBeforeMB, 1)} → ${fmt(f.rssAfterMB, 1)}`, '', '', '']
  }

  if (results.storm) sections.push(stormReport(results.storm, CONFIG.storm, CONFIG.storm.targetRatio))
  if (results.pg) sections.push(...pgPhase.pgReport(results.pg, CONFIG, results.rest))

  return sections
}

// ---------------------------------------------------------------- main

function machine () {
  return {
    nproc: os.availableParallelism ? os.availableParallelism() : os.cpus().length,
    cpu: os.cpus()[0] && os.cpus()[0].model,
    memGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    platform: `${os.type()} ${os.release()}`,
    clkTck: lib.CLK_TCK,
    openFiles: lib.openFilesLimit()
  }
}

const started = Date.now()
const results = { startedAt: new Date().toISOString() }

async function main () {
  ensureOpenFiles()
  // The results file never holds a database password.
  const config = { ...CONFIG, pg: { ...CONFIG.pg, url: pgPhase.redact(CONFIG.pg.url), redisUrl: pgPhase.redact(CONFIG.pg.redisUrl) } }
  Object.assign(results, { machine: machine(), config })
  const deadline = setTimeout(() => {
    console.error(`\nbench: deadline of ${CONFIG.deadlineMs / 1000} s reached; stopping every child and writing what was measured`)
    lib.killChildren()
    results.error = 'deadline reached'
    finish(results, started, 2)
  }, CONFIG.deadlineMs)
  deadline.unref()

  console.log(`Parley bench (${CONFIG.mode}): ${results.machine.nproc} cores, node ${process.version}, 127.0.0.1 only`)
  if (!flag('no-build')) {
    console.log('building Parley (npm run build)…')
    try {
      execFileSync('npm', ['run', 'build', '--silent'], { cwd: ROOT, stdio: 'inherit', timeout: 180_000 })
    } catch (err) {
      throw new Error('npm run build failed: the bench measures the built server (dist/); fix the build or pass --no-build to use the last one')
    }
  }
  LIMITS = limitEnv()
  results.parleyLimitEnv = LIMITS.applied
  if (LIMITS.error) console.log(`warning: ${LIMITS.error}`)
  console.log(`Parley limits raised for the bench: ${Object.entries(LIMITS.applied).map(([k, v]) => `${k}=${v}`).join(' ') || '(none found)'}`)
  if (LIMITS.unknown.length) {
    console.log(`note: limit-like variables not in bench/server-env.js LIMITS (raised to their maximum): ${LIMITS.unknown.join(', ')}`)
  }
  fs.mkdirSync(RUN_DIR, { recursive: true })

  if (PROFILE) {
    results.profile = await profileRun()
    return finish(results, started, 0)
  }

  if (ONLY.has('fanout')) {
    console.log(`\n== fan-out: ${CONFIG.fanout.rooms} rooms × ${CONFIG.fanout.socketsPerRoom} sockets, ${CONFIG.fanout.sendersPerRoom} senders/room, ` +
      `steps ${CONFIG.fanout.steps.map((s) => fmt(s)).join(', ')} deliveries/s, ${CONFIG.fanout.measureMs / 1000} s measured each`)
    results.fanout = await fanoutRun()
  }
  if (ONLY.has('dm')) {
    const d = CONFIG.dm
    console.log(`\n== DMs vs room messages: ${d.pairs} DM pairs vs ${d.pairs} rooms of 2, offered ${d.rates.map((r) => fmt(r)).join(', ')} msg/s, ` +
      `${d.measureMs / 1000} s measured each, bounded to ${d.budgetMs / 1000} s`)
    results.dm = await dmRun()
  }
  if (ONLY.has('rest')) {
    console.log('\n== REST: POST a message, GET a page of 100 (autocannon)')
    results.rest = await restRun()
  }
  if (ONLY.has('history')) {
    console.log('\n== history growth: newest page of 100 in rooms of 100, 100k and 1M messages')
    results.history = await historyRun()
  }
  if (ONLY.has('capacity')) {
    console.log(`\n== capacity: ${fmt(CONFIG.capacity.sockets)} idle sockets`)
    const runs = { parley: [], floor: [], plain: [] }
    for (let i = 0; i < CONFIG.capacity.rounds; i++) for (const kind of Object.keys(runs)) runs[kind].push(await capacityRun(kind))
    // Each server's median round by connect rate (its RSS figures come with it).
    const medianRun = (list) => [...list].sort((a, b) => a.connectPerSec - b.connectPerSec)[Math.floor((list.length - 1) / 2)]
    results.capacity = { parley: medianRun(runs.parley), floor: medianRun(runs.floor), plain: medianRun(runs.plain), runs }
  }
  if (ONLY.has('storm')) {
    const s = CONFIG.storm
    console.log(`\n== restart storm: ${fmt(s.sockets)} sockets over ${s.rooms} rooms of ${fmt(s.messages)} messages, SIGTERM and restart, ` +
      `${s.rounds} round(s) each, one load-generator process`)
    const defaultLimits = s.defaultLimitsRound ? { MAX_SOCKETS_PER_IP: LIMITS.env.MAX_SOCKETS_PER_IP, RATE_LIMIT_MAX: LIMITS.env.RATE_LIMIT_MAX } : null
    results.storm = await stormRun({ cfg: { ...s, defaultLimits }, runDir: RUN_DIR, startParley, startBenchServer, deadlineMs: CONFIG.deadlineMs, waitForQuiet })
  }
  if (ONLY.has('pg')) {
    results.pg = await pgPhase.pgRun({
      config: CONFIG.pg,
      fanoutConfig: CONFIG.fanout,
      startParley,
      startBenchServer,
      restCompare,
      fanoutSetup,
      fanoutStep,
      fanoutTeardown,
      logStep,
      waitForQuiet,
      quiesce
    })
  }
  finish(results, started, results.pg && results.pg.error ? 1 : 0)
}

let finished = false
function finish (results, started, code) {
  if (finished) return
  finished = true
  results.durationS = (Date.now() - started) / 1000
  try {
    results.summary = report(results)
    console.log('')
    for (const s of results.summary) {
      console.log(`### ${s.title}\n`)
      console.log(table(s.headers, s.rows))
      console.log('')
    }
    // Rows skipped (no URL, no connection), budget cuts, a failed phase: said again under the tables.
    if (results.pg) {
      for (const line of results.pg.notes || []) console.log(line.trim())
      if (results.pg.error) console.log(`PostgreSQL phase failed: ${results.pg.error}`)
    }
    if (results.fanout) {
      // This machine may be shared: say how much else ran while the fan-out was measured.
      const others = ['parley', 'floor'].flatMap((k) => results.fanout[k].steps.map((st) => st.otherCores))
      results.noise = {
        fanoutOtherCoresMean: others.reduce((a, b) => a + b, 0) / others.length,
        fanoutOtherCoresMax: Math.max(...others)
      }
      console.log(`CPU used by other processes during the fan-out steps: mean ${fmt(results.noise.fanoutOtherCoresMean)} cores, ` +
        `max ${fmt(results.noise.fanoutOtherCoresMax)} cores, of ${results.machine.nproc}` +
        (results.noise.fanoutOtherCoresMean > 0.25 ? ' (a busy machine: treat latencies and ceilings as noisy)' : ''))
    }
    if (results.dm && results.dm.steps && results.dm.steps.length) {
      const others = results.dm.steps.map((st) => st.otherCores)
      results.noise = {
        ...results.noise,
        dmOtherCoresMean: others.reduce((a, b) => a + b, 0) / others.length,
        dmOtherCoresMax: Math.max(...others)
      }
      console.log(`CPU used by other processes during the DM steps: mean ${fmt(results.noise.dmOtherCoresMean)} cores, ` +
        `max ${fmt(results.noise.dmOtherCoresMax)} cores, of ${results.machine.nproc}` +
        (results.noise.dmOtherCoresMean > 0.25 ? ' (a busy machine: treat latencies and ratios as noisy)' : ''))
    }
  } catch (err) {
    console.error(`report failed: ${err.stack}`)
  }
  const dir = path.join(__dirname, 'results')
  fs.mkdirSync(dir, { recursive: true })
  const file = path.join(dir, `${RUN_ID}${CONFIG.mode === 'full' ? '' : `-${CONFIG.mode}`}.json`)
  fs.writeFileSync(file, JSON.stringify(results, null, 2))
  fs.rmSync(RUN_DIR, { recursive: true, force: true })
  console.log(`results: ${path.relative(ROOT, file)} (${results.durationS.toFixed(0)} s)`)
  process.exit(code)
}

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    lib.killChildren()
    fs.rmSync(RUN_DIR, { recursive: true, force: true })
    process.exit(130)
  })
}

main().catch((err) => {
  console.error(`\nbench failed: ${err.stack || err.message}`)
  lib.killChildren()
  results.error = err.message
  finish(results, started, 1)
})
