import { randomBytes } from 'node:crypto';
import { type Readable, Transform } from 'node:stream';
import type { BlobStore } from '../../adapters/blob-store/index.js';
import type { AuthContext } from '../../core/auth.js';
import { type Clock, isoSeconds } from '../../core/clock.js';
import { ApiError, baseError, errors } from '../../core/errors.js';
import { objectId } from '../../core/ids.js';
import type { ServiceLog } from '../../server.js';
import { isMissingTableOrColumn } from '../../storage/dialect.js';
import type { UsersService } from '../users/service.js';
import type { ClassChange, ClassDef, ClassesService, ClassJson } from './classes.js';
import { columnOf, type DbValue, type StoredFile, toColumns, typedScalar } from './fields.js';
import { formatRecord, permissionColumns, type RecordJson, recordPermissions, ruleOf } from './format.js';
import {
  type Caller,
  classVerdict,
  defaultRecordPermissions,
  type RecordAction,
  readRecordPermissions,
  recordAllows,
} from './permissions.js';
import { type Condition, type ListQuery, MAX_LIMIT, parseCriteria, parseListQuery } from './query.js';
import { RecordWriter } from './record-writer.js';
import type { RecordRow, RecordsStore, Visibility } from './records-store.js';
import { applyUpdate, parseUpdate } from './update-operators.js';

export const MAX_FILE_BYTES = 32 * 1024 * 1024;
const DEFAULT_PERMISSION_COLUMNS = Object.freeze(permissionColumns(defaultRecordPermissions()));
const MAX_BULK = 100;
/** How many records one update or delete by criteria touches at most. */
const MAX_CRITERIA_ROWS = 10_000;
const CREATE_IGNORED = new Set(['_id', 'id', 'user_id', 'created_at', 'updated_at', 'class_name', 'permissions', '_parent_id']);

export interface DeleteReport {
  SuccessfullyDeleted: { ids: string[] };
  NotFound: { ids: string[] };
  WrongPermissions: { ids: string[] };
}

export interface FileDownload {
  key: string;
  name: string;
  contentType: string;
  size: number;
}

/** Records of custom-object classes: CRUD, queries, permissions, relations and file fields. */
export class RecordsService {
  constructor(
    private readonly classes: ClassesService,
    private readonly store: RecordsStore,
    private readonly users: UsersService,
    readonly blobStore: BlobStore,
    private readonly clock: Clock,
    private readonly log: ServiceLog,
  ) {
    this.writer = new RecordWriter(store);
  }

  private readonly writer: RecordWriter;

  /** POST /data/{class}.json */
  async create(auth: AuthContext, className: string, body: Record<string, unknown>): Promise<RecordJson> {
    return this.withClass(auth.applicationId, className, async (cls) => {
      const caller = await this.caller(auth, cls.permissions.create.access === 'open_for_groups');
      this.checkCreate(cls, caller);
      const row = this.newRow(cls, caller, body);
      await this.writer.insert(cls, row);
      // The row as written is the record: every column not given is null.
      return formatRecord(cls, row as RecordRow, { permissions: true });
    });
  }

  /** POST /data/{class}/multi.json: record[N][field], all or nothing. */
  async createMany(auth: AuthContext, className: string, records: unknown): Promise<{ class_name: string; items: RecordJson[] }> {
    return this.withClass(auth.applicationId, className, async (cls) => {
      const caller = await this.caller(auth);
      this.checkCreate(cls, caller);
      const rows = bulk(records).map((record) => this.newRow(cls, caller, record));
      const columns = new Set(rows.flatMap((row) => Object.keys(row)));
      for (const row of rows) for (const column of columns) row[column] ??= null;
      const created = await this.store.transaction((db) => this.store.insert(db, cls, rows));
      return { class_name: cls.name, items: created.map((row) => formatRecord(cls, row, { permissions: true })) };
    });
  }

