// A plain HTTP server (the "app's destination"): answers with who it is and what was asked.
import http from 'node:http';
const name = process.argv[2];
const host = process.argv[3];
const server = http.createServer((req, res) => res.end(`${name} got ${req.method} ${req.url} from ${req.socket.remoteAddress}\n`));
server.listen(0, host, () => process.stdout.write(JSON.stringify({ event: 'listening', port: server.address().port }) + '\n'));
