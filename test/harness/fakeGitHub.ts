/**
 * A tiny fake of GitHub's issues REST API on 127.0.0.1, enough for alarm.ts: list (labels/state/paging),
 * create, comment, update. Any path prefix before `/repos/` is accepted, so a GHES-style base URL
 * (`http://127.0.0.1:PORT/api/v3`) works. Every request is recorded for assertions, and the next N
 * requests can be made to fail with a chosen status and headers (500, or a rate-limit 403).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  readonly method: string;
  /** Path without the query string, including any prefix (e.g. `/api/v3/repos/o/r/issues`). */
  readonly path: string;
  readonly query: Record<string, string>;
  /** Parsed JSON body, or undefined. */
  readonly body: unknown;
  readonly authorization?: string;
  /** The status the fake answered with. */
  status: number;
}

export interface FakeComment {
  readonly id: number;
  readonly body: string;
}

export interface FakeIssue {
  readonly number: number;
  readonly owner: string;
  readonly repo: string;
  title: string;
  body: string;
  state: 'open' | 'closed';
  state_reason?: string;
  labels: string[];
  comments: FakeComment[];
}

export type RequestMatcher = (request: { readonly method: string; readonly path: string }) => boolean;

export interface FakeGitHub {
  /** Base URL without prefix, e.g. `http://127.0.0.1:41234`. */
  readonly url: string;
  readonly requests: RecordedRequest[];
  readonly issues: FakeIssue[];
  /**
   * Fails the next `n` requests with `status` (and `headers`, e.g. `x-ratelimit-remaining: 0`); with
   * `match`, only requests it accepts count and fail. `n = 0` cancels.
   */
  failNext(n: number, status: number, headers?: Record<string, string>, match?: RequestMatcher): void;
  close(): Promise<void>;
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export async function startFakeGitHub(): Promise<FakeGitHub> {
  const requests: RecordedRequest[] = [];
  const issues: FakeIssue[] = [];
  let failures:
    | { remaining: number; status: number; headers: Record<string, string>; match: RequestMatcher | undefined }
    | undefined;
  let nextNumber = 1;
  let nextCommentId = 1000;

  const toJson = (issue: FakeIssue, baseUrl: string): Record<string, unknown> => ({
    number: issue.number,
    title: issue.title,
    body: issue.body,
    state: issue.state,
    state_reason: issue.state_reason ?? null,
    labels: issue.labels.map((name) => ({ name })),
    comments: issue.comments.length,
    html_url: `${baseUrl}/${issue.owner}/${issue.repo}/issues/${issue.number}`,
  });

  const server = http.createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://fake');
      const text = await readBody(req);
      let body: unknown;
      try {
        body = text === '' ? undefined : JSON.parse(text);
      } catch {
        body = text;
      }
      const record: RecordedRequest = {
        method: req.method ?? 'GET',
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        body,
        ...(req.headers.authorization !== undefined ? { authorization: req.headers.authorization } : {}),
        status: 0,
      };
      requests.push(record);
      const send = (status: number, payload: unknown, headers: Record<string, string> = {}): void => {
        record.status = status;
        res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
        res.end(JSON.stringify(payload));
      };

      if (failures !== undefined && failures.remaining > 0 && (failures.match?.(record) ?? true)) {
        failures.remaining--;
        const { status, headers } = failures;
        if (failures.remaining === 0) failures = undefined;
        send(status, { message: status === 403 ? 'API rate limit exceeded' : 'Server Error' }, headers);
        return;
      }

      const host = `http://${req.headers.host ?? '127.0.0.1'}`;
      const m = /^(?:.*)?\/repos\/([^/]+)\/([^/]+)\/issues(?:\/(\d+)(\/comments)?)?$/.exec(url.pathname);
      if (!m) {
        send(404, { message: 'Not Found' });
        return;
      }
      const [, owner, repo, numberText, comments] = m as unknown as [string, string, string, string | undefined, string | undefined];
      const method = record.method;

      if (numberText === undefined) {
        if (method === 'GET') {
          const state = url.searchParams.get('state') ?? 'open';
          const wanted = (url.searchParams.get('labels') ?? '').split(',').filter((l) => l !== '');
          const perPage = Number(url.searchParams.get('per_page') ?? '30');
          const page = Number(url.searchParams.get('page') ?? '1');
          const matching = issues
            .filter((i) => i.owner === owner && i.repo === repo)
            .filter((i) => state === 'all' || i.state === state)
            .filter((i) => wanted.every((l) => i.labels.includes(l)))
            .sort((a, b) => b.number - a.number);
          send(200, matching.slice((page - 1) * perPage, page * perPage).map((i) => toJson(i, host)));
          return;
        }
        if (method === 'POST') {
          if (!isRecord(body) || typeof body['title'] !== 'string') {
            send(422, { message: 'Validation Failed: title is required' });
            return;
          }
          const labels = Array.isArray(body['labels']) ? body['labels'].filter((l): l is string => typeof l === 'string') : [];
          const issue: FakeIssue = {
            number: nextNumber++,
            owner,
            repo,
            title: body['title'],
            body: typeof body['body'] === 'string' ? body['body'] : '',
            state: 'open',
            labels,
            comments: [],
          };
          issues.push(issue);
          send(201, toJson(issue, host));
          return;
        }
        send(405, { message: 'Method Not Allowed' });
        return;
      }

      const issue = issues.find((i) => i.owner === owner && i.repo === repo && i.number === Number(numberText));
      if (issue === undefined) {
        send(404, { message: 'Not Found' });
        return;
      }
      if (comments !== undefined) {
        if (method !== 'POST') {
          send(405, { message: 'Method Not Allowed' });
          return;
        }
        if (!isRecord(body) || typeof body['body'] !== 'string') {
          send(422, { message: 'Validation Failed: body is required' });
          return;
        }
        const comment: FakeComment = { id: nextCommentId++, body: body['body'] };
        issue.comments.push(comment);
        send(201, comment);
        return;
      }
      if (method === 'PATCH') {
        if (isRecord(body)) {
          if (body['state'] === 'open' || body['state'] === 'closed') issue.state = body['state'];
          if (typeof body['state_reason'] === 'string') issue.state_reason = body['state_reason'];
          if (typeof body['title'] === 'string') issue.title = body['title'];
          if (typeof body['body'] === 'string') issue.body = body['body'];
          if (Array.isArray(body['labels'])) issue.labels = body['labels'].filter((l): l is string => typeof l === 'string');
        }
        send(200, toJson(issue, host));
        return;
      }
      if (method === 'GET') {
        send(200, toJson(issue, host));
        return;
      }
      send(405, { message: 'Method Not Allowed' });
    })().catch((error: unknown) => {
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ message: `fake GitHub crashed: ${String(error)}` }));
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    issues,
    failNext(n, status, headers = {}, match) {
      failures = n > 0 ? { remaining: n, status, headers, match } : undefined;
    },
    close() {
      return new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
    },
  };
}
