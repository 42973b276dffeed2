/**
 * How we reach etcd: endpoints, client TLS and auth, as etcdctl takes them. One `Etcd3` client per
 * endpoint, because etcd3 load-balances across hosts and we need to know which member answered.
 */
import type { CallContext, Etcd3, IOptions } from 'etcd3';

type Etcd3Module = typeof import('etcd3');

/**
 * etcd3 parses its gRPC definitions when loaded (about 0.1 s and 20 MB): loaded on the first connect,
 * so commands that never talk to etcd (list, prune, watchdog, a dry-run restore) start without it.
 */
let etcd3Module: Promise<Etcd3Module> | undefined;

async function loadEtcd3(): Promise<Etcd3Module> {
  // etcd3 is CommonJS: Node.js also offers its exports by name, but in the bundle a lazily loaded
  // CommonJS chunk has only the default export (module.exports).
  const loaded: Etcd3Module & { default?: Etcd3Module } = await import('etcd3');
  return loaded.default ?? loaded;
}

export interface EtcdTls {
  /** PEM contents (not paths): read once by the config layer so a missing file is an input error up front. */
  readonly ca: Buffer;
  readonly cert?: Buffer;
  readonly key?: Buffer;
}

export interface EtcdAccess {
  readonly endpoints: readonly string[];
  readonly tls?: EtcdTls;
  readonly auth?: { readonly username: string; readonly password: string };
  /** Deadline for unary calls (status, range...). Streams (snapshot) get none: they take as long as the data. */
  readonly callTimeoutMs: number;
}

/** A client bound to exactly the given endpoints. Caller closes it. */
export async function connect(access: EtcdAccess, endpoints: readonly string[] = access.endpoints): Promise<Etcd3> {
  const { Etcd3 } = await (etcd3Module ??= loadEtcd3());
  const options: IOptions = {
    hosts: endpoints.map(stripScheme),
    dialTimeout: access.callTimeoutMs,
    // gRPC's default 4 MiB receive limit is not etcd's: one watch response carries many revisions (a
    // journal catching up, a burst of large values) and etcd's own Go client accepts any size. With the
    // default, such a response fails the stream every time it is retried, and the journal stalls for good.
    grpcOptions: { 'grpc.max_receive_message_length': -1 },
    defaultCallOptions: (context: CallContext) =>
      context.isStream ? {} : { deadline: new Date(Date.now() + access.callTimeoutMs) },
  };
  if (access.tls) {
    options.credentials = {
      rootCertificate: access.tls.ca,
      ...(access.tls.key ? { privateKey: access.tls.key } : {}),
      ...(access.tls.cert ? { certChain: access.tls.cert } : {}),
    };
  }
  if (access.auth) options.auth = { username: access.auth.username, password: access.auth.password };
  return new Etcd3(options);
}

/** etcd3 wants host:port; the scheme only tells whether TLS is used, which the credentials decide. */
function stripScheme(endpoint: string): string {
  return endpoint.replace(/^(https?|unixs?):\/\//, '').replace(/\/+$/, '');
}
