import { GroupCommit } from '../../storage/group-commit.js';
import type { ClassDef } from './classes.js';
import type { DbValue } from './fields.js';
import type { RecordsStore } from './records-store.js';

interface NewRecord {
  cls: ClassDef;
  row: Record<string, DbValue>;
}

/**
 * Single record creates (POST /data/{class}.json) with group commit
 * (src/storage/group-commit.ts): a commit costs far more than the insert
 * itself, so the creates queued together share one transaction, with one
 * insert statement per class table. Each caller's promise settles only after
 * its record is committed.
 */
export class RecordWriter {
  private readonly commit: GroupCommit<NewRecord, void>;

  constructor(store: RecordsStore) {
    this.commit = new GroupCommit(async (items) => {
      await store.transaction(async (db) => {
        for (const group of byTable(items))
          await store.insertRows(
            db,
            group[0]?.cls as ClassDef,
            group.map((item) => item.row),
          );
      });
      return items.map(() => undefined);
    });
  }

  insert(cls: ClassDef, row: Record<string, DbValue>): Promise<void> {
    return this.commit.submit({ cls, row });
  }
}

function byTable(items: NewRecord[]): NewRecord[][] {
  const groups = new Map<string, NewRecord[]>();
  for (const item of items) {
    const group = groups.get(item.cls.table);
    if (group) group.push(item);
    else groups.set(item.cls.table, [item]);
  }
  return [...groups.values()];
}
