import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * The plain TCP load balancer the cluster runs behind (issue 10: no sticky sessions): each new
 * connection goes to the first backend in the current order that accepts it, so a killed node
 * (connection refused) is skipped and a daemon that reconnects lands on another node. Tests pick
 * the order with `route()`; a stopped (SIGSTOP) node still accepts TCP, so tests route around it.
 */

export interface TcpBalancer {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly wsUrl: string;
  readonly port: number;
  /** Backend ports to try, in order, for every new connection. */
  route(ports: readonly number[]): void;
  /** Client connections open now; past `maxConnections` a new one is closed at once. */
  readonly connections: number;
  close(): Promise<void>;
}

export async function startTcpBalancer(ports: readonly number[], maxConnections = 1024): Promise<TcpBalancer> {
  let order = [...ports];
  const open = new Set<Socket>();
  const incomingSockets = new Set<Socket>();
  const server: Server = createServer((incoming) => {
    if (incomingSockets.size >= maxConnections) return void incoming.destroy();
    incomingSockets.add(incoming);
    incoming.once('close', () => incomingSockets.delete(incoming));
    track(incoming);
    incoming.pause();
    void pick(order).then((outgoing) => {
      if (!outgoing || incoming.destroyed) {
        outgoing?.destroy();
        return void incoming.destroy();
      }
      track(outgoing);
      incoming.pipe(outgoing).pipe(incoming);
      incoming.resume();
      const end = (): void => {
        incoming.destroy();
        outgoing.destroy();
      };
      incoming.once('close', end);
      outgoing.once('close', end);
    });
  });
  const track = (socket: Socket): void => {
    open.add(socket);
    socket.once('close', () => open.delete(socket));
    socket.on('error', () => {});
  };
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as { port: number };
  let closing: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}/v1/connect`,
    port,
    route(next) {
      order = [...next];
    },
    get connections() {
      return incomingSockets.size;
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of open) socket.destroy();
      });
      return closing;
    },
  };
}

/** Connects to the first port in `ports` that accepts; undefined when none does. */
async function pick(ports: readonly number[]): Promise<Socket | undefined> {
  for (const port of ports) {
    const socket = await new Promise<Socket | undefined>((resolve) => {
      const attempt = connect({ host: '127.0.0.1', port });
      attempt.once('connect', () => resolve(attempt));
      attempt.once('error', () => {
        attempt.destroy();
        resolve(undefined);
      });
    });
    if (socket) return socket;
  }
  return undefined;
}