  /** GET /data/{class}.json */
  async list(auth: AuthContext, className: string, params: Record<string, unknown>) {
    return this.withClass(auth.applicationId, className, async (cls) => {
      const query = parseListQuery(cls, params);
      const visibility = await this.visibility(cls, auth, 'read');
      const db = this.store.root;
      if (query.count) return { class_name: cls.name, count: await this.store.count(db, cls, query.where, visibility) };
      if (query.groupBy) {
        const group = query.groupBy;
        const rows = await this.store.aggregate(db, cls, query, visibility);
        const items = rows.map((row) => {
          const item: RecordJson = { [group.name]: formatGroup(group.type, row.g) };
          query.calcs.forEach((calc, i) => {
            const key = item[calc.ref.name] === undefined ? calc.ref.name : `${calc.ref.name}_${calc.fn}`;
            item[key] = row[`c${i}`] === null ? null : Number(row[`c${i}`]);
          });
          return item;
        });
        return { class_name: cls.name, skip: query.skip, limit: query.limit, items };
      }
      const rows = await this.store.list(db, cls, query, visibility);
      return {
        class_name: cls.name,
        skip: query.skip,
        limit: query.last ? 1 : query.limit,
        items: rows.map((row) => formatRecord(cls, row, { include: query.include, exclude: query.exclude })),
      };
    });
  }

  /** GET /data/{class}/{id[,id]}.json: the ones the caller may read. */
  async getByIds(auth: AuthContext, className: string, idList: string) {
    return this.withClass(auth.applicationId, className, async (cls) => {
      const ids = readIds(idList);
      const caller = await this.caller(auth);
      const rows = await this.store.byIds(this.store.root, cls, ids);
      const items = rows.filter((row) => this.allows(cls, caller, 'read', row)).map((row) => formatRecord(cls, row));
      return { class_name: cls.name, skip: 0, limit: ids.length, items };
    });
  }

  /** PUT /data/{class}/{id}.json */
  async update(auth: AuthContext, className: string, id: string, body: Record<string, unknown>): Promise<RecordJson> {
    return this.withClass(auth.applicationId, className, async (cls) => {
      const recordId = readIds(id)[0] as string;
      const caller = await this.caller(auth);
      const plan = parseUpdate(cls, body);
      const updated = await this.store.transaction(async (db) => {
        const [row] = await this.store.byIds(db, cls, [recordId], true);
        if (!row) throw errors.notFound();
        if (!this.allows(cls, caller, 'update', row)) throw errors.forbidden();
        return this.store.update(db, cls, recordId, this.changes(plan, row, caller));
      });
      return formatRecord(cls, updated, { permissions: true });
    });
  }

  /** PUT /data/{class}/multi.json: record[N][_id] with fields; one transaction. */
  async updateMany(auth: AuthContext, className: string, records: unknown) {
    return this.withClass(auth.applicationId, className, async (cls) => {
      const caller = await this.caller(auth);
      const inputs = bulk(records).map((record) => {
        const id = record._id ?? record.id;
        return { id: String(typedScalar('Id', 'record._id', id)), plan: parseUpdate(cls, record) };
      });
      const notFound: string[] = [];
      const items = await this.store.transaction(async (db) => {
        const rows = new Map(
          (
            await this.store.byIds(
              db,
              cls,
              inputs.map((i) => i.id),
              true,
            )
          ).map((row) => [row._id, row]),
        );
        const out: RecordRow[] = [];
        for (const input of inputs) {
          const row = rows.get(input.id);
          if (!row || !this.allows(cls, caller, 'update', row)) {
            notFound.push(input.id);
            continue;
          }
          const updated = await this.store.update(db, cls, input.id, this.changes(input.plan, row, caller));
          rows.set(input.id, updated);
          out.push(updated);
        }
        return out;
      });
      return { class_name: cls.name, not_found: { ids: notFound }, items: items.map((row) => formatRecord(cls, row)) };
    });
  }

