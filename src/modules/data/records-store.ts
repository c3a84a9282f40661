import { type Expression, type ExpressionBuilder, type Kysely, type SqlBool, sql } from 'kysely';
import type { DialectName } from '../../storage/dialect.js';
import { PreparedQuery } from '../../storage/prepared.js';
import type { Database } from '../../storage/schema.js';
import type { ClassDef } from './classes.js';
import { columnOf, columnsOf, type DbValue, PREDEFINED } from './fields.js';
import type { ClassVerdict, RecordAction } from './permissions.js';
import type { Condition, ListQuery } from './query.js';

/** A stored record: predefined columns, p_* permission columns, f_* field columns. */
export type RecordRow = Record<string, unknown> & { _id: string; user_id: number | null; _parent_id: string | null };

/** Which records a caller may act on, as the store turns it into SQL. */
export interface Visibility {
  action: RecordAction;
  verdict: ClassVerdict;
  userId: number | null;
  tags: string[];
}

// Per-class tables are not in the static schema: names come from the catalogue id and checked field names.
// biome-ignore lint/suspicious/noExplicitAny: dynamic tables
type AnyDb = Kysely<any>;
// biome-ignore lint/suspicious/noExplicitAny: dynamic tables
type Eb = ExpressionBuilder<any, any>;

const EARTH_RADIUS_M = 6_371_008.8;
const CMP = { eq: '=', ne: '<>', lt: '<', lte: '<=', gt: '>', gte: '>=' } as const;

export class RecordsStore {
  private readonly db: AnyDb;
  private readonly inserts = new Map<string, PreparedQuery<string, unknown>>();
  constructor(
    db: Kysely<Database>,
    private readonly dialect: DialectName,
  ) {
    this.db = db as unknown as AnyDb;
  }

  /** Runs work in one transaction; the store's methods take the transaction as `db`. */
  transaction<T>(work: (db: AnyDb) => Promise<T>): Promise<T> {
    return this.db.transaction().execute(work);
  }

  get root(): AnyDb {
    return this.db;
  }

  async insert(db: AnyDb, cls: ClassDef, rows: Array<Record<string, DbValue>>): Promise<RecordRow[]> {
    if (rows.length === 0) return [];
    return (await db.insertInto(cls.table).values(rows).returningAll().execute()) as RecordRow[];
  }

  /** Inserts rows without reading them back; rows may name different columns (the others are null). */
  async insertRows(db: AnyDb, cls: ClassDef, rows: Array<Record<string, DbValue>>): Promise<void> {
    for (const row of rows) {
      // One insert per row, compiled once per table and column list: Kysely building an insert costs
      // more than SQLite running it (see src/storage/prepared.ts).
      const columns = Object.keys(row);
      const key = `${cls.table}(${columns.join(',')})`;
      let insert = this.inserts.get(key);
      if (!insert) {
        if (this.inserts.size >= 500) this.inserts.clear();
        insert = new PreparedQuery(columns, (values) => this.db.insertInto(cls.table).values(values));
        this.inserts.set(key, insert);
      }
      await insert.execute(db, row);
    }
  }

  /** Records by id, locked for the rest of the transaction on PostgreSQL. */
  async byIds(db: AnyDb, cls: ClassDef, ids: string[], lock = false): Promise<RecordRow[]> {
    if (ids.length === 0) return [];
    let query = db.selectFrom(cls.table).selectAll().where('_id', 'in', ids).orderBy('_id');
    if (lock && this.dialect === 'postgres') query = query.forUpdate();
    return (await query.execute()) as RecordRow[];
  }

  async update(db: AnyDb, cls: ClassDef, id: string, changes: Record<string, DbValue>): Promise<RecordRow> {
    return (await db
      .updateTable(cls.table)
      .set(changes)
      .where('_id', '=', id)
      .returningAll()
      .executeTakeFirstOrThrow()) as RecordRow;
  }

