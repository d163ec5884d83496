// Stands in for the sidecar's outbound (and inbound) listener in the
// interception test: reads SO_ORIGINAL_DST through the native addon, reports
// it on stdout as a JSON line, and forwards the bytes to the original
// destination. Runs as the proxy UID so its own connections are not redirected.
import net from 'node:net';
import { socketOriginalDst } from '../../../dist/native/index.js';

const uid = Number(process.env.PROXY_UID ?? 1337);
process.setgid(uid);
process.setuid(uid);

function listen(role) {
  const server = net.createServer((client) => {
    let original;
    try {
      original = socketOriginalDst(client);
    } catch (err) {
      process.stdout.write(JSON.stringify({ event: 'error', role, message: err.message }) + '\n');
      client.destroy();
      return;
    }
    process.stdout.write(JSON.stringify({ event: 'intercepted', role, original, peer: client.remoteAddress }) + '\n');
    // Inbound passthrough comes from 127.0.0.6 so the rules let it reach the app.
    const opts = { host: original.address, port: original.port, ...(role === 'inbound' ? { localAddress: '127.0.0.6' } : {}) };
    const upstream = net.connect(opts);
    client.pipe(upstream).pipe(client);
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
  });
  return new Promise((resolve) => server.listen(0, '0.0.0.0', () => resolve(server.address().port)));
}

const outbound = await listen('outbound');
const inbound = await listen('inbound');
process.stdout.write(JSON.stringify({ event: 'listening', outbound, inbound }) + '\n');
