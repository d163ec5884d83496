// The floor of a proxy written on Node's http module: the least a Node
// sidecar does per request (parse, forward over a keep-alive pool, stream the
// response back) with no routing, policies or telemetry. Measured beside
// tsmesh so the proxy's own overhead above Node's is visible.
// Usage: node node-floor-proxy.js <listenPort> <upstreamPort>
import http from 'node:http';

const [listenPort, upstreamPort] = process.argv.slice(2).map(Number);
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

const server = http.createServer({ keepAliveTimeout: 300_000 }, (req, res) => {
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
server.listen(listenPort, '127.0.0.1');
process.on('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