  /** A page of records matching the query that the caller may see. */
  /**
   * A page of records matching the query that the caller may see; `lock`
   * (writes by criteria) reads whole rows locked, else only the predefined
   * and field columns a reply shows (the permission columns are most of a
   * row and half the cost of reading it).
   */
  async list(db: AnyDb, cls: ClassDef, query: ListQuery, visibility: Visibility, lock = false): Promise<RecordRow[]> {
    const sort = query.sort ?? { ref: { column: '_id' }, direction: 'asc' as const };
    const nearSort = query.sort ? undefined : query.where.find((c) => c.kind === 'near');
    let direction: 'asc' | 'desc' = sort.direction;
    if (query.last) direction = direction === 'asc' ? 'desc' : 'asc';
    const from = db.selectFrom(cls.table);
    let select = (lock ? from.selectAll() : from.select([...PREDEFINED, ...cls.fields.flatMap(columnsOf)])).where((eb) =>
      this.filter(eb, query.where, visibility),
    );
    if (nearSort && nearSort.kind === 'near') select = select.orderBy(this.distance(nearSort), direction);
    else select = select.orderBy(this.ordered(sort.ref.column, direction));
    if (sort.ref.column !== '_id') select = select.orderBy('_id', direction);
    select = select.offset(query.last ? 0 : query.skip).limit(query.last ? 1 : query.limit);
    if (lock && this.dialect === 'postgres') select = select.forUpdate();
    return (await select.execute()) as RecordRow[];
  }

  async count(db: AnyDb, cls: ClassDef, where: Condition[], visibility: Visibility): Promise<number> {
    const row = await db
      .selectFrom(cls.table)
      .select((eb) => eb.fn.countAll().as('count'))
      .where((eb) => this.filter(eb, where, visibility))
      .executeTakeFirstOrThrow();
    return Number(row.count);
  }

  /** group_by with calc: one row per group value, each calc under its field's name. */
  async aggregate(db: AnyDb, cls: ClassDef, query: ListQuery, visibility: Visibility): Promise<Array<Record<string, unknown>>> {
    const group = query.groupBy;
    if (!group) return [];
    let select = db
      .selectFrom(cls.table)
      .select(sql.ref(group.column).as('g'))
      .where((eb) => this.filter(eb, query.where, visibility))
      .groupBy(sql.ref(group.column))
      .orderBy(this.ordered(group.column, 'asc'))
      .offset(query.skip)
      .limit(query.limit);
    query.calcs.forEach((calc, i) => {
      const column = sql.ref(calc.ref.column);
      const fn = { avg: sql`avg(${column})`, min: sql`min(${column})`, max: sql`max(${column})`, sum: sql`sum(${column})` }[
        calc.fn
      ];
      select = select.select(fn.as(`c${i}`));
    });
    return (await select.execute()) as Array<Record<string, unknown>>;
  }

  /** Ids of records whose parent is one of these. */
  async childIds(db: AnyDb, cls: ClassDef, parentIds: string[]): Promise<string[]> {
    if (parentIds.length === 0) return [];
    const rows = await db.selectFrom(cls.table).select('_id').where('_parent_id', 'in', parentIds).execute();
    return rows.map((row) => String(row._id));
  }

  /** Deletes records by id; returns the rows deleted (for their file keys). */
  async deleteIds(db: AnyDb, cls: ClassDef, ids: string[]): Promise<RecordRow[]> {
    if (ids.length === 0) return [];
    return (await db.deleteFrom(cls.table).where('_id', 'in', ids).returningAll().execute()) as RecordRow[];
  }

  /** Every stored value of a class's file fields, for deleting their bytes with the class. */
  async fileValues(cls: ClassDef, only?: string[]): Promise<string[]> {
    const columns = cls.fields.filter((f) => f.type === 'File' && (!only || only.includes(f.name))).map(columnOf);
    if (columns.length === 0) return [];
    const rows = await this.db.selectFrom(cls.table).select(columns).execute();
    return rows.flatMap((row) => columns.map((c) => row[c]).filter((v): v is string => typeof v === 'string'));
  }

  /**
   * A column in sort order with missing values first ascending, last
   * descending, as QuickBlox (MongoDB) and SQLite sort them; PostgreSQL needs
   * it said (its indexes on fields are built the same way, see classes-store).
   * `_id` is never missing and its index is the primary key's, in plain
   * order: said there, PostgreSQL could not walk it and sorted the class.
   */
  private ordered(column: string, direction: 'asc' | 'desc') {
    if (this.dialect !== 'postgres' || column === '_id') return sql`${sql.ref(column)} ${sql.raw(direction)}`;
    return sql`${sql.ref(column)} ${sql.raw(direction === 'asc' ? 'asc nulls first' : 'desc nulls last')}`;
  }

  /** The WHERE of a query: its conditions and the caller's permission. */
  private filter(eb: Eb, where: Condition[], visibility: Visibility): Expression<SqlBool> {
    return eb.and([...where.map((c) => this.condition(eb, c)), this.permitted(eb, visibility)]);
  }

