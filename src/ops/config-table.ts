// `npm run config-table`: writes the README's configuration table from src/config.ts VARIABLES.
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { configTable } from '../config'

export const TABLE_START = '<!-- config:start -->'
export const TABLE_END = '<!-- config:end -->'

/** The README with its table replaced by the current one. */
export function withConfigTable (readme: string): string {
  const start = readme.indexOf(TABLE_START)
  const end = readme.indexOf(TABLE_END)
  if (start === -1 || end < start) throw new Error(`README.md has no ${TABLE_START} … ${TABLE_END} block`)
  return `${readme.slice(0, start + TABLE_START.length)}\n${configTable()}\n${readme.slice(end)}`
}

if (require.main === module) {
  // npm runs scripts from the package root.
  const file = join(process.cwd(), 'README.md')
  writeFileSync(file, withConfigTable(readFileSync(file, 'utf8')))
  console.log(`wrote the configuration table of ${file}`)
}
