/**
 * @module api/http/router
 * A small router over `node:http` requests. Patterns are path templates whose literal segments
 * match case-insensitively (ARM paths are case-insensitive) and whose `{name}` segments capture
 * one non-empty, percent-decoded segment:
 *
 *   router.add('GET', '/subscriptions/{sub}/resourceGroups/{rg}', handler)
 *   matches  /SUBSCRIPTIONS/abc/resourcegroups/my%20rg/   →  { sub: 'abc', rg: 'my rg' }
 *
 * Leading slash runs are collapsed (`//metadata/endpoints` is `/metadata/endpoints`) and one
 * trailing slash is ignored. When several patterns match, the most specific wins: segment by
 * segment from the left, a literal beats a parameter (`/adfs/oauth2/token` beats
 * `/{tenant}/oauth2/token`).
 *
 * Errors: each route belongs to a group with an `ErrorMapper` (`router.group(mapper)`); routes
 * added on the router itself use the router's default mapper (`jsonErrorMapper` unless given).
 * A thrown `SnapdiskError` is mapped by the route's group; any other exception becomes a 500
 * `InternalError` with no detail for the client (the request log gets the stack). A path that
 * exists under other methods answers 405 with `Allow` (body from that route's mapper, code
 * `BadRequest`); no path match is `NotFound` through the router's default mapper. If the
 * response has already started (a stream failed midway), the socket is destroyed instead, so the
 * client sees a truncated transfer rather than a corrupt one.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { SnapdiskError } from '../../core/errors.js';
import { NodeHttpContext } from './context.js';
import type { HttpContext } from './context.js';
import { jsonErrorMapper, toSnapdiskError } from './errors.js';
import type { ErrorMapper, ErrorReply } from './errors.js';
import { trackRequest } from './request-log.js';
import type { RequestLogger, RequestTracker } from './request-log.js';

export type Handler = (ctx: HttpContext) => void | Promise<void>;

/** Something routes can be added to: the router itself or one of its groups. */
export interface RouteRegistrar {
  /** `method` is one method or a list (`['GET', 'POST']`); case-insensitive. */
  add(method: string | readonly string[], pattern: string, handler: Handler): RouteRegistrar;
}

export interface RouterOptions {
  /** Mapper for routes added directly on the router and for unmatched requests. */
  errorMapper?: ErrorMapper;
  /** Receives one entry per request (see request-log.ts); no logging when absent. */
  log?: RequestLogger;
}

type Segment = { literal: string } | { param: string };

interface Route {
  methods: ReadonlySet<string>;
  pattern: string;
  segments: readonly Segment[];
  /** '0' per literal and '1' per parameter segment: the smallest rank is the most specific. */
  rank: string;
  handler: Handler;
  mapper: ErrorMapper;
}

interface FoundRoute {
  route?: Route;
  /** Raw (still percent-encoded) parameter values. */
  params: Record<string, string>;
  pathRoute?: Route;
}

export interface RouteMatch {
  pattern: string;
  params: Record<string, string>;
}

function pathSegments(path: string): string[] {
  const trimmed = path.replace(/^\/+/, '').replace(/\/$/, '');
  return trimmed === '' ? [] : trimmed.split('/');
}

function compile(pattern: string): Segment[] {
  return pathSegments(pattern).map((seg) => {
    const m = /^\{([A-Za-z_][A-Za-z0-9_]*)\}$/.exec(seg);
    if (m?.[1] !== undefined) return { param: m[1] };
    if (seg.includes('{') || seg.includes('}')) throw new Error(`Unsupported route segment '${seg}' in ${pattern}`);
    return { literal: seg.toLowerCase() };
  });
}

function decodeSegment(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new SnapdiskError('BadRequest', `The path segment '${raw}' is not valid percent-encoding.`);
  }
}

function matchSegments(route: Route, segs: readonly string[]): Record<string, string> | undefined {
  if (route.segments.length !== segs.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < segs.length; i++) {
    const seg = segs[i] ?? '';
    const want = route.segments[i];
    if (want === undefined) return undefined;
    if ('literal' in want) {
      if (seg.toLowerCase() !== want.literal) return undefined;
    } else {
      if (seg === '') return undefined;
      params[want.param] = seg;
    }
  }
  return params;
}