  private permitted(eb: Eb, v: Visibility): Expression<SqlBool> {
    switch (v.verdict) {
      case 'all':
        return sql<SqlBool>`1 = 1`;
      case 'none':
        return sql<SqlBool>`1 = 0`;
      case 'own':
        return eb('user_id', '=', v.userId);
    }
    const access = `p_${v.action}`;
    const options: Expression<SqlBool>[] = [eb(access, '=', 'open')];
    if (v.userId !== null) {
      options.push(eb('user_id', '=', v.userId));
      options.push(eb.and([eb(access, '=', 'open_for_users_ids'), this.has(`${access}_ids`, `,${v.userId},`)]));
      if (v.tags.length > 0) {
        options.push(
          eb.and([eb(access, '=', 'open_for_groups'), eb.or(v.tags.map((tag) => this.has(`${access}_groups`, `,${tag},`)))]),
        );
      }
    }
    return eb.or(options);
  }

  /** A substring test with a bound needle. */
  private has(column: string, needle: string): Expression<SqlBool> {
    return this.dialect === 'postgres'
      ? sql<SqlBool>`strpos(${sql.ref(column)}, ${needle}) > 0`
      : sql<SqlBool>`instr(${sql.ref(column)}, ${needle}) > 0`;
  }

  private condition(eb: Eb, c: Condition): Expression<SqlBool> {
    switch (c.kind) {
      case 'cmp': {
        const expression = eb(sql.ref(c.ref.column), CMP[c.op], c.value);
        // Like MongoDB: "not equal" includes records without a value.
        return c.op === 'ne' ? eb.or([expression, eb(sql.ref(c.ref.column), 'is', null)]) : expression;
      }
      case 'in':
        return c.negate
          ? eb.or([eb(sql.ref(c.ref.column), 'not in', c.values), eb(sql.ref(c.ref.column), 'is', null)])
          : eb(sql.ref(c.ref.column), 'in', c.values);
      case 'ctn':
        return this.has(c.ref.column, c.value);
      case 'array': {
        const tests = c.values.map((value) => this.contains(c.ref.column, value));
        if (c.mode === 'any') return eb.or(tests);
        if (c.mode === 'all') return eb.and(tests);
        return eb.not(eb.or(tests));
      }
      case 'near': {
        // A bounding box (index-friendly) narrows; the great-circle distance decides.
        const lat = sql.ref(`${c.ref.column}__lat`);
        const lon = sql.ref(`${c.ref.column}__lon`);
        const dLat = (c.radius / EARTH_RADIUS_M) * (180 / Math.PI);
        const cos = Math.cos((c.lat * Math.PI) / 180);
        const dLon = cos < 1e-9 ? 360 : Math.min(360, dLat / cos);
        const box = [eb(lat, '>=', c.lat - dLat), eb(lat, '<=', c.lat + dLat)];
        if (dLon < 180) box.push(eb(lon, '>=', c.lon - dLon), eb(lon, '<=', c.lon + dLon));
        return eb.and([...box, eb(this.distance(c), '<=', c.radius)]);
      }
      case 'or':
        return eb.or(c.items.map((item) => this.condition(eb, item)));
    }
  }

  /** Haversine distance in meters from a near condition's point to each record's location. */
  private distance(c: Extract<Condition, { kind: 'near' }>) {
    const lat = sql.ref(`${c.ref.column}__lat`);
    const lon = sql.ref(`${c.ref.column}__lon`);
    const lat0 = (c.lat * Math.PI) / 180;
    const lon0 = (c.lon * Math.PI) / 180;
    // Clamped: rounding can push the argument of asin a hair past 1.
    const least = this.dialect === 'postgres' ? sql.raw('least') : sql.raw('min');
    return sql<number>`(${2 * EARTH_RADIUS_M} * asin(${least}(1.0, sqrt(
      power(sin((radians(${lat}) - ${lat0}) / 2), 2) +
      cos(${lat0}) * cos(radians(${lat})) * power(sin((radians(${lon}) - ${lon0}) / 2), 2)))))`.$castTo<number>();
  }

  /** Whether a JSON array column holds an element whose text is `value`. */
  private contains(column: string, value: string): Expression<SqlBool> {
    return this.dialect === 'postgres'
      ? sql<SqlBool>`exists (select 1 from jsonb_array_elements_text(cast(${sql.ref(column)} as jsonb)) as e(v) where e.v = ${value})`
      : sql<SqlBool>`exists (select 1 from json_each(${sql.ref(column)}) as e where (case e.type when 'true' then 'true' when 'false' then 'false' else cast(e.value as text) end) = ${value})`;
  }
}
