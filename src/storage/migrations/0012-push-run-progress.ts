import { type Kysely, sql } from 'kysely';

/**
 * A run row becomes a lease: its claimant renews `claimed_at` while it sends
 * and records in `resume_after` the last recipient (user id) whose batch is
 * done. When a node dies mid-send, another takes the run over once the lease
 * has lapsed and goes on after that recipient, instead of the rest of the
 * audience never getting the occurrence.
 */
export function pushRunProgress() {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .alterTable('push_event_runs')
        .addColumn('resume_after', 'bigint', (c) => c.notNull().defaultTo(0))
        .execute();
      // The runs still open: looked at on every scheduler tick, while finished ones pile up.
      await db.schema
        .createIndex('push_event_runs_open')
        .on('push_event_runs')
        .column('claimed_at')
        .where(sql.ref('finished_at'), 'is', null)
        .execute();
    },
  };
}
