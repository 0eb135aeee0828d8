/**
 * HTTP routing as the Functions host does it (ASP.NET route templates under the route prefix),
 * reduced to what routes use: literal segments, `{name}` and `{name:constraint}`. Optional,
 * default, catch-all and multi-parameter segments are refused when the route is compiled.
 */

type SegmentMatcher =
  | { kind: "literal"; lower: string }
  | { kind: "param"; name: string; constraint: ((v: string) => boolean) | undefined };

export interface CompiledRoute {
  /** The full path template, e.g. `/api/items/{id}`. */
  template: string;
  segments: SegmentMatcher[];
  /** Precedence per segment, compared in order: literal > constrained param > param. */
  precedence: number[];
}

const isNumber = (v: string): boolean => v.trim() !== "" && !Number.isNaN(Number(v));
const constraints: Record<string, (v: string) => boolean> = {
  int: (v) => /^-?\d+$/.test(v),
  long: (v) => /^-?\d+$/.test(v),
  bool: (v) => /^(true|false)$/i.test(v),
  guid: (v) => /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i.test(v),
  alpha: (v) => /^[a-z]+$/i.test(v),
  double: isNumber,
  decimal: isNumber,
  float: isNumber,
};

/** Compiles a route template (`items/{id}`, `num/{n:int}`) under the route prefix. */
export function compileRoute(routePrefix: string, route: string): CompiledRoute {
  const template = [routePrefix, route.replace(/^\/+|\/+$/g, "")].filter((s) => s !== "").join("/");
  const segments: SegmentMatcher[] = [];
  const precedence: number[] = [];
  for (const raw of template.split("/").filter((s) => s !== "")) {
    if (!raw.includes("{")) {
      segments.push({ kind: "literal", lower: raw.toLowerCase() });
      precedence.push(2);
      continue;
    }
    const param = /^\{([A-Za-z_]\w*)(?::([a-z]+))?\}$/.exec(raw);
    if (param?.[1] === undefined) {
      throw new Error(`route ${route}: segment ${raw} is not supported by the local host (use {name} or {name:type})`);
    }
    const [, name, constraintName] = param;
    const constraint = constraintName === undefined ? undefined : constraints[constraintName];
    if (constraintName !== undefined && constraint === undefined)
      throw new Error(`route ${route}: constraint ${constraintName} is not supported by the local host`);
    segments.push({ kind: "param", name, constraint });
    precedence.push(constraint ? 1 : 0);
  }
  return { template: "/" + template, segments, precedence };
}

/** Matches decoded path segments against a route; returns the params or undefined. */
function matchRoute(route: CompiledRoute, path: readonly string[]): Record<string, string> | undefined {
  if (path.length !== route.segments.length) return undefined;
  const params: Record<string, string> = {};
  for (const [i, segment] of route.segments.entries()) {
    const value = path[i] ?? "";
    if (segment.kind === "literal") {
      if (value.toLowerCase() !== segment.lower) return undefined;
    } else {
      if (segment.constraint && !segment.constraint(value)) return undefined;
      params[segment.name] = value;
    }
  }
  return params;
}

function comparePrecedence(a: number[], b: number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const diff = (b[i] ?? -1) - (a[i] ?? -1);
    if (diff !== 0) return diff;
  }
  return 0;
}

export interface Routable {
  route: CompiledRoute;
  methods: ReadonlySet<string>;
}

export type RouteMatch<T> =
  | { kind: "found"; target: T; params: Record<string, string> }
  | { kind: "wrongMethod"; allowed: string[] }
  | { kind: "notFound" };

/**
 * Finds the function for a method and path: the most specific route first (a literal segment
 * wins over a parameter whatever the registration order), then by method; a path some route
 * matches with another method is a 405 naming the allowed ones.
 */
export function createRouter<T>(targets: readonly T[], routeOf: (target: T) => Routable) {
  const sorted = [...targets].sort((a, b) =>
    comparePrecedence(routeOf(a).route.precedence, routeOf(b).route.precedence),
  );
  return (method: string, path: readonly string[]): RouteMatch<T> => {
    const allowed = new Set<string>();
    for (const target of sorted) {
      const { route, methods } = routeOf(target);
      const params = matchRoute(route, path);
      if (params === undefined) continue;
      if (methods.has(method)) return { kind: "found", target, params };
      for (const m of methods) allowed.add(m);
    }
    return allowed.size > 0 ? { kind: "wrongMethod", allowed: [...allowed] } : { kind: "notFound" };
  };
}
