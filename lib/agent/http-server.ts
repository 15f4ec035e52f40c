import { createServer, type Server } from 'node:http';
import { SalvorError } from '../../bindings/salvor-error';
import type { AgentMetrics } from './metrics';
import { renderStatusPage, type DaemonStatus } from './status-page';

/** Splits HOST:PORT ([v6]:PORT too). */
export function parseHostPort(listen: string): { host: string; port: number } {
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(listen);
  if (!m || Number(m[2]) > 65535) throw new SalvorError('SALVOR_BAD_CONFIG', `http.listen '${listen}' is not HOST:PORT`);
  return { host: m[1], port: Number(m[2]) };
}

/** GET / (status page), /status.json, /metrics (Prometheus text), /healthz. Loopback unless configured otherwise. */
export async function listenHttp(listen: string, metrics: AgentMetrics, status: () => DaemonStatus): Promise<Server> {
  const { host, port } = parseHostPort(listen);
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/metrics') {
      metrics.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
        (err: Error) => res.writeHead(500).end(err.message),
      );
    } else if (path === '/status.json') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(status()));
    } else if (path === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; img-src data:" }).end(renderStatusPage(status()));
    } else if (path === '/healthz') {
      const s = status();
      const down = s.capabilities.filter((c) => c.state !== 'running');
      res.writeHead(down.length ? 503 : 200, { 'content-type': 'text/plain' }).end(s.summary + '\n');
    } else res.writeHead(404).end('not found\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(new SalvorError(err.code ?? 'SALVOR_IO', `cannot serve http on ${listen}: ${err.code === 'EADDRINUSE' ? 'the port is in use' : err.message} (set http.listen in the config)`)),
    );
    server.listen(port, host, () => resolve());
  });
  return server;
}
