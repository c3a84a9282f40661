import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import S3rver from 's3rver';

export interface FakeS3 {
  /** http://127.0.0.1:PORT */
  endpoint: string;
  bucket: string;
  /** What BLOB_STORE and the AWS_* variables are set to for a server using it. */
  env: Record<string, string>;
  close(): Promise<void>;
}

/** A real S3-compatible server (npm s3rver) on loopback with one bucket. It does not check POST policies. */
export async function startS3(bucket = 'switchboard-test'): Promise<FakeS3> {
  const directory = mkdtempSync(join(tmpdir(), 'switchboard-s3-'));
  const server = new S3rver({
    port: 0,
    address: '127.0.0.1',
    silent: true,
    directory,
    configureBuckets: [{ name: bucket, configs: [] }],
  });
  const address = (await server.run()) as { port: number };
  const endpoint = `http://127.0.0.1:${address.port}`;
  return {
    endpoint,
    bucket,
    env: {
      BLOB_STORE: `s3://${bucket}?endpoint=${encodeURIComponent(endpoint)}&region=us-east-1&force_path_style=1`,
      // s3rver's built-in account.
      AWS_ACCESS_KEY_ID: 'S3RVER',
      AWS_SECRET_ACCESS_KEY: 'S3RVER',
    },
    async close() {
      await server.close();
      rmSync(directory, { recursive: true, force: true });
    },
  };
}
