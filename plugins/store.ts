// Decorates store: SQLite, or PostgreSQL when DATABASE_URL is postgres://.
import fp from 'fastify-plugin'
import { isPostgresUrl } from '../src/config'
import { createSqliteStore } from '../src/store/sqlite-store'
import type { Store } from '../src/store/store'

declare module 'fastify' {
  interface FastifyInstance {
    store: Store
  }
}

export default fp(async function storePlugin (fastify) {
  const { databaseUrl, databaseSchema, pgPoolSize, sqliteSynchronous, sqliteCommitIntervalMs, sqliteCheckpointIntervalMs } = fastify.config
  // pg is loaded only when it is used: a SQLite start stays short.
  const store = isPostgresUrl(databaseUrl)
    ? await (await import('../src/store/postgres-store')).createPostgresStore({ connectionString: databaseUrl, schema: databaseSchema ?? undefined, poolSize: pgPoolSize })
    : createSqliteStore({
      filename: databaseUrl,
      synchronous: sqliteSynchronous,
      commitIntervalMs: sqliteCommitIntervalMs,
      checkpoint: sqliteCheckpointIntervalMs > 0 && {
        intervalMs: sqliteCheckpointIntervalMs,
        onCheckpoint: ({ thread, seconds }) => fastify.metrics.sqliteCheckpoint(thread, seconds),
        onError: (err) => fastify.log.warn({ err }, 'SQLite WAL checkpoint failed (if its worker stopped, the commits checkpoint)')
      }
    })
  fastify.decorate('store', store)
  fastify.addHook('onClose', async () => store.close())
}, { name: 'store', dependencies: ['config', 'metrics'] })