  /** PUT /data/{class}/by_criteria.json: search_criteria[...] finds, the rest updates. */
  async updateByCriteria(auth: AuthContext, className: string, body: Record<string, unknown>) {
    return this.withClass(auth.applicationId, className, async (cls) => {
      const { search_criteria: criteria, ...rest } = body;
      if (criteria !== undefined && (criteria === null || typeof criteria !== 'object' || Array.isArray(criteria))) {
        throw errors.validation('search_criteria', 'must be field conditions');
      }
      const where = parseCriteria(cls, (criteria ?? {}) as Record<string, unknown>, new Set());
      const plan = parseUpdate(cls, rest);
      const caller = await this.caller(auth);
      const visibility = await this.visibility(cls, auth, 'update', caller);
      const rows = await this.store.transaction(async (db) => {
        const found = await this.store.list(db, cls, criteriaQuery(where), visibility, true);
        const out: RecordRow[] = [];
        for (const row of found) out.push(await this.store.update(db, cls, row._id, this.changes(plan, row, caller)));
        return out;
      });
      return {
        class_name: cls.name,
        skip: 0,
        limit: MAX_LIMIT,
        total_found: rows.length,
        items: rows.slice(0, MAX_LIMIT).map((row) => formatRecord(cls, row)),
      };
    });
  }

  /** DELETE /data/{class}/{id}.json: 404 or 403 for one record, else its children go with it. */
  async deleteOne(auth: AuthContext, className: string, id: string): Promise<void> {
    const report = await this.deleteIds(auth, className, id);
    if (report.WrongPermissions.ids.length > 0) throw errors.forbidden();
    if (report.SuccessfullyDeleted.ids.length === 0) throw errors.notFound();
  }

  /** DELETE /data/{class}/{id,id}.json */
  async deleteIds(auth: AuthContext, className: string, idList: string): Promise<DeleteReport> {
    return this.withClass(auth.applicationId, className, async (cls) => {
      const ids = readIds(idList);
      const caller = await this.caller(auth);
      const report: DeleteReport = { SuccessfullyDeleted: { ids: [] }, NotFound: { ids: [] }, WrongPermissions: { ids: [] } };
      // Loaded before the transaction: on SQLite its one connection is the transaction's until it ends.
      const all = await this.classes.all(cls.applicationId);
      const files = await this.store.transaction(async (db) => {
        const rows = new Map((await this.store.byIds(db, cls, ids, true)).map((row) => [row._id, row]));
        const allowed: string[] = [];
        for (const id of ids) {
          const row = rows.get(id);
          if (!row) report.NotFound.ids.push(id);
          else if (!this.allows(cls, caller, 'delete', row)) report.WrongPermissions.ids.push(id);
          else allowed.push(id);
        }
        report.SuccessfullyDeleted.ids = allowed;
        return this.cascade(db, cls, allowed, all);
      });
      this.forgetFiles(files);
      return report;
    });
  }

  /** DELETE /data/{class}/by_criteria.json: what the caller may delete of what matches. */
  async deleteByCriteria(
    auth: AuthContext,
    className: string,
    criteria: Record<string, unknown>,
  ): Promise<{ total_deleted: number }> {
    return this.withClass(auth.applicationId, className, async (cls) => {
      const where = parseCriteria(cls, criteria);
      const visibility = await this.visibility(cls, auth, 'delete');
      let total = 0;
      const all = await this.classes.all(cls.applicationId);
      const files = await this.store.transaction(async (db) => {
        const rows = await this.store.list(db, cls, criteriaQuery(where), visibility, true);
        total = rows.length;
        return this.cascade(
          db,
          cls,
          rows.map((row) => row._id),
          all,
        );
      });
      this.forgetFiles(files);
      return { total_deleted: total };
    });
  }

