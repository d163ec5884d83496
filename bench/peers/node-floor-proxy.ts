// The floors of a proxy written on Node, measured beside tsmesh so its own
// overhead above Node's is visible:
//   http — node:http server + keep-alive http.Agent: parse, forward, stream
//          back, with no routing, policies or telemetry;
//   tcp  — a byte relay between two sockets (one upstream connection per
//          client connection): no HTTP at all, the least any Node proxy pays
//          per request for its reads, writes and event-loop wake-ups.
// Usage: node node-floor-proxy.js <listenPort> <upstreamPort> [http|tcp]
import http from 'node:http';
import net from 'node:net';

const [listenPort, upstreamPort] = process.argv.slice(2, 4).map(Number);
const mode = process.argv[4] ?? 'http';

function httpFloor(): http.Server {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  return http.createServer({ keepAliveTimeout: 300_000 }, (req, res) => {
    const up = http.request(
      { host: '127.0.0.1', port: upstreamPort, method: req.method, path: req.url, headers: req.headers, agent },
      (ur) => {
        res.writeHead(ur.statusCode ?? 502, ur.headers);
        ur.pipe(res);
      },
    );
    up.on('error', () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    req.pipe(up);
  });
}

function tcpFloor(): net.Server {
  return net.createServer((client) => {
    const up = net.connect(upstreamPort!, '127.0.0.1');
    client.setNoDelay(true);
    up.setNoDelay(true);
    client.on('data', (d) => up.write(d));
    up.on('data', (d) => client.write(d));
    client.on('close', () => up.destroy());
    up.on('close', () => client.destroy());
    client.on('error', () => {});
    up.on('error', () => {});
  });
}

const server: net.Server = mode === 'tcp' ? tcpFloor() : httpFloor();
server.listen(listenPort, '127.0.0.1');
process.on('SIGTERM', () => {
  (server as http.Server).closeAllConnections?.();
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 1000).unref();
});
