'use strict'
// Prints the top functions by self time from a V8 .cpuprofile (node --cpu-prof),
// then self time grouped by file/package.
//
//   node bench/profile-summary.js [file.cpuprofile | dir] [--top 25]
// With a directory (default bench/.cache/prof), the newest .cpuprofile in it.

const fs = require('node:fs')
const path = require('node:path')

function newestProfile (dir) {
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'))
    .map((f) => ({ f: path.join(dir, f), t: fs.statSync(path.join(dir, f)).mtimeMs }))
    .sort((a, b) => b.t - a.t)
  if (files.length === 0) throw new Error(`no .cpuprofile in ${dir}`)
  return files[0].f
}

function shortUrl (url) {
  if (!url) return ''
  let u = url.replace(/^file:\/\//, '')
  const nm = u.lastIndexOf('/node_modules/')
  if (nm >= 0) return u.slice(nm + '/node_modules/'.length)
  const root = path.resolve(__dirname, '..') + '/'
  if (u.startsWith(root)) u = u.slice(root.length)
  return u
}

function group (url) {
  const u = shortUrl(url)
  if (u === '') return '(native/V8)'
  if (u.startsWith('node:')) return u
  const parts = u.split('/')
  if (url.includes('/node_modules/')) return parts[0].startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]
  return u
}

/** Self time per function and per group, in ms, from one profile. */
function summarize (file, top = 25) {
  const profile = JSON.parse(fs.readFileSync(file, 'utf8'))
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const selfUs = new Map()
  const { samples, timeDeltas } = profile
  for (let i = 0; i < samples.length; i++) {
    // timeDeltas[i] is the gap before sample i, so sample i lasts until the next one.
    const dt = timeDeltas[i + 1] || 0
    selfUs.set(samples[i], (selfUs.get(samples[i]) || 0) + dt)
  }
  let total = 0
  let idle = 0
  for (const [id, us] of selfUs) {
    total += us
    if (byId.get(id).callFrame.functionName === '(idle)') idle += us
  }
  const busy = total - idle
  const fns = new Map()
  const groups = new Map()
  for (const [id, us] of selfUs) {
    const { callFrame } = byId.get(id)
    const name = (callFrame.functionName || '(anonymous)').slice(0, 60)
    const key = `${name}\t${shortUrl(callFrame.url)}:${callFrame.lineNumber + 1}`
    fns.set(key, (fns.get(key) || 0) + us)
    const g = callFrame.url ? group(callFrame.url) : name.startsWith('(') ? name : '(native/V8)'
    groups.set(g, (groups.get(g) || 0) + us)
  }
  // Inclusive (total) time of the project's own functions (dist/, bench/): what each
  // step of the hot path costs with everything it calls.
  const parent = new Map()
  for (const n of profile.nodes) for (const c of n.children || []) parent.set(c, n.id)
  const own = (url) => /\/(dist|bench)\//.test(url) && !url.includes('/node_modules/')
  const totalUs = new Map()
  for (const [id, us] of selfUs) {
    const seen = new Set()
    for (let at = id; at !== undefined; at = parent.get(at)) {
      const { callFrame } = byId.get(at)
      if (!own(callFrame.url)) continue
      const key = `${callFrame.functionName || '(anonymous)'}\t${shortUrl(callFrame.url)}:${callFrame.lineNumber + 1}`
      if (seen.has(key)) continue
      seen.add(key)
      totalUs.set(key, (totalUs.get(key) || 0) + us)
    }
  }
  const rank = (m) => [...m.entries()].sort((a, b) => b[1] - a[1])
  return {
    file,
    totalMs: total / 1000,
    busyMs: busy / 1000,
    functions: rank(fns).filter(([k]) => !k.startsWith('(idle)\t')).slice(0, top).map(([k, us]) => {
      const [name, where] = k.split('\t')
      return { name, where, selfMs: us / 1000, pct: (100 * us) / busy }
    }),
    inclusive: rank(totalUs).slice(0, 15).map(([k, us]) => {
      const [name, where] = k.split('\t')
      return { name, where, totalMs: us / 1000, pct: (100 * us) / busy }
    }),
    groups: rank(groups).filter(([g]) => g !== '(idle)').slice(0, 15).map(([g, us]) => ({ group: g, selfMs: us / 1000, pct: (100 * us) / busy }))
  }
}

function print (s) {
  const lines = []
  lines.push(`profile: ${path.relative(process.cwd(), s.file)}: ${(s.totalMs / 1000).toFixed(1)} s sampled, ${(s.busyMs / 1000).toFixed(1)} s busy (percentages are of busy time, idle excluded)`)
  lines.push('')
  lines.push('| # | self ms | self % | function | where |')
  lines.push('|---|---|---|---|---|')
  s.functions.forEach((f, i) => lines.push(`| ${i + 1} | ${f.selfMs.toFixed(0)} | ${f.pct.toFixed(1)} | ${f.name} | ${f.where} |`))
  lines.push('')
  if (s.inclusive.length) {
    lines.push('| total ms | total % | own function (with callees) | where |')
    lines.push('|---|---|---|---|')
    for (const f of s.inclusive) lines.push(`| ${f.totalMs.toFixed(0)} | ${f.pct.toFixed(1)} | ${f.name} | ${f.where} |`)
    lines.push('')
  }
  lines.push('| self ms | self % | file or package |')
  lines.push('|---|---|---|')
  for (const g of s.groups) lines.push(`| ${g.selfMs.toFixed(0)} | ${g.pct.toFixed(1)} | ${g.group} |`)
  return lines.join('\n')
}

module.exports = { summarize, print }

if (require.main === module) {
  const args = process.argv.slice(2)
  const topAt = args.indexOf('--top')
  const top = topAt >= 0 ? Number(args.splice(topAt, 2)[1]) : 25
  const target = args[0] || path.join(__dirname, '.cache', 'prof')
  const file = fs.statSync(target).isDirectory() ? newestProfile(target) : target
  console.log(print(summarize(file, top)))
}
