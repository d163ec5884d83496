// requestStream against a real node:http2 server on 127.0.0.1: the lean
// AsyncResource#bind it swaps in for the span of request() must keep what
// Node's own gives (requests made while the session connects go out once it
// has, in the async context they were made in) and must never stay installed.

import { afterEach, describe, expect, it } from 'vitest';
import { AsyncLocalStorage, AsyncResource } from 'node:async_hooks';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { requestStream } from '../h2-request.js';

const servers: http2.Http2Server[] = [];
const sessions: http2.ClientHttp2Session[] = [];

afterEach(async () => {
  for (const s of sessions.splice(0)) s.destroy();
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

async function echoServer(): Promise<string> {
  const server = http2.createServer();
  server.on('stream', (stream, headers) => {
    stream.respond({ ':status': 200, 'x-path': String(headers[':path']) });
    stream.end(`hello ${String(headers[':path'])}`);
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function answer(stream: http2.ClientHttp2Stream): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    let status = 0;
    let body = '';
    stream.on('response', (h) => (status = Number(h[':status'])));
    stream.setEncoding('utf8');
    stream.on('data', (d: string) => (body += d));
    stream.on('end', () => resolve({ status, body }));
    stream.on('error', reject);
  });
}

describe('requestStream', () => {
  it('sends requests made while the session is still connecting, each in the async context it was made in', async () => {
    const origin = await echoServer();
    const session = http2.connect(origin);
    sessions.push(session);
    expect(session.connecting).toBe(true); // so request() defers each stream's start through the bound callback
    const als = new AsyncLocalStorage<string>();
    const seen: (string | undefined)[] = [];
    const streams = ['a', 'b', 'c'].map((id) =>
      als.run(id, () => {
        const s = requestStream(session, { ':path': `/${id}` }, { endStream: true });
        // 'ready' is emitted by the deferred start, inside the request's async scope.
        s.once('ready', () => seen.push(als.getStore()));
        return s;
      }),
    );
    const answers = await Promise.all(streams.map(answer));
    expect(answers).toEqual([
      { status: 200, body: 'hello /a' },
      { status: 200, body: 'hello /b' },
      { status: 200, body: 'hello /c' },
    ]);
    expect(seen).toEqual(['a', 'b', 'c']);
  });

  it('sends on a connected session, and leaves AsyncResource#bind as Node made it', async () => {
    const nodeBind = AsyncResource.prototype.bind;
    const session = http2.connect(await echoServer());
    sessions.push(session);
    await new Promise((r) => session.once('connect', r));
    expect(await answer(requestStream(session, { ':path': '/x' }, { endStream: true }))).toEqual({ status: 200, body: 'hello /x' });
    expect(AsyncResource.prototype.bind).toBe(nodeBind);
    // Node's bind still defines its (deprecated) accessor: nothing of the swap leaked.
    const bound = new AsyncResource('t').bind(() => 1);
    expect(Object.getOwnPropertyDescriptor(bound, 'asyncResource')?.get).toBeTypeOf('function');
  });

  it('restores AsyncResource#bind when request() throws', async () => {
    const nodeBind = AsyncResource.prototype.bind;
    const session = http2.connect(await echoServer());
    sessions.push(session);
    await new Promise((r) => session.once('connect', r));
    session.destroy();
    expect(() => requestStream(session, { ':path': '/' }, { endStream: true })).toThrow(/session.*destroyed/i);
    expect(AsyncResource.prototype.bind).toBe(nodeBind);
  });
});