export class Router implements RouteRegistrar {
  private readonly routes: Route[] = [];
  private readonly defaultMapper: ErrorMapper;
  private readonly log: RequestLogger | undefined;

  constructor(options: RouterOptions = {}) {
    this.defaultMapper = options.errorMapper ?? jsonErrorMapper;
    this.log = options.log;
  }

  add(method: string | readonly string[], pattern: string, handler: Handler): RouteRegistrar {
    this.addWith(this.defaultMapper, method, pattern, handler);
    return this;
  }

  /** A registrar whose routes map their errors with `mapper` (one per surface). */
  group(mapper: ErrorMapper): RouteRegistrar {
    const registrar: RouteRegistrar = {
      add: (method, pattern, handler) => {
        this.addWith(mapper, method, pattern, handler);
        return registrar;
      },
    };
    return registrar;
  }

  /** The most specific route for `method` and `path`, with decoded params. */
  match(method: string, path: string): RouteMatch | undefined {
    const found = this.find(method.toUpperCase(), path);
    if (!found.route) return undefined;
    const params: Record<string, string> = {};
    for (const [name, raw] of Object.entries(found.params)) params[name] = decodeSegment(raw);
    return { pattern: found.route.pattern, params };
  }

  /** The `node:http` request listener. */
  readonly handle = (req: IncomingMessage, res: ServerResponse): void => {
    void this.dispatch(req, res);
  };

  private addWith(mapper: ErrorMapper, method: string | readonly string[], pattern: string, handler: Handler): void {
    const methods = new Set((typeof method === 'string' ? [method] : method).map((m) => m.toUpperCase()));
    const segments = compile(pattern);
    const rank = segments.map((s) => ('literal' in s ? '0' : '1')).join('');
    this.routes.push({ methods, pattern, segments, rank, handler, mapper });
  }

  /** Best route for the method; else `pathRoute`, a route matching the path under another method. */
  private find(method: string, path: string): FoundRoute {
    const segs = pathSegments(path);
    let best: { route: Route; params: Record<string, string> } | undefined;
    let pathRoute: Route | undefined;
    for (const route of this.routes) {
      const params = matchSegments(route, segs);
      if (params === undefined) continue;
      if (!route.methods.has(method)) {
        pathRoute ??= route;
        continue;
      }
      if (best === undefined || route.rank < best.route.rank) best = { route, params };
    }
    return best ? best : { params: {}, ...(pathRoute ? { pathRoute } : {}) };
  }

  private async dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const ctx = new NodeHttpContext(req, res);
    const tracker = this.log ? trackRequest(ctx, this.log) : undefined;
    let mapper = this.defaultMapper;
    let status: number | undefined;
    try {
      const found = this.find(ctx.method, ctx.path);
      if (!found.route) {
        if (found.pathRoute) {
          mapper = found.pathRoute.mapper;
          res.setHeader('allow', [...found.pathRoute.methods].join(', '));
          status = 405;
          throw new SnapdiskError('BadRequest', `The HTTP method '${ctx.method}' is not supported for '${ctx.path}'.`);
        }
        throw new SnapdiskError('NotFound', `No route matches '${ctx.method} ${ctx.path}'.`);
      }
      mapper = found.route.mapper;
      for (const [name, raw] of Object.entries(found.params)) ctx.params[name] = decodeSegment(raw);
      await found.route.handler(ctx);
    } catch (thrown) {
      this.fail(ctx, mapper, thrown, tracker, status);
    }
  }

  private fail(
    ctx: NodeHttpContext,
    mapper: ErrorMapper,
    thrown: unknown,
    tracker: RequestTracker | undefined,
    status?: number,
  ): void {
    const err = toSnapdiskError(thrown, ctx.requestId);
    tracker?.setError(err, !(thrown instanceof SnapdiskError));
    const res = ctx.res;
    if (res.headersSent || res.writableEnded) {
      if (!res.writableEnded) res.destroy();
      return;
    }
    let reply: ErrorReply;
    try {
      reply = mapper(err, ctx);
    } catch {
      reply = jsonErrorMapper(err, ctx);
    }
    res.removeHeader('content-encoding');
    res.writeHead(status ?? reply.status, {
      ...reply.headers,
      'content-type': reply.contentType,
      'content-length': Buffer.byteLength(reply.body),
    });
    res.end(reply.body);
  }
}
