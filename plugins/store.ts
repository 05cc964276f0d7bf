import fp from 'fastify-plugin'
import { isPostgresUrl } from '../src/config'
import { createPostgresStore } from '../src/postgres-store'
import { createSqliteStore } from '../src/sqlite-store'
import type { RoomStore } from '../src/store'

declare module 'fastify' {
  interface FastifyInstance {
    store: RoomStore
  }
}

export default fp(async function storePlugin (fastify) {
  const { databaseUrl, databaseSchema, sqliteSynchronous, sqliteCommitIntervalMs } = fastify.config
  const store = isPostgresUrl(databaseUrl)
    ? await createPostgresStore({ connectionString: databaseUrl, schema: databaseSchema ?? undefined })
    : createSqliteStore({ filename: databaseUrl, synchronous: sqliteSynchronous, commitIntervalMs: sqliteCommitIntervalMs })
  fastify.decorate('store', store)
  fastify.addHook('onClose', async () => store.close())
}, { name: 'store', dependencies: ['config'] })
