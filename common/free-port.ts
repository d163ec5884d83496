// A loopback port for a process that binds it a moment later (a sidecar's
// listener from its pushed config, nginx from its generated file). A port
// asked of the kernel with port 0 comes from the ephemeral range, the same
// range outgoing connections get their local ports from: on a busy machine a
// connection could take it between our check and the later bind (EADDRINUSE).
// So the port is picked at random below that range, where nothing is handed
// out automatically, and checked by binding it; port 0 is the fallback.

import { readFileSync } from 'node:fs';
import net from 'node:net';

const LOWEST = 10_000;

/** The lowest port of the kernel's ephemeral range (Linux), or undefined where it cannot be read. */
function ephemeralLow(): number | undefined {
  try {
    const lo = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return lo > 0 ? lo : undefined;
  } catch {
    return undefined;
  }
}

const low = ephemeralLow();

function tryListen(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(undefined));
    s.listen(port, '127.0.0.1', () => {
      const bound = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(bound));
    });
  });
}

/** A port on 127.0.0.1 that was free a moment ago, outside the ephemeral range where possible. */
export async function freePort(): Promise<number> {
  if (low !== undefined && low > LOWEST + 1000) {
    for (let i = 0; i < 20; i++) {
      const port = await tryListen(LOWEST + Math.floor(Math.random() * (low - LOWEST)));
      if (port !== undefined) return port;
    }
  }
  const port = await tryListen(0);
  if (port === undefined) throw new Error('no free port on 127.0.0.1');
  return port;
}