  /** POST /data/{class}/{id}/file.json: the bytes go to the blob store, then the record points at them. */
  async uploadFile(
    auth: AuthContext,
    className: string,
    id: string,
    fieldName: string,
    file: { name: string; contentType: string; stream: Readable },
  ) {
    const { cls, column } = fileField(await this.classes.require(auth.applicationId, className), fieldName);
    const recordId = readIds(id)[0] as string;
    const caller = await this.caller(auth);
    // Checked before the bytes are read, and again when the record is written.
    const [before] = await this.store.byIds(this.store.root, cls, [recordId]).catch(this.staleUpload(auth.applicationId));
    if (!before) throw errors.notFound();
    if (!this.allows(cls, caller, 'update', before)) throw errors.forbidden();

    const key = `data/${auth.applicationId}/${randomBytes(16).toString('hex')}`;
    let size = 0;
    let tooLarge = false;
    const counter = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        size += chunk.length;
        if (size > MAX_FILE_BYTES) {
          tooLarge = true;
          done(baseError(413, `The file is larger than ${MAX_FILE_BYTES} bytes`));
        } else done(null, chunk);
      },
    });
    file.stream.on('error', (error) => counter.destroy(error));
    const stat = await this.blobStore
      .put(key, file.stream.pipe(counter), { contentType: file.contentType, maxBytes: MAX_FILE_BYTES })
      .catch((error: unknown) => {
        if (tooLarge) throw baseError(413, `The file is larger than ${MAX_FILE_BYTES} bytes`);
        if (error instanceof ApiError) throw error;
        throw error;
      });
    const stored: StoredFile = {
      file_id: randomBytes(12).toString('hex'),
      name: file.name,
      content_type: file.contentType,
      size: stat.size,
      key,
    };
    let previous: unknown = null;
    try {
      await this.store.transaction(async (db) => {
        const [row] = await this.store.byIds(db, cls, [recordId], true);
        if (!row) throw errors.notFound();
        if (!this.allows(cls, caller, 'update', row)) throw errors.forbidden();
        previous = row[column];
        await this.store.update(db, cls, recordId, { [column]: JSON.stringify(stored), updated_at: this.seconds() });
      });
    } catch (error) {
      this.forgetFiles([JSON.stringify(stored)]);
      this.staleUpload(auth.applicationId)(error);
    }
    this.forgetFiles([previous]);
    return { _id: recordId, file_id: stored.file_id, size: stored.size, name: stored.name, content_type: stored.content_type };
  }

  /** GET /data/{class}/{id}/file.json: where the bytes are. */
  async file(auth: AuthContext, className: string, id: string, fieldName: string): Promise<FileDownload> {
    return this.withClass(auth.applicationId, className, async (klass) => {
      const { cls, column } = fileField(klass, fieldName);
      const caller = await this.caller(auth);
      const [row] = await this.store.byIds(this.store.root, cls, readIds(id).slice(0, 1));
      if (!row || !this.allows(cls, caller, 'read', row)) throw errors.notFound();
      const value = row[column];
      if (typeof value !== 'string') throw errors.notFound();
      const stored = JSON.parse(value) as StoredFile;
      return { key: stored.key, name: stored.name, contentType: stored.content_type, size: stored.size };
    });
  }

  /** DELETE /data/{class}/{id}/file.json */
  async deleteFile(auth: AuthContext, className: string, id: string, fieldName: string): Promise<void> {
    return this.withClass(auth.applicationId, className, async (klass) => {
      const { cls, column } = fileField(klass, fieldName);
      const caller = await this.caller(auth);
      const recordId = readIds(id)[0] as string;
      const previous = await this.store.transaction(async (db) => {
        const [row] = await this.store.byIds(db, cls, [recordId], true);
        if (!row) throw errors.notFound();
        if (!this.allows(cls, caller, 'update', row)) throw errors.forbidden();
        if (row[column] === null) throw errors.notFound();
        await this.store.update(db, cls, recordId, { [column]: null, updated_at: this.seconds() });
        return row[column];
      });
      this.forgetFiles([previous]);
    });
  }

  /** Deletes a class with its records and their files (CLI, API key). */
  async deleteClass(applicationId: number, name: string): Promise<void> {
    return this.withClass(applicationId, name, async (cls) => {
      const files = await this.store.fileValues(cls);
      await this.classes.delete(applicationId, name);
      this.forgetFiles(files);
    });
  }

  /** Changes a class (CLI, API key); the bytes of File fields it removes go with them. */
  async updateClass(applicationId: number, name: string, change: ClassChange): Promise<ClassJson> {
    return this.withClass(applicationId, name, async (cls) => {
      const removed = Array.isArray(change.remove_fields)
        ? change.remove_fields
        : typeof change.remove_fields === 'string'
          ? change.remove_fields.split(',')
          : [];
      const files = cls.fields
        .filter(
          (f) =>
            f.type === 'File' && removed.some((r) => typeof r === 'string' && r.trim().toLowerCase() === f.name.toLowerCase()),
        )
        .map((f) => f.name);
      // Read before the change: once it is made the column is gone (a file uploaded in between stays behind).
      const values = files.length > 0 ? await this.store.fileValues(cls, files) : [];
      const updated = await this.classes.update(applicationId, name, change);
      this.forgetFiles(values);
      return updated;
    });
  }

  /**
   * Runs `work` with the class's definition, and once more with a fresh one when the kept definition
   * no longer matches the table: another process (the CLI, another node) changed the class within
   * the second ClassesService keeps it. Each write runs in one transaction, so a failed first run
   * left nothing behind.
   */
  private async withClass<T>(applicationId: number, name: string, work: (cls: ClassDef) => Promise<T>): Promise<T> {
    try {
      return await work(await this.classes.require(applicationId, name));
    } catch (error) {
      if (!isMissingTableOrColumn(error)) throw error;
      this.classes.forget(applicationId);
      return work(await this.classes.require(applicationId, name));
    }
  }

  /** An upload's bytes are read once, so it cannot run again with a fresh definition: the client is asked to. */
  private staleUpload(applicationId: number) {
    return (error: unknown): never => {
      if (!isMissingTableOrColumn(error)) throw error;
      this.classes.forget(applicationId);
      throw baseError(409, 'The class changed while this request ran; send it again');
    };
  }

  /** Deletes records and, recursively, every record in any class whose _parent_id names a deleted one. */
  private async cascade(
    db: Parameters<Parameters<RecordsStore['transaction']>[0]>[0],
    cls: ClassDef,
    ids: string[],
    all: ClassDef[],
  ) {
    const files: unknown[] = [];
    const collect = (klass: ClassDef, rows: RecordRow[]) => {
      for (const field of klass.fields) if (field.type === 'File') for (const row of rows) files.push(row[columnOf(field)]);
    };
    collect(cls, await this.store.deleteIds(db, cls, ids));
    if (ids.length === 0) return files;
    let frontier = ids;
    for (let depth = 0; frontier.length > 0 && depth < 1000; depth++) {
      const next: string[] = [];
      for (const klass of all) {
        const children = await this.store.childIds(db, klass, frontier);
        if (children.length === 0) continue;
        collect(klass, await this.store.deleteIds(db, klass, children));
        next.push(...children);
      }
      frontier = next;
    }
    return files;
  }

  /** File bytes no record points at any more; removed after the commit, failures only logged. */
  private forgetFiles(values: unknown[]): void {
    for (const value of values) {
      if (typeof value !== 'string') continue;
      const { key } = JSON.parse(value) as StoredFile;
      this.blobStore.delete(key).catch((error) => this.log.warn({ err: error, key }, 'could not delete a record file'));
    }
  }

  private changes(plan: ReturnType<typeof parseUpdate>, row: RecordRow, caller: Caller): Record<string, DbValue> {
    const changes: Record<string, DbValue> = applyUpdate(plan, row);
    if (plan.parentId !== undefined && plan.parentId !== (row._parent_id ?? null)) {
      // The parent decides when a record is deleted (cascade): moving it is the owner's, as deleting it is.
      if (!caller.admin && row.user_id !== caller.userId) throw errors.forbidden('Only the owner may change _parent_id');
      changes._parent_id = plan.parentId;
    }
    if (plan.permissions !== undefined) {
      if (!caller.admin && row.user_id !== caller.userId) throw errors.forbidden('Only the owner may change permissions');
      Object.assign(changes, permissionColumns(readRecordPermissions(plan.permissions, recordPermissions(row))));
    }
    changes.updated_at = this.seconds();
    return changes;
  }

  private newRow(cls: ClassDef, caller: Caller, body: Record<string, unknown>): Record<string, DbValue> {
    if (body === null || typeof body !== 'object' || Array.isArray(body))
      throw errors.validation('base', 'a record is an object');
    const now = this.clock.now();
    const row: Record<string, DbValue> = {
      _id: objectId(now),
      user_id: caller.userId,
      _parent_id:
        body._parent_id === undefined || body._parent_id === null || body._parent_id === ''
          ? null
          : String(typedScalar('Id', '_parent_id', body._parent_id)),
      created_at: Math.floor(now / 1000),
      updated_at: Math.floor(now / 1000),
      ...(body.permissions === undefined
        ? DEFAULT_PERMISSION_COLUMNS
        : permissionColumns(readRecordPermissions(body.permissions, defaultRecordPermissions()))),
    };
    for (const [key, value] of Object.entries(body)) {
      if (CREATE_IGNORED.has(key)) continue;
      const field = cls.byName.get(key);
      if (!field) throw errors.validation(key.slice(0, 64), `is not a field of ${cls.name}`);
      if (field.type === 'File') throw errors.validation(key, 'is a file field: upload to /data/{class}/{id}/file.json');
      Object.assign(row, toColumns(field, value));
    }
    return row;
  }

  private checkCreate(cls: ClassDef, caller: Caller): void {
    if (classVerdict(cls.permissions, 'create', caller) !== 'all') throw errors.forbidden();
  }

  private allows(cls: ClassDef, caller: Caller, action: RecordAction, row: RecordRow): boolean {
    return recordAllows(cls.permissions, action, caller, { user_id: Number(row.user_id), rule: ruleOf(row, action) });
  }

  private async visibility(cls: ClassDef, auth: AuthContext, action: RecordAction, known?: Caller): Promise<Visibility> {
    const caller = known ?? (await this.caller(auth));
    return { action, verdict: classVerdict(cls.permissions, action, caller), userId: caller.userId, tags: caller.tags };
  }

  /** Who acts; their tags (a user read) only when a rule could ask for them. */
  private async caller(auth: AuthContext, needTags = true): Promise<Caller> {
    const admin = auth.via === 'apikey' && auth.userId === null;
    let tags: string[] = [];
    if (auth.userId !== null && needTags) {
      const user = await this.users.get(auth.applicationId, auth.userId).catch(() => null);
      tags = (user?.user_tags ?? '')
        .split(',')
        .map((t) => t.trim())
        .filter((t) => t !== '');
    }
    return { applicationId: auth.applicationId, userId: auth.userId, admin, tags };
  }

  private seconds(): number {
    return Math.floor(this.clock.now() / 1000);
  }
}

