// The open-loop generator's HTTP/2 and gRPC modes (built dist/bench/loadgen/open-loop.js
// as a child process) against an in-process node:http2 server playing the other side.
import { execFile } from 'node:child_process';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import type { LoadgenOptions, LoadgenResult } from './open-loop.js';

const script = path.resolve(import.meta.dirname, '..', '..', 'dist', 'bench', 'loadgen', 'open-loop.js');

let server: http2.Http2Server | null = null;
afterEach(async () => {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = null;
});

async function listen(s: http2.Http2Server): Promise<number> {
  server = s;
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  return (s.address() as AddressInfo).port;
}

async function generate(port: number, over: Partial<LoadgenOptions>): Promise<LoadgenResult> {
  const opts: LoadgenOptions = { host: '127.0.0.1', port, path: '/', hostHeader: 'test', rate: 200, connections: 1, warmupMs: 0, durationMs: 400, drainMs: 3000, ...over };
  const { stdout } = await promisify(execFile)(process.execPath, [script, JSON.stringify(opts)], { timeout: 20_000 });
  return JSON.parse(stdout.trim().split('\n').pop()!) as LoadgenResult;
}

describe('open-loop generator over HTTP/2', () => {
  it('sends streams concurrently on one session: held requests do not block the ones after them', async () => {
    // Answers nothing until 5 streams are open at once on a session, then everything:
    // a generator that waited for each response before the next request would time out.
    const held: http2.ServerHttp2Stream[] = [];
    let maxOpen = 0;
    const port = await listen(
      http2.createServer().on('stream', (stream) => {
        held.push(stream);
        maxOpen = Math.max(maxOpen, held.length);
        if (held.length >= 5 || maxOpen >= 5) {
          for (const s of held.splice(0)) {
            s.respond({ ':status': 200 });
            s.end('ok');
          }
        }
      }),
    );
    const r = await generate(port, { protocol: 'h2' });
    expect(maxOpen).toBeGreaterThanOrEqual(5);
    expect(r.sent).toBeGreaterThan(50);
    expect(r.completed).toBe(r.sent);
    expect(r.timeouts + r.socketErrors + r.non2xx).toBe(0);
  });

  it('gRPC: success needs grpc-status 0; a trailers-only failure counts as a failure, with its grpc-status and x-tsmesh-error', async () => {
    let calls = 0;
    let failed = 0;
    let badRequests = 0;
    const port = await listen(
      http2.createServer().on('stream', (stream, headers) => {
        if (headers[':method'] !== 'POST' || headers['content-type'] !== 'application/grpc' || headers.te !== 'trailers') badRequests++;
        const chunks: Buffer[] = [];
        stream.on('data', (d: Buffer) => chunks.push(d));
        stream.on('end', () => {
          const body = Buffer.concat(chunks);
          if (body.length < 5 || body.readUInt32BE(1) !== body.length - 5) badRequests++;
          if (++calls % 4 === 0) {
            failed++;
            stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '14', 'x-tsmesh-error': 'MESH_UPSTREAM_OVERFLOW' }, { endStream: true });
            return;
          }
          stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
          stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
          stream.end(Buffer.from([0, 0, 0, 0, 2, 0x0a, 0]));
        });
      }),
    );
    const r = await generate(port, { protocol: 'grpc', path: '/bench.Echo/Call', connections: 2 });
    expect(badRequests).toBe(0);
    expect(r.completed).toBe(r.sent);
    expect(r.sent).toBe(calls);
    expect(r.non2xx).toBe(failed);
    expect(r.non2xxStatuses).toEqual({ 'grpc-status 14 MESH_UPSTREAM_OVERFLOW': failed });
  });
});
