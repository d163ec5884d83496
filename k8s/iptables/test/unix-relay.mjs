// Inside a network namespace: a TCP listener whose connections are piped to a
// Unix socket (a filesystem path, reachable across namespaces), so sidecars in
// the namespace reach a control plane running outside it. Reports its port on
// stdout as a JSON line.
import net from 'node:net';

const [host, port, path] = process.argv.slice(2);
const server = net.createServer((down) => {
  const up = net.connect(path);
  down.pipe(up).pipe(down);
  const close = () => (down.destroy(), up.destroy());
  down.on('error', close).on('close', close);
  up.on('error', close).on('close', close);
});
server.listen(Number(port), host, () => process.stdout.write(JSON.stringify({ event: 'listening', port: server.address().port }) + '\n'));