/** Attached data as another module returns it: the class's name and fields, without the record's own bookkeeping. */
function criteriaQuery(where: Condition[]): ListQuery {
  return {
    where,
    sort: null,
    skip: 0,
    limit: MAX_CRITERIA_ROWS,
    last: false,
    count: false,
    include: null,
    exclude: null,
    groupBy: null,
    calcs: [],
  };
}

function readIds(list: string): string[] {
  const ids = list.split(',').map((id) => id.trim());
  if (ids.length === 0 || ids.length > MAX_LIMIT || !ids.every((id) => /^[0-9a-f]{24}$/.test(id))) throw errors.notFound();
  return [...new Set(ids)];
}

function bulk(records: unknown): Array<Record<string, unknown>> {
  // Form lists are sparse (record[1] leaves index 0 empty): filter drops the holes.
  const list = Array.isArray(records)
    ? records.filter(() => true)
    : records !== null && typeof records === 'object'
      ? Object.values(records)
      : null;
  if (!list || list.length === 0) throw errors.validation('record', 'needs record[1][field]=value ...');
  if (list.length > MAX_BULK) throw errors.validation('record', `at most ${MAX_BULK} records`);
  return list.map((item) => {
    if (item === null || typeof item !== 'object' || Array.isArray(item))
      throw errors.validation('record', 'each record is an object');
    return item as Record<string, unknown>;
  });
}

/** A group's value as the field's own values are written (dates as dates, not stored milliseconds). */
function formatGroup(type: string, value: unknown): unknown {
  if (value === null || value === undefined) return null;
  if (type === 'Integer' || type === 'Float') return Number(value);
  if (type === 'Boolean') return Number(value) === 1;
  if (type === 'Date') return isoSeconds(Number(value));
  return String(value);
}

/** The File field `fieldName` of a class and its column; 422 when there is none. */
function fileField(cls: ClassDef, fieldName: unknown) {
  if (typeof fieldName !== 'string' || fieldName === '') throw errors.validation('field_name', 'is required');
  const field = cls.byName.get(fieldName);
  if (!field) throw errors.validation('field_name', `is not a field of ${cls.name}`);
  if (field.type !== 'File') throw errors.validation('field_name', 'is not a File field');
  return { cls, column: columnOf(field) };
}
