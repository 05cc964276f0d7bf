// Decorates store: SQLite, or PostgreSQL when DATABASE_URL is postgres://.
import fp from 'fastify-plugin'
import { isPostgresUrl } from '../src/config'
import { createPostgresStore } from '../src/store/postgres-store'
import { createSqliteStore } from '../src/store/sqlite-store'
import type { Store } from '../src/store/store'

declare module 'fastify' {
  interface FastifyInstance {
    store: Store
  }
}

export default fp(async function storePlugin (fastify) {
  const { databaseUrl, databaseSchema, pgPoolSize, sqliteSynchronous, sqliteCommitIntervalMs } = fastify.config
  const store = isPostgresUrl(databaseUrl)
    ? await createPostgresStore({ connectionString: databaseUrl, schema: databaseSchema ?? undefined, poolSize: pgPoolSize })
    : createSqliteStore({ filename: databaseUrl, synchronous: sqliteSynchronous, commitIntervalMs: sqliteCommitIntervalMs })
  fastify.decorate('store', store)
  fastify.addHook('onClose', async () => store.close())
}, { name: 'store', dependencies: ['config'] })
