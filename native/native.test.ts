// The addon's own contract, on ordinary loopback sockets (no iptables): a
// connection that was not redirected has no original destination, and bad
// arguments are refused. Interception itself is tested in
// k8s/iptables/test/interception.test.ts.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getOriginalDst, nativeAddonAvailable, socketOriginalDst } from './index.js';
import { buildNativeAddon } from './build.js';

let problem: string | undefined;
beforeAll(() => {
  if (process.platform !== 'linux') problem = 'SO_ORIGINAL_DST is Linux-only';
  else if (!nativeAddonAvailable()) problem = buildNativeAddon();
});

describe('native addon', () => {
  let server: net.Server;
  afterAll(() => server?.close());

  it('reports a clear error for a socket that was not redirected, and for bad fds', async (ctx) => {
    if (problem || !nativeAddonAvailable()) ctx.skip(`native addon unavailable: ${problem ?? 'not built'}`);
    const accepted = new Promise<net.Socket>((resolve) => {
      server = net.createServer(resolve);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
    const sock = await accepted;
    try {
      // No NAT happened: the kernel has no original destination to report (ENOENT), or, when
      // conntrack tracks loopback, reports the real local address.
      let result: unknown;
      try {
        result = socketOriginalDst(sock);
      } catch (err) {
        result = err;
      }
      if (result instanceof Error) expect(result.message).toMatch(/getsockopt\(SO_ORIGINAL_DST\)/);
      else expect(result).toEqual({ address: '127.0.0.1', port: (server.address() as net.AddressInfo).port, family: 'IPv4' });
      expect(() => getOriginalDst(-1)).toThrow(TypeError);
      expect(() => getOriginalDst(1 << 30)).toThrow(/getsockname: Bad file descriptor/);
    } finally {
      client.destroy();
      sock.destroy();
    }
  });
});
