import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const read = (path: string) => readFileSync(new URL(`../${path}`, import.meta.url), 'utf8');
const flagsOf = (text: string) => [...text.matchAll(/--(max-semi-space-size|heap-growing-percent)=\d+/g)].map((m) => m[0]);

describe('the V8 flags the server runs with', () => {
  it('are the same for npm start, bin/switchboard and the benchmarks', () => {
    const start = JSON.parse(read('package.json')).scripts.start as string;
    const bin = read('bin/switchboard').split('\n')[0] ?? '';
    const bench = read('bench/lib.js').match(/export function serveCommand[\s\S]*?\n}/)?.[0] ?? '';
    expect(flagsOf(start)).toEqual(['--max-semi-space-size=8']);
    expect(flagsOf(bin)).toEqual(flagsOf(start));
    expect(flagsOf(bench)).toEqual(flagsOf(start));
  });

  it('bound heap growth only once the server has started (on the command line it slowed half the processes)', () => {
    const cli = read('src/cli.ts');
    const serve = cli.match(/async function serve\(\)[\s\S]*?\n}/)?.[0] ?? '';
    expect(cli).toMatch(/setFlagsFromString\('--heap-growing-percent=100'\)/);
    expect(serve.indexOf('boundHeapGrowth()')).toBeGreaterThan(serve.indexOf('server.listen('));
    expect(serve.indexOf('server.listen(')).toBeGreaterThan(0);
  });
});
