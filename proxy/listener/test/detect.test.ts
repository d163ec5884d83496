import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import net from 'node:net';
import tls from 'node:tls';
import { detect } from '../detect.js';
import { parseClientHello } from '../client-hello.js';
import { close, cluster, echoUpstream, httpBootstrap, portOf, startSidecar } from '../../test/helpers.js';
import type { Sidecar } from '../../sidecar.js';

/** Captures the ClientHello a real TLS client sends. */
async function realHello(servername: string, alpn: string[]): Promise<Buffer> {
  return new Promise((resolve) => {
    const srv = net.createServer((s) => s.once('data', (d) => { resolve(d); s.destroy(); srv.close(); }));
    srv.listen(0, '127.0.0.1', () => {
      const c = tls.connect({ host: '127.0.0.1', port: (srv.address() as net.AddressInfo).port, servername, ALPNProtocols: alpn });
      c.on('error', () => {});
    });
  });
}

describe('protocol detection', () => {
  it('recognises TLS (with SNI and ALPN), the HTTP/2 preface and HTTP/1 methods; waits on partial input', async () => {
    const hello = await realHello('reviews.default.svc', ['h2', 'http/1.1']);
    expect(detect(hello)).toMatchObject({ transportProtocol: 'tls', serverName: 'reviews.default.svc', applicationProtocols: ['h2', 'http/1.1'] });
    expect(detect(hello.subarray(0, 20))).toBeUndefined();
    expect(detect(Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'))?.http).toBe('h2c');
    expect(detect(Buffer.from('PRI * HT'))).toBeUndefined();
    expect(detect(Buffer.from('GET / HTTP/1.1\r\n'))?.http).toBe('h1');
    expect(detect(Buffer.from('POS'))).toBeUndefined();
    expect(detect(Buffer.from('SSH-2.0-OpenSSH'))?.transportProtocol).toBe('raw_buffer');
    expect(detect(Buffer.from('SSH-2.0-OpenSSH'))?.http).toBeUndefined();
  });

  it('never throws on arbitrary bytes (ClientHello parser and detector)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), fc.boolean(), (bytes, tlsLike) => {
        const b = Buffer.from(bytes);
        if (tlsLike && b.length > 2) [b[0], b[1]] = [0x16, 0x03];
        parseClientHello(b);
        detect(b);
      }),
      { numRuns: 3000 },
    );
  });
});

describe('a listener under garbage input', () => {
  let up: Awaited<ReturnType<typeof echoUpstream>>;
  let sidecar: Sidecar;
  let port: number;
  beforeAll(async () => {
    up = await echoUpstream('up');
    const s = await startSidecar(httpBootstrap(`
            - match: { prefix: / }
              route: { cluster: up }`, cluster('up', portOf(up))));
    sidecar = s.sidecar;
    port = s.port();
  });
  afterAll(async () => {
    await sidecar?.close();
    await close(up);
  });

  it('survives random bytes (and HTTP-looking garbage) and keeps serving', async () => {
    const prefixes = ['', 'GET ', 'POST /x HTTP/1.1\r\n', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', '\x16\x03\x01\x00\x40\x01'];
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...prefixes), fc.uint8Array({ maxLength: 300 }), async (prefix, bytes) => {
        await new Promise<void>((resolve) => {
          const s = net.connect(port, '127.0.0.1', () => {
            s.write(Buffer.concat([Buffer.from(prefix, 'latin1'), Buffer.from(bytes)]));
            s.end();
          });
          s.on('data', () => {});
          s.on('error', () => resolve());
          s.on('close', () => resolve());
          s.setTimeout(300, () => s.destroy());
        });
      }),
      { numRuns: 40 },
    );
    const ok = await fetch(`http://127.0.0.1:${port}/still-alive`);
    expect(ok.status).toBe(200);
  });
});
