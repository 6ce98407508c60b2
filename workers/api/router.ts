/**
 * Router maps (method, path) to a handler, with moby's path syntax: {name} matches one
 * segment, {name:.*} the rest of the path (image names carry '/' and ':'). Each area registers
 * its routes from routes/<area>/<area>.ts; the server strips the /vX.Y prefix before matching.
 * A known path with the wrong method is a 404 "page not found", as in dockerd 20.10.
 */
import { InvalidParameterError } from '../../src/errdefs/errors.js';
import type { RouteHandler } from './httputils.js';

export interface Route {
  method: string;
  path: string;
  handler: RouteHandler;
}

interface Compiled extends Route {
  re: RegExp;
  names: string[];
}

export class Router {
  private readonly routes: Compiled[] = [];

  add(method: string, path: string, handler: RouteHandler): void {
    const names: string[] = [];
    const src = path
      .split(/(\{[^}]+\})/)
      .map((part) => {
        const m = /^\{([A-Za-z_]+)(?::(.*))?\}$/.exec(part);
        if (!m) return part.replace(/[.*+?^$()|[\]\\]/g, '\\$&');
        names.push(m[1]!);
        return m[2] === '.*' ? '(.+)' : '([^/]+)';
      })
      .join('');
    this.routes.push({ method, path, handler, re: new RegExp(`^${src}$`), names });
  }

  get(path: string, h: RouteHandler): void { this.add('GET', path, h); }
  head(path: string, h: RouteHandler): void { this.add('HEAD', path, h); }
  post(path: string, h: RouteHandler): void { this.add('POST', path, h); }
  put(path: string, h: RouteHandler): void { this.add('PUT', path, h); }
  delete(path: string, h: RouteHandler): void { this.add('DELETE', path, h); }

  match(method: string, path: string): { route: Route; vars: Record<string, string> } | null {
    for (const r of this.routes) {
      if (r.method !== method) continue;
      const m = r.re.exec(path);
      if (!m) continue;
      const vars: Record<string, string> = {};
      r.names.forEach((n, i) => {
        try {
          vars[n] = decodeURIComponent(m[i + 1]!);
        } catch {
          throw new InvalidParameterError(`invalid URL: bad escape in ${JSON.stringify(m[i + 1])}`);
        }
      });
      return { route: r, vars };
    }
    return null;
  }

  list(): Route[] {
    return this.routes.map(({ method, path, handler }) => ({ method, path, handler }));
  }
}
