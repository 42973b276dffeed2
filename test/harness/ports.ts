import net from 'node:net';

// Ports already handed out in this process: the OS may return a port we just
// closed again on the next bind, and two members getting the same port would
// make a cluster fail to start in confusing ways.
const handedOut = new Set<number>();

function probe(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => (port > 0 ? resolve(port) : reject(new Error('could not read port'))));
    });
  });
}

/** A TCP port on 127.0.0.1 that was free a moment ago and not yet given out by this process. */
export async function freePort(): Promise<number> {
  for (let i = 0; i < 100; i++) {
    const port = await probe();
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error('freePort: no unused port found after 100 attempts');
}
