import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jsonLine, removeDir, runCli, tempDir } from '../../helpers/process.js';

describe('bin/switchboard blob gc', () => {
  let data: string;
  beforeAll(() => {
    data = tempDir();
  });
  afterAll(() => removeDir(data));

  it('removes bytes no blob refers to once they are older than an upload, and reports what it reclaimed', async () => {
    const env = { SWITCHBOARD_DATA: data, LOG_LEVEL: 'silent' };
    expect(jsonLine(await runCli(['blob', 'gc', '--json'], env))).toEqual({
      expired_blobs: 0,
      deleted_objects: 0,
      reclaimed_bytes: 0,
    });
    const folder = join(data, 'blobs', 'blobs', '1');
    mkdirSync(folder, { recursive: true });
    const old = join(folder, randomBytes(16).toString('hex'));
    const fresh = join(folder, randomBytes(16).toString('hex'));
    const foreign = join(data, 'blobs', 'elsewhere.bin');
    for (const file of [old, fresh, foreign]) writeFileSync(file, randomBytes(123));
    const twoHoursAgo = new Date(Date.now() - 2 * 3600_000);
    utimesSync(old, twoHoursAgo, twoHoursAgo);
    utimesSync(foreign, twoHoursAgo, twoHoursAgo);

    expect(jsonLine(await runCli(['blob', 'gc', '--json'], env))).toEqual({
      expired_blobs: 0,
      deleted_objects: 1,
      reclaimed_bytes: 123,
    });
    expect(existsSync(old)).toBe(false);
    // Still within an upload's lifetime, and not the content module's key: left alone.
    expect(existsSync(fresh)).toBe(true);
    expect(existsSync(foreign)).toBe(true);
    const text = await runCli(['blob', 'gc'], env);
    expect(text.stdout).toContain('bytes reclaimed: 0');
  });
});
