// HTTP/2 (and TLS) servers read straight from a socket's native handle, so
// bytes already read for protocol detection and unshifted back would be
// lost. This Duplex reads through the socket's JS stream instead (the
// unshifted bytes come first); servers wrap it in their JS stream adapter.

import { Duplex } from 'node:stream';
import type { Socket } from 'node:net';

export function replaySocket(sock: Socket): Duplex {
  const d = new Duplex({
    read() {
      sock.resume();
    },
    write(chunk: Buffer, _enc, cb) {
      sock.write(chunk, cb);
    },
    final(cb) {
      sock.end();
      cb();
    },
    destroy(err, cb) {
      sock.destroy(err ?? undefined);
      cb(err);
    },
  });
  sock.on('data', (c: Buffer) => {
    if (!d.push(c)) sock.pause();
  });
  sock.on('end', () => d.push(null));
  sock.on('close', () => d.destroy());
  sock.on('error', (e) => d.destroy(e));
  // What servers and the request path read off a socket.
  Object.defineProperties(d, {
    remoteAddress: { get: () => sock.remoteAddress },
    remotePort: { get: () => sock.remotePort },
    remoteFamily: { get: () => sock.remoteFamily },
    localAddress: { get: () => sock.localAddress },
    localPort: { get: () => sock.localPort },
  });
  (d as Duplex & { setNoDelay?: (b?: boolean) => void }).setNoDelay = (b?: boolean) => void sock.setNoDelay(b);
  (d as Duplex & { setKeepAlive?: (b?: boolean, n?: number) => void }).setKeepAlive = (b?: boolean, n?: number) => void sock.setKeepAlive(b, n);
  (d as Duplex & { setTimeout?: (ms: number, cb?: () => void) => unknown }).setTimeout = (ms: number, cb?: () => void) => {
    sock.setTimeout(ms, cb);
    return d;
  };
  return d;
}
