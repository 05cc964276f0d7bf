import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { VARIABLES } from '../src/config'
import { withConfigTable } from '../src/ops/config-table'

t.test('the README lists every variable as src/config.ts declares it (npm run config-table rewrites it)', async (t) => {
  const readme = readFileSync(join(__dirname, '..', 'README.md'), 'utf8')
  t.equal(withConfigTable(readme), readme, 'the table is current: run `npm run config-table`')
  for (const { name } of Object.values(VARIABLES)) t.match(readme, `| \`${name}\` |`)
})

t.test('every variable has a default and a description', async (t) => {
  for (const { name, schema } of Object.values(VARIABLES)) {
    t.not(schema.default, undefined, `${name} has a default`)
    t.ok(typeof schema.description === 'string' && schema.description.length > 10, `${name} says what it means`)
  }
})
