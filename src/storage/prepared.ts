import type { Compilable, CompiledQuery, Kysely } from 'kysely';
import type { Database } from './schema.js';

/**
 * A query built and compiled by Kysely once, then run with new values. Kysely
 * rebuilds and recompiles its query tree on every call, which costs more than
 * running a small statement on SQLite; the SQL text also stays the same string,
 * so the SQLite statement cache (and PostgreSQL's plan for it) is reused.
 *
 * `build` receives a stand-in for each named value and must pass each one
 * through as a bound parameter exactly once (checked here, at construction).
 */
export class PreparedQuery<K extends string, R> {
  private readonly compiled: CompiledQuery<R>;
  /** For each bound parameter, the value's name. */
  private readonly slots: K[];

  constructor(names: readonly K[], build: (values: Record<K, unknown>) => Compilable<R>) {
    const standIns = new Map<string, K>(names.map((name) => [`\u0000prepared:${name}`, name]));
    const values = Object.fromEntries([...standIns].map(([standIn, name]) => [name, standIn])) as Record<K, unknown>;
    this.compiled = build(values).compile();
    this.slots = this.compiled.parameters.map((parameter) => {
      const name = typeof parameter === 'string' ? standIns.get(parameter) : undefined;
      if (name === undefined) throw new Error(`prepared query: parameter ${String(parameter)} is not one of the named values`);
      standIns.delete(parameter as string);
      return name;
    });
    if (standIns.size > 0) throw new Error(`prepared query: ${[...standIns.values()].join(', ')} not bound exactly once`);
  }

  /** Runs on `db`: the database or a transaction of it. */
  execute(db: Kysely<Database>, values: Record<K, unknown>): Promise<R[]> {
    const parameters = this.slots.map((name) => values[name]);
    return db.executeQuery<R>({ ...this.compiled, parameters }).then((result) => result.rows);
  }
}
