/**
 * Reads this repository's Bicep without the Bicep compiler (none installs offline), for `test/infra/bicep.test.ts`.
 *
 * It tokenizes and parses the subset of Bicep the templates use, then evaluates what is known before deployment:
 * literals, parameters (their `.bicepparam` value or default), variables, module inputs and outputs, `for` loops.
 * Everything else stays symbolic (a resource property, a function call), so a check can tell that a role
 * assignment's principal is the function app's identity or that a setting is a Key Vault reference. What it cannot
 * read is reported as a problem, never skipped: a check that cannot see must fail.
 */
import { posix as path } from "node:path";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import ts from "typescript";

// ---------------------------------------------------------------------------------------------------------------
// Tokens

type StrPart = string | Token[];

interface Token {
  kind: "id" | "str" | "num" | "punct" | "nl" | "eof";
  text: string;
  line: number;
  /** For strings: literal text and the tokens of each `${...}` hole. */
  parts?: StrPart[];
}

const PUNCT2 = ["==", "!=", "<=", ">=", "&&", "||", "??", "?.", "=>", "::", "=~", "!~"];
const PUNCT1 = "{}[](),:.?!=<>+-*/%@|";

class Lexer {
  private pos = 0;
  private line = 1;
  readonly errors: string[] = [];

  constructor(
    private readonly text: string,
    private readonly file: string,
  ) {}

  tokenize(): Token[] {
    const tokens = this.run(false);
    tokens.push({ kind: "eof", text: "", line: this.line });
    return tokens;
  }

  private error(message: string): void {
    this.errors.push(`${this.file}:${this.line}: ${message}`);
  }

  /** Tokens up to the end of the text, or up to the `}` closing an interpolation when `inHole`. */
  private run(inHole: boolean): Token[] {
    const out: Token[] = [];
    let depth = 0;
    const t = this.text;
    while (this.pos < t.length) {
      const ch = t[this.pos] as string;
      const next = t[this.pos + 1];
      if (inHole && ch === "}" && depth === 0) {
        this.pos++;
        return out;
      }
      if (ch === "\n") {
        out.push({ kind: "nl", text: "\n", line: this.line });
        this.line++;
        this.pos++;
      } else if (ch === " " || ch === "\t" || ch === "\r") {
        this.pos++;
      } else if (ch === "/" && next === "/") {
        while (this.pos < t.length && t[this.pos] !== "\n") this.pos++;
      } else if (ch === "/" && next === "*") {
        const end = t.indexOf("*/", this.pos + 2);
        if (end < 0) {
          this.error("unterminated /* comment");
          this.pos = t.length;
        } else {
          this.line += (t.slice(this.pos, end).match(/\n/g) ?? []).length;
          this.pos = end + 2;
        }
      } else if (t.startsWith("'''", this.pos)) {
        const line = this.line;
        const end = t.indexOf("'''", this.pos + 3);
        if (end < 0) {
          this.error("unterminated ''' string");
          this.pos = t.length;
        } else {
          const raw = t.slice(this.pos + 3, end);
          this.line += (raw.match(/\n/g) ?? []).length;
          out.push({ kind: "str", text: raw, line, parts: [raw] });
          this.pos = end + 3;
        }
      } else if (ch === "'") {
        out.push(this.string());
      } else if (/[0-9]/.test(ch)) {
        const start = this.pos;
        while (this.pos < t.length && /[0-9.]/.test(t[this.pos] as string)) this.pos++;
        out.push({ kind: "num", text: t.slice(start, this.pos), line: this.line });
      } else if (/[A-Za-z_]/.test(ch)) {
        const start = this.pos;
        while (this.pos < t.length && /[A-Za-z0-9_]/.test(t[this.pos] as string)) this.pos++;
        out.push({ kind: "id", text: t.slice(start, this.pos), line: this.line });
      } else {
        const two = t.slice(this.pos, this.pos + 2);
        if (PUNCT2.includes(two)) {
          out.push({ kind: "punct", text: two, line: this.line });
          this.pos += 2;
        } else if (PUNCT1.includes(ch)) {
          if (ch === "{") depth++;
          if (ch === "}") depth--;
          out.push({ kind: "punct", text: ch, line: this.line });
          this.pos++;
        } else {
          this.error(`unexpected character ${JSON.stringify(ch)}`);
          this.pos++;
        }
      }
    }
    if (inHole) this.error("unterminated ${ interpolation");
    return out;
  }

  private string(): Token {
    const line = this.line;
    const t = this.text;
    const parts: StrPart[] = [];
    let buf = "";
    this.pos++; // opening quote
    for (;;) {
      const ch = t[this.pos];
      if (ch === undefined || ch === "\n") {
        this.error("unterminated string");
        break;
      }
      if (ch === "\\") {
        const esc = t[this.pos + 1];
        const map: Record<string, string> = { "\\": "\\", "'": "'", n: "\n", r: "\r", t: "\t", $: "$" };
        if (esc !== undefined && esc in map) {
          buf += map[esc];
          this.pos += 2;
        } else if (esc === "u" && t[this.pos + 2] === "{") {
          const end = t.indexOf("}", this.pos);
          buf += String.fromCodePoint(parseInt(t.slice(this.pos + 3, end), 16));
          this.pos = end + 1;
        } else {
          this.error(`bad escape \\${esc ?? ""}`);
          this.pos += 2;
        }
      } else if (ch === "$" && t[this.pos + 1] === "{") {
        parts.push(buf);
        buf = "";
        this.pos += 2;
        parts.push(this.run(true));
      } else if (ch === "'") {
        this.pos++;
        break;
      } else {
        buf += ch;
        this.pos++;
      }
    }
    parts.push(buf);
    const text = parts.map((p) => (typeof p === "string" ? p : "${…}")).join("");
    return { kind: "str", text, line, parts: parts.filter((p) => p !== "") };
  }
}

/** Every `(`, `[`, `{` closed in order, strings and comments (and unterminated ones) taken into account. */
export function checkBalanced(file: string, text: string): string[] {
  const lexer = new Lexer(text, file);
  const tokens = lexer.tokenize();
  const problems = [...lexer.errors];
  const pairs: Record<string, string> = { ")": "(", "]": "[", "}": "{" };
  const walk = (toks: Token[]): void => {
    const stack: Token[] = [];
    for (const tok of toks) {
      if (tok.kind === "str") for (const p of tok.parts ?? []) if (typeof p !== "string") walk(p);
      if (tok.kind !== "punct") continue;
      if ("([{".includes(tok.text)) stack.push(tok);
      else if (tok.text in pairs) {
        const open = stack.pop();
        if (!open) problems.push(`${file}:${tok.line}: '${tok.text}' closes nothing`);
        else if (open.text !== pairs[tok.text]) {
          problems.push(`${file}:${tok.line}: '${tok.text}' closes '${open.text}' opened on line ${open.line}`);
        }
      }
    }
    for (const open of stack) problems.push(`${file}:${open.line}: '${open.text}' is never closed`);
  };
  walk(tokens);
  return problems;
}

// ---------------------------------------------------------------------------------------------------------------
// Syntax tree

export type Expr =
  | { k: "str"; parts: (string | Expr)[]; line: number }
  | { k: "num"; v: number; line: number }
  | { k: "bool"; v: boolean; line: number }
  | { k: "null"; line: number }
  | { k: "id"; name: string; line: number }
  | { k: "member"; obj: Expr; name: string; line: number }
  | { k: "index"; obj: Expr; index: Expr; line: number }
  | { k: "call"; callee: Expr; args: Expr[]; line: number }
  | { k: "arr"; items: Expr[]; line: number }
  | { k: "obj"; entries: { key: string; value: Expr }[]; line: number }
  | { k: "for"; item: string; index?: string; source: Expr; body: Expr; line: number }
  | { k: "if"; cond: Expr; body: Expr; line: number }
  | { k: "unary"; op: string; e: Expr; line: number }
  | { k: "binary"; op: string; l: Expr; r: Expr; line: number }
  | { k: "ternary"; c: Expr; t: Expr; f: Expr; line: number }
  | { k: "lambda"; params: string[]; body: Expr; line: number };

type ObjExpr = Extract<Expr, { k: "obj" }>;

export interface Decorator {
  name: string;
  args: Expr[];
}

export type Decl =
  | { kind: "param"; name: string; type: string; default?: Expr; decorators: Decorator[]; line: number }
  | { kind: "var"; name: string; value: Expr; decorators: Decorator[]; line: number }
  | {
      kind: "resource";
      name: string;
      type: string;
      apiVersion: string;
      existing: boolean;
      body: Expr;
      decorators: Decorator[];
      line: number;
    }
  | { kind: "module"; name: string; path: string; body: Expr; decorators: Decorator[]; line: number }
  | { kind: "output"; name: string; type: string; value: Expr; decorators: Decorator[]; line: number }
  | { kind: "targetScope"; value: Expr; line: number }
  | { kind: "metadata"; name: string; value: Expr; line: number }
  | { kind: "using"; path: string; line: number }
  | { kind: "assign"; name: string; value: Expr; line: number };

const BINARY: Record<string, number> = {
  "??": 1,
  "||": 2,
  "&&": 3,
  "==": 4,
  "!=": 4,
  "=~": 4,
  "!~": 4,
  "<": 5,
  ">": 5,
  "<=": 5,
  ">=": 5,
  "+": 6,
  "-": 6,
  "*": 7,
  "/": 7,
  "%": 7,
};

class ParseError extends Error {}

class Parser {
  private i = 0;
  /** Whether newlines are insignificant here (inside parentheses) or separate items (statements, arrays, objects). */
  private readonly nlSkip: boolean[];

  constructor(
    private readonly toks: Token[],
    private readonly file: string,
    /** Errors that do not stop parsing, such as a key given twice. */
    readonly problems: string[] = [],
    insideParens = false,
  ) {
    this.nlSkip = [insideParens];
    if (toks[toks.length - 1]?.kind !== "eof")
      toks.push({ kind: "eof", text: "", line: toks[toks.length - 1]?.line ?? 0 });
  }

  private fail(message: string, tok = this.peek()): never {
    throw new ParseError(`${this.file}:${tok.line}: ${message} (at ${JSON.stringify(tok.text)})`);
  }

  private raw(offset = 0): Token {
    return this.toks[Math.min(this.i + offset, this.toks.length - 1)] as Token;
  }

  peek(): Token {
    if (this.nlSkip[this.nlSkip.length - 1]) while (this.raw().kind === "nl") this.i++;
    return this.raw();
  }

  private next(): Token {
    const tok = this.peek();
    this.i++;
    return tok;
  }

  private is(text: string, kind: Token["kind"] = "punct"): boolean {
    const tok = this.peek();
    return tok.kind === kind && tok.text === text;
  }

  private expect(text: string, kind: Token["kind"] = "punct"): Token {
    if (!this.is(text, kind)) this.fail(`expected ${JSON.stringify(text)}`);
    return this.next();
  }

  private ident(): string {
    const tok = this.peek();
    if (tok.kind !== "id") this.fail("expected a name");
    this.i++;
    return tok.text;
  }

  private skipNewlines(): void {
    while (this.raw().kind === "nl") this.i++;
  }

  private withNewlines<T>(insignificant: boolean, f: () => T): T {
    this.nlSkip.push(insignificant);
    try {
      return f();
    } finally {
      this.nlSkip.pop();
    }
  }

  private literalString(): string {
    const tok = this.peek();
    if (tok.kind !== "str" || (tok.parts ?? []).some((p) => typeof p !== "string"))
      this.fail("expected a plain string");
    this.i++;
    return tok.text;
  }

  parseFile(isParamsFile: boolean): Decl[] {
    const decls: Decl[] = [];
    for (;;) {
      this.skipNewlines();
      if (this.raw().kind === "eof") return decls;
      const decorators: Decorator[] = [];
      while (this.is("@")) {
        this.next();
        let name = this.ident();
        while (this.is(".")) {
          this.next();
          name = this.ident(); // sys.description -> description
        }
        const args = this.is("(") ? this.callArgs() : [];
        decorators.push({ name, args });
        this.skipNewlines();
      }
      decls.push(this.statement(decorators, isParamsFile));
      const end = this.raw();
      if (end.kind !== "nl" && end.kind !== "eof") this.fail("expected the end of the line", end);
    }
  }

  /** The type of a param or output: its tokens up to `=` (or the line's end), as text. */
  private typeText(): string {
    const words: string[] = [];
    let depth = 0;
    for (;;) {
      const tok = this.raw();
      if (tok.kind === "eof") break;
      if (depth === 0 && (tok.kind === "nl" || (tok.kind === "punct" && tok.text === "="))) break;
      if (tok.kind === "punct" && "([{".includes(tok.text)) depth++;
      if (tok.kind === "punct" && ")]}".includes(tok.text)) depth--;
      if (tok.kind !== "nl") words.push(tok.kind === "str" ? `'${tok.text}'` : tok.text);
      this.i++;
    }
    return words.join(" ");
  }

  private statement(decorators: Decorator[], isParamsFile: boolean): Decl {
    const start = this.peek();
    const keyword = this.ident();
    const line = start.line;
    switch (keyword) {
      case "param": {
        const name = this.ident();
        if (isParamsFile) {
          this.expect("=");
          return { kind: "assign", name, value: this.expr(), line };
        }
        const type = this.typeText();
        if (this.is("=")) {
          this.next();
          return { kind: "param", name, type, default: this.expr(), decorators, line };
        }
        return { kind: "param", name, type, decorators, line };
      }
      case "var": {
        const name = this.ident();
        this.expect("=");
        return { kind: "var", name, value: this.expr(), decorators, line };
      }
      case "resource": {
        const name = this.ident();
        const typeRef = this.literalString();
        const at = typeRef.indexOf("@");
        if (at < 0) this.fail(`resource type ${typeRef} has no @api-version`);
        const existing = this.is("existing", "id");
        if (existing) this.next();
        this.expect("=");
        const body = this.expr();
        return {
          kind: "resource",
          name,
          type: typeRef.slice(0, at),
          apiVersion: typeRef.slice(at + 1),
          existing,
          body,
          decorators,
          line,
        };
      }
      case "module": {
        const name = this.ident();
        const modulePath = this.literalString();
        this.expect("=");
        return { kind: "module", name, path: modulePath, body: this.expr(), decorators, line };
      }
      case "output": {
        const name = this.ident();
        const type = this.typeText();
        this.expect("=");
        return { kind: "output", name, type, value: this.expr(), decorators, line };
      }
      case "targetScope":
        this.expect("=");
        return { kind: "targetScope", value: this.expr(), line };
      case "metadata": {
        const name = this.ident();
        this.expect("=");
        return { kind: "metadata", name, value: this.expr(), line };
      }
      case "using":
        return { kind: "using", path: this.literalString(), line };
      default:
        return this.fail(`'${keyword}' declarations are not understood by this checker`, start);
    }
  }

  expr(): Expr {
    const c = this.binary(0);
    if (!this.is("?")) return c;
    this.next();
    const t = this.expr();
    this.expect(":");
    const f = this.expr();
    return { k: "ternary", c, t, f, line: c.line };
  }

  private binary(min: number): Expr {
    let left = this.unary();
    for (;;) {
      const tok = this.peek();
      const prec = tok.kind === "punct" ? BINARY[tok.text] : undefined;
      if (prec === undefined || prec <= min) return left;
      this.next();
      const right = this.binary(prec);
      left = { k: "binary", op: tok.text, l: left, r: right, line: left.line };
    }
  }

  private unary(): Expr {
    if (this.is("!") || this.is("-")) {
      const op = this.next();
      return { k: "unary", op: op.text, e: this.unary(), line: op.line };
    }
    return this.postfix();
  }

  private postfix(): Expr {
    let e = this.primary();
    for (;;) {
      if (this.is(".") || this.is("?.") || this.is("::")) {
        this.next();
        e = { k: "member", obj: e, name: this.ident(), line: e.line };
      } else if (this.is("[")) {
        this.next();
        const index = this.withNewlines(true, () => this.expr());
        this.expect("]");
        e = { k: "index", obj: e, index, line: e.line };
      } else if (this.is("(") && (e.k === "id" || e.k === "member")) {
        e = { k: "call", callee: e, args: this.callArgs(), line: e.line };
      } else {
        return e;
      }
    }
  }

  private callArgs(): Expr[] {
    return this.withNewlines(true, () => {
      this.expect("(");
      const args: Expr[] = [];
      while (!this.is(")")) {
        args.push(this.expr());
        if (!this.is(")")) this.expect(",");
      }
      this.next();
      return args;
    });
  }

  private primary(): Expr {
    const tok = this.peek();
    const line = tok.line;
    if (tok.kind === "str") {
      this.next();
      const parts = (tok.parts ?? []).map((p) => (typeof p === "string" ? p : this.hole(p)));
      return { k: "str", parts, line };
    }
    if (tok.kind === "num") {
      this.next();
      return { k: "num", v: Number(tok.text), line };
    }
    if (tok.kind === "id") {
      if (tok.text === "true" || tok.text === "false") {
        this.next();
        return { k: "bool", v: tok.text === "true", line };
      }
      if (tok.text === "null") {
        this.next();
        return { k: "null", line };
      }
      if (tok.text === "if") {
        this.next();
        const cond = this.withNewlines(true, () => {
          this.expect("(");
          const c = this.expr();
          this.expect(")");
          return c;
        });
        return { k: "if", cond, body: this.primary(), line };
      }
      if (this.raw(1).kind === "punct" && this.raw(1).text === "=>") {
        this.next();
        this.next();
        return { k: "lambda", params: [tok.text], body: this.expr(), line };
      }
      this.next();
      return { k: "id", name: tok.text, line };
    }
    if (this.is("(")) return this.parenthesized();
    if (this.is("[")) return this.array();
    if (this.is("{")) return this.object();
    return this.fail("expected an expression");
  }

  private hole(tokens: Token[]): Expr {
    const sub = new Parser([...tokens], this.file, this.problems, true);
    const e = sub.expr();
    if (sub.peek().kind !== "eof") sub.fail("unexpected text in ${...}");
    return e;
  }

  private parenthesized(): Expr {
    // (a, b) => body
    let j = this.i + 1;
    const names: string[] = [];
    for (;;) {
      const tok = this.toks[j];
      if (tok?.kind === "nl") {
        j++;
        continue;
      }
      if (tok?.kind === "id") {
        names.push(tok.text);
        j++;
        const sep = this.toks[j];
        if (sep?.kind === "punct" && sep.text === ",") {
          j++;
          continue;
        }
      }
      break;
    }
    const close = this.toks[j];
    const arrow = this.toks[j + 1];
    if (close?.text === ")" && arrow?.text === "=>") {
      const line = this.peek().line;
      this.i = j + 2;
      return { k: "lambda", params: names, body: this.expr(), line };
    }
    return this.withNewlines(true, () => {
      this.expect("(");
      const e = this.expr();
      this.expect(")");
      return e;
    });
  }

  /** Items are separated by newlines (or commas); `[for x in xs: body]` is a loop. */
  private array(): Expr {
    const open = this.expect("[");
    return this.withNewlines(false, () => {
      this.skipNewlines();
      if (this.is("for", "id")) {
        this.next();
        let item: string;
        let index: string | undefined;
        if (this.is("(")) {
          this.next();
          item = this.ident();
          this.expect(",");
          index = this.ident();
          this.expect(")");
        } else {
          item = this.ident();
        }
        this.expect("in", "id");
        const source = this.expr();
        this.expect(":");
        const body = this.expr();
        this.skipNewlines();
        this.expect("]");
        return index === undefined
          ? { k: "for", item, source, body, line: open.line }
          : { k: "for", item, index, source, body, line: open.line };
      }
      const items: Expr[] = [];
      for (;;) {
        this.skipNewlines();
        if (this.is("]")) break;
        items.push(this.expr());
        if (this.is(",")) this.next();
        else if (this.raw().kind !== "nl" && !this.is("]")) this.fail("expected a newline, ',' or ']'");
      }
      this.next();
      return { k: "arr", items, line: open.line };
    });
  }

  private object(): Expr {
    const open = this.expect("{");
    return this.withNewlines(false, () => {
      const entries: { key: string; value: Expr }[] = [];
      for (;;) {
        this.skipNewlines();
        if (this.is("}")) break;
        const keyTok = this.peek();
        let key: string;
        if (keyTok.kind === "id") key = this.ident();
        else key = this.literalString();
        this.expect(":");
        if (entries.some((x) => x.key === key))
          this.problems.push(`${this.file}:${keyTok.line}: key '${key}' is given twice in one object`);
        entries.push({ key, value: this.expr() });
        if (this.is(",")) this.next();
        else if (this.raw().kind !== "nl" && !this.is("}")) this.fail("expected a newline, ',' or '}'");
      }
      this.next();
      return { k: "obj", entries, line: open.line };
    });
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Files and the deployment tree

export interface BicepFile {
  path: string;
  isParamsFile: boolean;
  decls: Decl[];
  params: Map<string, Extract<Decl, { kind: "param" }>>;
  vars: Map<string, Extract<Decl, { kind: "var" }>>;
  resources: Map<string, Extract<Decl, { kind: "resource" }>>;
  modules: Map<string, Extract<Decl, { kind: "module" }>>;
  outputs: Map<string, Extract<Decl, { kind: "output" }>>;
  assigns: Map<string, Extract<Decl, { kind: "assign" }>>;
  using?: string;
  /** Every name and plain string token outside comments, for "this word appears nowhere" checks. */
  words: Set<string>;
}

/** The text of the templates, by path relative to the infra folder (posix separators). */
export interface InfraSources {
  entry: string;
  paramsFile?: string;
  files: Map<string, string>;
}

/** Reads every .bicep and .bicepparam file under `infraDir`. */
export function loadInfraSources(infraDir: string, entry = "main.bicep", paramsFile = "main.bicepparam"): InfraSources {
  const files = new Map<string, string>();
  const visit = (dir: string, rel: string): void => {
    for (const name of readdirSync(dir)) {
      const full = join(dir, name);
      const relName = rel ? `${rel}/${name}` : name;
      if (statSync(full).isDirectory()) {
        if (name !== "node_modules") visit(full, relName);
      } else if (name.endsWith(".bicep") || name.endsWith(".bicepparam")) {
        files.set(relName, readFileSync(full, "utf8"));
      }
    }
  };
  visit(infraDir, "");
  return files.has(paramsFile) ? { entry, paramsFile, files } : { entry, files };
}

/** A copy whose `file` text went through `edit`; fails loudly when the edit changed nothing. */
export function withEdit(sources: InfraSources, file: string, edit: (text: string) => string): InfraSources {
  const before = sources.files.get(file);
  if (before === undefined) throw new Error(`no file ${file}`);
  const after = edit(before);
  if (after === before) throw new Error(`the edit of ${file} changed nothing: the negative test would prove nothing`);
  const files = new Map(sources.files);
  files.set(file, after);
  return { ...sources, files };
}

/** `text` with `find` replaced once; throws when `find` is absent, so a stale negative test cannot pass silently. */
export function replaceOnce(text: string, find: string | RegExp, replacement: string): string {
  const found = typeof find === "string" ? text.includes(find) : find.test(text);
  if (!found) throw new Error(`text to replace not found: ${String(find)}`);
  return text.replace(find, replacement);
}

function collectWords(tokens: Token[], into: Set<string>): void {
  for (const tok of tokens) {
    if (tok.kind === "id") into.add(tok.text);
    if (tok.kind === "str") {
      for (const p of tok.parts ?? []) {
        if (typeof p === "string") into.add(p);
        else collectWords(p, into);
      }
    }
  }
}

function parseBicep(file: string, text: string, problems: string[]): BicepFile {
  const isParamsFile = file.endsWith(".bicepparam");
  const lexer = new Lexer(text, file);
  const tokens = lexer.tokenize();
  problems.push(...lexer.errors);
  const words = new Set<string>();
  collectWords(tokens, words);
  let decls: Decl[] = [];
  try {
    const parser = new Parser(tokens, file, problems);
    decls = parser.parseFile(isParamsFile);
  } catch (e) {
    if (!(e instanceof ParseError)) throw e;
    problems.push(e.message);
  }
  const f: BicepFile = {
    path: file,
    isParamsFile,
    decls,
    params: new Map(),
    vars: new Map(),
    resources: new Map(),
    modules: new Map(),
    outputs: new Map(),
    assigns: new Map(),
    words,
  };
  const seen = new Set<string>();
  for (const d of decls) {
    if ("name" in d && d.kind !== "metadata" && d.kind !== "output" && d.kind !== "assign") {
      if (seen.has(d.name)) problems.push(`${file}:${d.line}: '${d.name}' is declared twice`);
      seen.add(d.name);
    }
    if (d.kind === "param") f.params.set(d.name, d);
    if (d.kind === "var") f.vars.set(d.name, d);
    if (d.kind === "resource") f.resources.set(d.name, d);
    if (d.kind === "module") f.modules.set(d.name, d);
    if (d.kind === "output") f.outputs.set(d.name, d);
    if (d.kind === "assign") f.assigns.set(d.name, d);
    if (d.kind === "using") f.using = d.path;
  }
  return f;
}

/** One deployment of a file: the entry file, or a module at one of its call sites (one per loop item). */
export interface Instance {
  file: BicepFile;
  label: string;
  /** The call site: the parent's scope and the module body whose `params` bind this file's params. */
  caller?: { scope: Scope; body: ObjExpr };
  conditional: boolean;
  children: Map<string, Instance[]>;
  varCache: Map<string, Value>;
}

export interface Scope {
  inst: Instance;
  locals: Map<string, Value>;
}

/** A resource as deployed: its declaration, the scope its body is read in, and whether a condition guards it. */
export interface ResourceInstance {
  model: InfraModel;
  decl: Extract<Decl, { kind: "resource" }>;
  scope: Scope;
  body: ObjExpr;
  conditional: boolean;
}

export type Value =
  | { k: "str"; v: string; secure?: boolean }
  | { k: "num"; v: number; secure?: boolean }
  | { k: "bool"; v: boolean; secure?: boolean }
  | { k: "null"; secure?: boolean }
  | { k: "arr"; items: Value[]; secure?: boolean }
  | { k: "obj"; entries: Map<string, Value>; secure?: boolean }
  /** A string with holes not known before deployment. */
  | { k: "tmpl"; parts: (string | Value)[]; secure?: boolean }
  | { k: "res"; ri: ResourceInstance; secure?: boolean }
  | { k: "prop"; ri: ResourceInstance; path: string[]; secure?: boolean }
  | { k: "mod"; inst: Instance; secure?: boolean }
  | { k: "outputs"; inst: Instance; secure?: boolean }
  | { k: "call"; name: string; target?: Value; args: Value[]; secure?: boolean }
  /** A deterministic deploy-time value, such as a param given at deployment or `subscription().id`: equal texts, equal values. */
  | { k: "sym"; text: string; secure?: boolean; of?: { value: Value; name: string } }
  | { k: "unknown"; why: string; secure?: boolean };

const unknown = (why: string): Value => ({ k: "unknown", why });

export interface InfraModel {
  sources: InfraSources;
  files: Map<string, BicepFile>;
  root: Instance;
  /** Problems found while parsing or evaluating: syntax, missing modules, undefined names, unreadable values. */
  problems: string[];
}

export function analyzeInfra(sources: InfraSources): InfraModel {
  const problems: string[] = [];
  const files = new Map<string, BicepFile>();
  for (const [p, text] of sources.files) files.set(p, parseBicep(p, text, problems));
  const entry = files.get(sources.entry);
  if (!entry) throw new Error(`entry template ${sources.entry} not found`);
  const root: Instance = {
    file: entry,
    label: sources.entry,
    conditional: false,
    children: new Map(),
    varCache: new Map(),
  };
  const model: InfraModel = { sources, files, root, problems };
  // Evaluate everything once, so that missing modules, unreadable loops and missing keys are reported up front.
  for (const inst of allInstances(model)) {
    const scope: Scope = { inst, locals: new Map() };
    for (const v of inst.file.vars.values()) evaluate(model, v.value, scope);
    for (const o of inst.file.outputs.values()) evaluate(model, o.value, scope);
    for (const ri of resourcesOf(model, inst)) for (const e of ri.body.entries) evaluate(model, e.value, ri.scope);
  }
  return model;
}

function note(model: InfraModel, message: string): void {
  if (!model.problems.includes(message)) model.problems.push(message);
}

function modulePath(from: BicepFile, ref: string): string {
  return path.normalize(path.join(path.dirname(from.path), ref));
}

function childrenOf(model: InfraModel, inst: Instance, name: string): Instance[] {
  const cached = inst.children.get(name);
  if (cached) return cached;
  const decl = inst.file.modules.get(name);
  const out: Instance[] = [];
  inst.children.set(name, out);
  if (!decl) return out;
  if (/^(br|ts)[:/]/.test(decl.path)) {
    note(
      model,
      `${inst.file.path}:${decl.line}: module '${name}' comes from a registry (${decl.path}); it cannot be read offline`,
    );
    return out;
  }
  const target = model.files.get(modulePath(inst.file, decl.path));
  if (!target) {
    note(model, `${inst.file.path}:${decl.line}: module '${name}' references ${decl.path}, which does not exist`);
    return out;
  }
  let inner: Expr = decl.body;
  while (inner.k === "if" || inner.k === "for") inner = inner.body;
  if (inner.k === "obj" && entry(inner, "scope")) {
    // Resource identities here are type and name: in another resource group equal names would not be the same resource.
    note(model, `${inst.file.path}:${decl.line}: module '${name}' sets a scope, which this checker does not follow`);
  }
  for (const { scope, body, conditional } of expandBody(
    model,
    { inst, locals: new Map() },
    decl.body,
    `module '${name}'`,
  )) {
    out.push({
      file: target,
      label: `${inst.label} > ${name}`,
      caller: { scope, body },
      conditional: conditional || inst.conditional,
      children: new Map(),
      varCache: new Map(),
    });
  }
  return out;
}

/** A resource or module body: an object, `if (c) {…}` or `[for x in xs: …]`, one result per deployed copy. */
function expandBody(
  model: InfraModel,
  scope: Scope,
  body: Expr,
  what: string,
): { scope: Scope; body: ObjExpr; conditional: boolean }[] {
  if (body.k === "obj") return [{ scope, body, conditional: false }];
  if (body.k === "if") return expandBody(model, scope, body.body, what).map((r) => ({ ...r, conditional: true }));
  if (body.k === "for") {
    const source = evaluate(model, body.source, scope);
    if (source.k !== "arr") {
      note(
        model,
        `${scope.inst.file.path}:${body.line}: cannot enumerate the loop of ${what} before deployment (${describe(source)})`,
      );
      return [];
    }
    return source.items.flatMap((item, i) => {
      const locals = new Map(scope.locals);
      locals.set(body.item, item);
      if (body.index !== undefined) locals.set(body.index, { k: "num", v: i });
      return expandBody(model, { inst: scope.inst, locals }, body.body, what);
    });
  }
  note(model, `${scope.inst.file.path}:${body.line}: ${what} has a body this checker cannot read`);
  return [];
}

const resourceCache = new WeakMap<Instance, ResourceInstance[]>();

export function resourcesOf(model: InfraModel, inst: Instance): ResourceInstance[] {
  const cached = resourceCache.get(inst);
  if (cached) return cached;
  const out: ResourceInstance[] = [];
  resourceCache.set(inst, out);
  for (const decl of inst.file.resources.values()) {
    for (const r of expandBody(model, { inst, locals: new Map() }, decl.body, `resource '${decl.name}'`)) {
      out.push({ model, decl, scope: r.scope, body: r.body, conditional: r.conditional || inst.conditional });
    }
  }
  return out;
}

export function allInstances(model: InfraModel): Instance[] {
  const out: Instance[] = [];
  const visit = (inst: Instance): void => {
    out.push(inst);
    for (const name of inst.file.modules.keys()) for (const child of childrenOf(model, inst, name)) visit(child);
  };
  visit(model.root);
  return out;
}

export function allResources(model: InfraModel): ResourceInstance[] {
  return allInstances(model).flatMap((inst) => resourcesOf(model, inst));
}

// ---------------------------------------------------------------------------------------------------------------
// Evaluation

function entry(obj: ObjExpr, key: string): Expr | undefined {
  return obj.entries.find((e) => e.key === key)?.value;
}

function secured(v: Value, secure: boolean): Value {
  return secure ? { ...v, secure: true } : v;
}

function paramValue(model: InfraModel, inst: Instance, name: string): Value {
  const decl = inst.file.params.get(name);
  if (!decl) return unknown(`no param ${name}`);
  const secure = decl.decorators.some((d) => d.name === "secure");
  if (inst.caller) {
    const params = entry(inst.caller.body, "params");
    const given = params?.k === "obj" ? entry(params, name) : undefined;
    if (given) return secured(evaluate(model, given, inst.caller.scope), secure);
  } else if (model.sources.paramsFile) {
    const pf = model.files.get(model.sources.paramsFile);
    const assign = pf?.assigns.get(name);
    if (pf && assign) {
      const pfInst: Instance = {
        file: pf,
        label: pf.path,
        conditional: false,
        children: new Map(),
        varCache: new Map(),
      };
      return secured(evaluate(model, assign.value, { inst: pfInst, locals: new Map() }), secure);
    }
  }
  if (decl.default) return secured(evaluate(model, decl.default, { inst, locals: new Map() }), secure);
  return { k: "sym", text: `param ${name} of ${inst.label}`, secure };
}

function resourceSymbol(model: InfraModel, inst: Instance, name: string): Value {
  const decl = inst.file.resources.get(name);
  if (!decl) return unknown(`no resource ${name}`);
  const copies = resourcesOf(model, inst).filter((r) => r.decl === decl);
  if (decl.body.k === "for") return unknown(`resource collection ${name}`);
  const only = copies[0];
  return only ? { k: "res", ri: only } : unknown(`resource ${name} could not be read`);
}

export function resourceName(model: InfraModel, ri: ResourceInstance): Value {
  const e = entry(ri.body, "name");
  return e ? evaluate(model, e, ri.scope) : unknown(`resource ${ri.decl.name} has no name`);
}

function member(model: InfraModel, obj: Value, name: string): Value {
  switch (obj.k) {
    case "obj": {
      const found = obj.entries.get(name);
      if (found) return found;
      note(model, `no key '${name}' in ${describe(obj).slice(0, 120)}`);
      return unknown(`no key ${name}`);
    }
    case "res":
      if (name === "name") return resourceName(model, obj.ri);
      if (name === "type") return { k: "str", v: obj.ri.decl.type };
      return { k: "prop", ri: obj.ri, path: [name] };
    case "prop":
      return { k: "prop", ri: obj.ri, path: [...obj.path, name] };
    case "mod":
      return name === "outputs" ? { k: "outputs", inst: obj.inst } : unknown(`module property ${name}`);
    case "outputs": {
      const out = obj.inst.file.outputs.get(name);
      if (!out) return unknown(`${obj.inst.file.path} has no output ${name}`);
      return evaluate(model, out.value, { inst: obj.inst, locals: new Map() });
    }
    case "call":
    case "sym":
    case "tmpl":
      return { k: "sym", text: `${describe(obj)}.${name}`, secure: isSecret(obj), of: { value: obj, name } };
    default:
      return unknown(`${describe(obj)}.${name}`);
  }
}

function strOf(v: Value | undefined): string | undefined {
  return v?.k === "str" ? v.v : undefined;
}

function callBuiltin(name: string, args: Value[]): Value {
  const [a, b] = args;
  switch (name) {
    case "string":
      if (a?.k === "str") return a;
      if (a?.k === "num" || a?.k === "bool") return { k: "str", v: String(a.v), secure: a.secure };
      break;
    case "toLower":
      if (a?.k === "str") return { k: "str", v: a.v.toLowerCase(), secure: a.secure };
      break;
    case "toUpper":
      if (a?.k === "str") return { k: "str", v: a.v.toUpperCase(), secure: a.secure };
      break;
    case "take":
      if (a?.k === "str" && b?.k === "num") return { k: "str", v: a.v.slice(0, b.v) };
      if (a?.k === "arr" && b?.k === "num") return { k: "arr", items: a.items.slice(0, b.v) };
      break;
    case "concat":
      if (args.every((x) => x.k === "arr"))
        return { k: "arr", items: args.flatMap((x) => (x.k === "arr" ? x.items : [])) };
      if (args.every((x) => x.k === "str")) return { k: "str", v: args.map(strOf).join("") };
      break;
    case "union":
      if (args.every((x) => x.k === "obj")) {
        const entries = new Map<string, Value>();
        for (const x of args) if (x.k === "obj") for (const [key, v] of x.entries) entries.set(key, v);
        return { k: "obj", entries };
      }
      break;
  }
  return { k: "call", name, args, secure: args.some(isSecret) };
}

export function evaluate(model: InfraModel, e: Expr, scope: Scope): Value {
  const { inst } = scope;
  switch (e.k) {
    case "str": {
      const parts: (string | Value)[] = [];
      for (const p of e.parts) {
        const v = typeof p === "string" ? ({ k: "str", v: p } as Value) : evaluate(model, p, scope);
        if (v.k === "str" && !v.secure && typeof parts[parts.length - 1] === "string") {
          parts[parts.length - 1] += v.v;
        } else if (v.k === "str" && !v.secure) parts.push(v.v);
        else if (v.k === "num" || v.k === "bool") parts.push(String(v.v));
        else parts.push(v);
      }
      if (parts.length === 0) return { k: "str", v: "" };
      if (parts.length === 1 && typeof parts[0] === "string") return { k: "str", v: parts[0] };
      return { k: "tmpl", parts, secure: parts.some((p) => typeof p !== "string" && isSecret(p)) };
    }
    case "num":
      return { k: "num", v: e.v };
    case "bool":
      return { k: "bool", v: e.v };
    case "null":
      return { k: "null" };
    case "id": {
      const local = scope.locals.get(e.name);
      if (local) return local;
      const f = inst.file;
      if (f.params.has(e.name)) return paramValue(model, inst, e.name);
      const v = f.vars.get(e.name);
      if (v) {
        const cached = inst.varCache.get(e.name);
        if (cached) return cached;
        inst.varCache.set(e.name, unknown(`variable ${e.name} refers to itself`));
        const value = evaluate(model, v.value, { inst, locals: new Map() });
        inst.varCache.set(e.name, value);
        return value;
      }
      if (f.resources.has(e.name)) return resourceSymbol(model, inst, e.name);
      if (f.modules.has(e.name)) {
        const children = childrenOf(model, inst, e.name);
        const only = children[0];
        return children.length === 1 && only ? { k: "mod", inst: only } : unknown(`module collection ${e.name}`);
      }
      return unknown(`undefined name ${e.name}`);
    }
    case "member":
      return member(model, evaluate(model, e.obj, scope), e.name);
    case "index": {
      const obj = evaluate(model, e.obj, scope);
      const index = evaluate(model, e.index, scope);
      if (obj.k === "arr" && index.k === "num") return obj.items[index.v] ?? unknown("index out of range");
      if (obj.k === "obj" && index.k === "str") return obj.entries.get(index.v) ?? unknown(`no key ${index.v}`);
      return unknown(`${describe(obj)}[${describe(index)}]`);
    }
    case "call": {
      const args = e.args.map((a) => evaluate(model, a, scope));
      if (e.callee.k === "id") return callBuiltin(e.callee.name, args);
      if (e.callee.k === "member") {
        const target = evaluate(model, e.callee.obj, scope);
        if (
          target.k === "unknown" &&
          e.callee.obj.k === "id" &&
          (e.callee.obj.name === "az" || e.callee.obj.name === "sys")
        ) {
          return callBuiltin(e.callee.name, args);
        }
        return { k: "call", name: e.callee.name, target, args };
      }
      return unknown("call of an expression");
    }
    case "arr":
      return { k: "arr", items: e.items.map((x) => evaluate(model, x, scope)) };
    case "obj":
      return { k: "obj", entries: new Map(e.entries.map((x) => [x.key, evaluate(model, x.value, scope)])) };
    case "for": {
      const source = evaluate(model, e.source, scope);
      if (source.k !== "arr") return unknown(`loop over ${describe(source)}`);
      return {
        k: "arr",
        items: source.items.map((item, i) => {
          const locals = new Map(scope.locals);
          locals.set(e.item, item);
          if (e.index !== undefined) locals.set(e.index, { k: "num", v: i });
          return evaluate(model, e.body, { inst, locals });
        }),
      };
    }
    case "ternary": {
      const c = evaluate(model, e.c, scope);
      if (c.k === "bool") return evaluate(model, c.v ? e.t : e.f, scope);
      return unknown(`condition ${describe(c)}`);
    }
    case "binary": {
      const l = evaluate(model, e.l, scope);
      const r = evaluate(model, e.r, scope);
      if (e.op === "??")
        return l.k === "null" ? r : l.k === "unknown" ? unknown(`${describe(l)} ?? ${describe(r)}`) : l;
      if ((e.op === "==" || e.op === "!=") && (l.k === "str" || l.k === "num" || l.k === "bool") && l.k === r.k) {
        return { k: "bool", v: (l.v === r.v) === (e.op === "==") };
      }
      if (e.op === "+" && l.k === "num" && r.k === "num") return { k: "num", v: l.v + r.v };
      return unknown(`${describe(l)} ${e.op} ${describe(r)}`);
    }
    case "unary": {
      const v = evaluate(model, e.e, scope);
      if (e.op === "!" && v.k === "bool") return { k: "bool", v: !v.v };
      if (e.op === "-" && v.k === "num") return { k: "num", v: -v.v };
      return unknown(`${e.op}${describe(v)}`);
    }
    case "if":
    case "lambda":
      return unknown(e.k);
  }
}

/** A canonical text of a value; two values with the same text denote the same thing (unknowns never do). */
export function describe(v: Value): string {
  switch (v.k) {
    case "str":
      return JSON.stringify(v.v);
    case "num":
    case "bool":
      return String(v.v);
    case "null":
      return "null";
    case "arr":
      return `[${v.items.map(describe).join(", ")}]`;
    case "obj":
      return `{${[...v.entries].map(([key, x]) => `${key}: ${describe(x)}`).join(", ")}}`;
    case "tmpl":
      return `'${v.parts.map((p) => (typeof p === "string" ? p : `\${${describe(p)}}`)).join("")}'`;
    case "res":
      return resourceIdentity(v.ri);
    case "prop":
      return `${resourceIdentity(v.ri)}.${v.path.join(".")}`;
    case "mod":
      return `module ${v.inst.label}`;
    case "outputs":
      return `outputs of ${v.inst.label}`;
    case "call":
      return `${v.target ? `${describe(v.target)}.` : ""}${v.name}(${v.args.map(describe).join(", ")})`;
    case "sym":
      return v.text;
    case "unknown":
      return `<${v.why}>`;
  }
}

const identityCache = new WeakMap<ResourceInstance, string>();

/** `type(parent/name)`: an `existing` reference and the declaration it points to have the same identity. */
function resourceIdentity(ri: ResourceInstance): string {
  const cached = identityCache.get(ri);
  if (cached) return cached;
  identityCache.set(ri, `${ri.decl.type}(<refers to itself>)`);
  const name = describe(resourceName(ri.model, ri));
  const parentExpr = entry(ri.body, "parent");
  const parent = parentExpr ? evaluate(ri.model, parentExpr, ri.scope) : undefined;
  const id = `${ri.decl.type.toLowerCase()}(${parent?.k === "res" ? `${resourceIdentity(parent.ri)}/` : ""}${name})`;
  identityCache.set(ri, id);
  return id;
}

function hasUnknown(v: Value): boolean {
  switch (v.k) {
    case "unknown":
      return true;
    case "arr":
      return v.items.some(hasUnknown);
    case "obj":
      return [...v.entries.values()].some(hasUnknown);
    case "tmpl":
      return v.parts.some((p) => typeof p !== "string" && hasUnknown(p));
    case "call":
      return v.args.some(hasUnknown) || (v.target !== undefined && hasUnknown(v.target));
    case "sym":
    case "res":
    case "prop":
      return describe(v).includes("<");
    default:
      return false;
  }
}

/** Two values known to denote the same thing. */
export function same(a: Value, b: Value): boolean {
  return !hasUnknown(a) && !hasUnknown(b) && describe(a) === describe(b);
}

export function isSecret(v: Value): boolean {
  if (v.secure) return true;
  switch (v.k) {
    case "call":
      return v.name.startsWith("list") || v.args.some(isSecret) || (v.target !== undefined && isSecret(v.target));
    case "tmpl":
      return v.parts.some((p) => typeof p !== "string" && isSecret(p));
    case "arr":
      return v.items.some(isSecret);
    case "obj":
      return [...v.entries.values()].some(isSecret);
    default:
      return false;
  }
}

/** Evaluates `body.<path>` of a resource. */
export function bodyValue(model: InfraModel, ri: ResourceInstance, ...keys: string[]): Value {
  const [first, ...rest] = keys;
  if (first === undefined) return unknown("empty path");
  const e = entry(ri.body, first);
  if (!e) return unknown(`${ri.decl.name} has no ${first}`);
  let v = evaluate(model, e, ri.scope);
  for (const key of rest) v = v.k === "obj" ? (v.entries.get(key) ?? unknown(`no ${key}`)) : unknown(`no ${key}`);
  return v;
}

// ---------------------------------------------------------------------------------------------------------------
// Walking expressions: names, params, modules

const BUILTIN_FUNCTIONS = new Set(
  (
    "any array base64 base64ToJson base64ToString bool coalesce concat contains dataUri dataUriToString dateTimeAdd " +
    "dateTimeFromEpoch dateTimeToEpoch deployer deployment empty endsWith environment extensionResourceId filter first " +
    "flatten format getSecret groupBy guid indexOf int intersection items join json last lastIndexOf length listKeys " +
    "loadFileAsBase64 loadJsonContent loadTextContent loadYamlContent managementGroup managementGroupResourceId map " +
    "mapValue max min newGuid objectKeys padLeft pickZones range readEnvironmentVariable reduce reference replace " +
    "resourceGroup resourceId shallowMerge skip sort split startsWith string subscription subscriptionResourceId " +
    "substring take tenant tenantResourceId toLower toObject toUpper trim tryGet union uniqueString uri uriComponent " +
    "uriComponentToString utcNow"
  ).split(" "),
);

interface Use {
  name: string;
  line: number;
  /** `X.outputs.Y` when X is a module: Y. */
  output?: string;
  isCallee: boolean;
}

function walk(e: Expr, locals: Set<string>, uses: Use[]): void {
  switch (e.k) {
    case "id":
      if (!locals.has(e.name)) uses.push({ name: e.name, line: e.line, isCallee: false });
      return;
    case "str":
      for (const p of e.parts) if (typeof p !== "string") walk(p, locals, uses);
      return;
    case "member":
      if (e.obj.k === "member" && e.obj.name === "outputs" && e.obj.obj.k === "id" && !locals.has(e.obj.obj.name)) {
        uses.push({ name: e.obj.obj.name, line: e.line, output: e.name, isCallee: false });
        return;
      }
      walk(e.obj, locals, uses);
      return;
    case "index":
      walk(e.obj, locals, uses);
      walk(e.index, locals, uses);
      return;
    case "call":
      if (e.callee.k === "id") uses.push({ name: e.callee.name, line: e.line, isCallee: true });
      else if (e.callee.k === "member") walk(e.callee.obj, locals, uses);
      else walk(e.callee, locals, uses);
      for (const a of e.args) walk(a, locals, uses);
      return;
    case "arr":
      for (const x of e.items) walk(x, locals, uses);
      return;
    case "obj":
      for (const x of e.entries) walk(x.value, locals, uses);
      return;
    case "for": {
      walk(e.source, locals, uses);
      const inner = new Set(locals).add(e.item);
      if (e.index !== undefined) inner.add(e.index);
      walk(e.body, inner, uses);
      return;
    }
    case "if":
      walk(e.cond, locals, uses);
      walk(e.body, locals, uses);
      return;
    case "unary":
      walk(e.e, locals, uses);
      return;
    case "binary":
      walk(e.l, locals, uses);
      walk(e.r, locals, uses);
      return;
    case "ternary":
      walk(e.c, locals, uses);
      walk(e.t, locals, uses);
      walk(e.f, locals, uses);
      return;
    case "lambda":
      walk(e.body, new Set([...locals, ...e.params]), uses);
      return;
    default:
      return;
  }
}

function usesOf(f: BicepFile): Use[] {
  const uses: Use[] = [];
  for (const d of f.decls) {
    switch (d.kind) {
      case "param":
        if (d.default) walk(d.default, new Set(), uses);
        break;
      case "var":
      case "output":
      case "targetScope":
      case "metadata":
      case "assign":
        walk(d.value, new Set(), uses);
        break;
      case "resource":
      case "module":
        walk(d.body, new Set(), uses);
        break;
      default:
        break;
    }
    if ("decorators" in d) for (const dec of d.decorators) for (const a of dec.args) walk(a, new Set(), uses);
  }
  return uses;
}

/** Parse and evaluation problems: syntax errors, missing module files, unreadable loops. */
export function checkSyntax(model: InfraModel): string[] {
  return [...model.problems];
}

/** Every `(`, `[`, `{` is closed, in every file. */
export function checkAllBalanced(sources: InfraSources): string[] {
  return [...sources.files].flatMap(([file, text]) => checkBalanced(file, text));
}

/** Every name refers to a declaration, a loop variable or a Bicep function. */
export function checkNames(model: InfraModel): string[] {
  const problems: string[] = [];
  for (const f of model.files.values()) {
    const declared = new Set([...f.params.keys(), ...f.vars.keys(), ...f.resources.keys(), ...f.modules.keys()]);
    for (const use of usesOf(f)) {
      if (use.isCallee) {
        if (!BUILTIN_FUNCTIONS.has(use.name)) problems.push(`${f.path}:${use.line}: unknown function ${use.name}()`);
      } else if (!declared.has(use.name) && use.name !== "az" && use.name !== "sys") {
        problems.push(`${f.path}:${use.line}: '${use.name}' is not declared`);
      }
    }
  }
  return problems;
}

/** Every `param` of every template is used in its file. */
export function checkParamsUsed(model: InfraModel): string[] {
  const problems: string[] = [];
  for (const f of model.files.values()) {
    const used = new Set(usesOf(f).map((u) => u.name));
    for (const p of f.params.values())
      if (!used.has(p.name)) problems.push(`${f.path}:${p.line}: param '${p.name}' is never used`);
  }
  return problems;
}

/** Every module file exists; each call site passes every required param, only declared ones, and reads only declared outputs. */
export function checkModules(model: InfraModel): string[] {
  const problems: string[] = [];
  for (const f of model.files.values()) {
    for (const m of f.modules.values()) {
      const target = model.files.get(modulePath(f, m.path));
      if (!target) {
        problems.push(`${f.path}:${m.line}: module '${m.name}' references ${m.path}, which does not exist`);
        continue;
      }
      let body: Expr = m.body;
      while (body.k === "if" || body.k === "for") body = body.body;
      const params = body.k === "obj" ? entry(body, "params") : undefined;
      const given = new Set(params?.k === "obj" ? params.entries.map((x) => x.key) : []);
      for (const name of given) {
        if (!target.params.has(name))
          problems.push(`${f.path}:${m.line}: module '${m.name}' passes '${name}', which ${m.path} does not declare`);
      }
      for (const p of target.params.values()) {
        if (!p.default && !given.has(p.name))
          problems.push(`${f.path}:${m.line}: module '${m.name}' does not pass required param '${p.name}'`);
      }
    }
    for (const use of usesOf(f)) {
      if (use.output === undefined) continue;
      const m = f.modules.get(use.name);
      const target = m && model.files.get(modulePath(f, m.path));
      if (target && !target.outputs.has(use.output)) {
        problems.push(`${f.path}:${use.line}: ${use.name}.outputs.${use.output} is not an output of ${m?.path}`);
      }
    }
  }
  return problems;
}

/** The parameters file targets the entry template, names only declared params and gives every param without a default. */
export function checkParamsFile(model: InfraModel): string[] {
  const { paramsFile, entry: entryPath } = model.sources;
  if (!paramsFile) return [];
  const pf = model.files.get(paramsFile);
  const main = model.files.get(entryPath);
  if (!pf || !main) return [`${paramsFile} or ${entryPath} missing`];
  const problems: string[] = [];
  if (pf.using === undefined || modulePath(pf, pf.using) !== entryPath) {
    problems.push(`${paramsFile}: 'using' must name ${entryPath} (found ${pf.using ?? "none"})`);
  }
  for (const a of pf.assigns.values())
    if (!main.params.has(a.name)) problems.push(`${paramsFile}:${a.line}: '${a.name}' is not a param of ${entryPath}`);
  for (const p of main.params.values()) {
    if (!p.default && !pf.assigns.has(p.name))
      problems.push(`${paramsFile}: required param '${p.name}' of ${entryPath} is not given`);
  }
  return problems;
}

/** No output carries a secret: a @secure param or the result of a list*() call. */
export function checkOutputsHoldNoSecrets(model: InfraModel): string[] {
  return allInstances(model).flatMap((inst) =>
    [...inst.file.outputs.values()]
      .filter((o) => isSecret(evaluate(model, o.value, { inst, locals: new Map() })))
      .map((o) => `${inst.file.path}:${o.line}: output '${o.name}' exposes a secret`),
  );
}

// ---------------------------------------------------------------------------------------------------------------
// The function app, its settings and its storage

export interface FunctionApp {
  ri: ResourceInstance;
  /** Merged app settings of every `sites/config` 'appsettings' and `siteConfig.appSettings` aimed at this app. */
  settings: Map<string, Value>;
}

const lower = (s: string): string => s.toLowerCase();

function ofType(model: InfraModel, type: string, includeExisting = false): ResourceInstance[] {
  return allResources(model).filter((r) => lower(r.decl.type) === lower(type) && (includeExisting || !r.decl.existing));
}

/** The function apps the template creates (`Microsoft.Web/sites` whose kind names functionapp) with their settings. */
export function functionApps(model: InfraModel): { apps: FunctionApp[]; problems: string[] } {
  const problems: string[] = [];
  const apps: FunctionApp[] = ofType(model, "Microsoft.Web/sites")
    .filter((ri) => {
      const kind = bodyValue(model, ri, "kind");
      return kind.k === "str" && kind.v.includes("functionapp");
    })
    .map((ri) => ({ ri, settings: new Map<string, Value>() }));
  const target = (site: Value, where: string): FunctionApp | undefined => {
    const app = site.k === "res" ? apps.find((a) => same({ k: "res", ri: a.ri }, site)) : undefined;
    if (!app) problems.push(`${where}: app settings for ${describe(site)}, which is no function app of this template`);
    return app;
  };
  for (const app of apps) {
    const list = bodyValue(model, app.ri, "properties", "siteConfig", "appSettings");
    if (list.k === "arr") {
      for (const item of list.items) {
        const name = item.k === "obj" ? item.entries.get("name") : undefined;
        const value = item.k === "obj" ? item.entries.get("value") : undefined;
        if (name?.k === "str" && value) app.settings.set(name.v, value);
        else problems.push(`${app.ri.scope.inst.file.path}: an appSettings entry without a plain name`);
      }
    }
  }
  for (const ri of ofType(model, "Microsoft.Web/sites/config")) {
    const where = `${ri.scope.inst.file.path}:${ri.decl.line}`;
    const name = resourceName(model, ri);
    if (name.k !== "str" || name.v.split("/").pop() !== "appsettings") continue;
    if (ri.conditional) {
      problems.push(`${where}: appsettings behind a condition may not be applied`);
      continue;
    }
    const parentExpr = entry(ri.body, "parent");
    if (!parentExpr) {
      problems.push(`${where}: appsettings without 'parent' cannot be tied to a function app`);
      continue;
    }
    const app = target(evaluate(model, parentExpr, ri.scope), where);
    const props = bodyValue(model, ri, "properties");
    if (props.k !== "obj") problems.push(`${where}: appsettings properties are not an object literal`);
    else if (app) for (const [key, v] of props.entries) app.settings.set(key, v);
  }
  if (apps.length === 0)
    problems.push("the template creates no function app (Microsoft.Web/sites of kind functionapp)");
  return { apps, problems };
}

/** Whether a connection named `name` is configured: as a connection string, or identity-based for every service given. */
export function connectionConfigured(
  settings: ReadonlyMap<string, Value>,
  name: string,
  services: ("blob" | "queue" | "table")[],
): boolean {
  if (settings.has(name)) return true;
  if (settings.has(`${name}__accountName`)) return true;
  return services.length > 0 && services.every((s) => settings.has(`${name}__${s}ServiceUri`));
}

/** Every required setting is set on the function app; AzureWebJobsStorage may be identity-based (`__accountName` or service URIs). */
export function checkRequiredSettings(app: FunctionApp, required: readonly string[]): string[] {
  return required
    .filter((name) =>
      name === "AzureWebJobsStorage"
        ? !connectionConfigured(app.settings, name, ["blob", "queue", "table"])
        : !app.settings.has(name),
    )
    .map((name) => `required setting ${name} is not set in the function app's app settings`);
}

/** `name` is no app setting, and appears in no template outside comments. */
export function checkNeverSet(model: InfraModel, apps: FunctionApp[], name: string): string[] {
  const problems: string[] = [];
  for (const app of apps) if (app.settings.has(name)) problems.push(`the function app sets ${name}`);
  for (const f of model.files.values())
    if (f.words.has(name)) problems.push(`${f.path} mentions ${name} outside a comment`);
  return problems;
}

/** The storage account the app's AzureWebJobsStorage connection points at. */
export function appStorageAccountName(app: FunctionApp): Value | undefined {
  return app.settings.get("AzureWebJobsStorage__accountName");
}

function storageAccountOf(model: InfraModel, ri: ResourceInstance): Value {
  let current: ResourceInstance = ri;
  for (let hops = 0; hops < 5; hops++) {
    if (lower(current.decl.type) === "microsoft.storage/storageaccounts") return resourceName(model, current);
    const parentExpr = entry(current.body, "parent");
    if (!parentExpr) break;
    const parent = evaluate(model, parentExpr, current.scope);
    if (parent.k !== "res") break;
    current = parent.ri;
  }
  const name = resourceName(model, ri);
  if (name.k === "str" && name.v.includes("/")) return { k: "str", v: name.v.split("/")[0] as string };
  return unknown(`storage account of ${ri.decl.name}`);
}

/** The queues the template creates in the storage account named `account`. */
export function createdQueues(model: InfraModel, account: Value): { queues: Set<string>; problems: string[] } {
  const queues = new Set<string>();
  const problems: string[] = [];
  for (const ri of ofType(model, "Microsoft.Storage/storageAccounts/queueServices/queues")) {
    const where = `${ri.scope.inst.file.path}:${ri.decl.line}`;
    if (ri.conditional) {
      problems.push(`${where}: queue '${ri.decl.name}' is conditional; it may not exist`);
      continue;
    }
    const name = resourceName(model, ri);
    if (name.k !== "str") {
      problems.push(`${where}: queue name ${describe(name)} is not known before deployment`);
      continue;
    }
    const owner = storageAccountOf(model, ri);
    if (!same(owner, account)) {
      problems.push(
        `${where}: queue ${name.v} is in ${describe(owner)}, not the app's storage account ${describe(account)}`,
      );
      continue;
    }
    queues.add(name.v.split("/").pop() as string);
  }
  return { queues, problems };
}

/** Storage queue naming rules: 3-63 characters, lowercase letters, digits and single hyphens, no hyphen at either end. */
export function validQueueName(name: string): boolean {
  return /^[a-z0-9]([a-z0-9]|-(?!-)){1,61}[a-z0-9]$/.test(name);
}

/** Every storage account the template creates refuses shared keys, old TLS and public blobs. */
export function checkStorageHardening(model: InfraModel): string[] {
  const accounts = ofType(model, "Microsoft.Storage/storageAccounts");
  if (accounts.length === 0) return ["the template creates no storage account"];
  const problems: string[] = [];
  for (const ri of accounts) {
    const where = `${ri.scope.inst.file.path}:${ri.decl.line}`;
    const expect = (key: string, want: Value): void => {
      const got = bodyValue(model, ri, "properties", key);
      if (describe(got) !== describe(want))
        problems.push(`${where}: properties.${key} is ${describe(got)}, expected ${describe(want)}`);
    };
    expect("allowSharedKeyAccess", { k: "bool", v: false });
    expect("minimumTlsVersion", { k: "str", v: "TLS1_2" });
    expect("allowBlobPublicAccess", { k: "bool", v: false });
    const https = bodyValue(model, ri, "properties", "supportsHttpsTrafficOnly");
    if (https.k === "bool" && !https.v) problems.push(`${where}: supportsHttpsTrafficOnly is false`);
  }
  return problems;
}

/** The function app: Linux, system-assigned identity, HTTPS only, FTPS disabled, TLS 1.2, Node 20, no key-based deployment storage. */
export function checkFunctionAppHardening(model: InfraModel, app: FunctionApp): string[] {
  const where = `${app.ri.scope.inst.file.path}:${app.ri.decl.line}`;
  const problems: string[] = [];
  const got = (...keys: string[]): string => describe(bodyValue(model, app.ri, ...keys));
  const kind = bodyValue(model, app.ri, "kind");
  if (kind.k !== "str" || !kind.v.includes("linux"))
    problems.push(`${where}: kind ${describe(kind)} is not a Linux function app`);
  const identity = bodyValue(model, app.ri, "identity", "type");
  if (identity.k !== "str" || !identity.v.includes("SystemAssigned"))
    problems.push(`${where}: no system-assigned identity (identity.type ${describe(identity)})`);
  if (got("properties", "httpsOnly") !== "true")
    problems.push(`${where}: httpsOnly is ${got("properties", "httpsOnly")}`);
  if (got("properties", "siteConfig", "ftpsState") !== '"Disabled"')
    problems.push(`${where}: siteConfig.ftpsState is ${got("properties", "siteConfig", "ftpsState")}`);
  if (got("properties", "siteConfig", "minTlsVersion") !== '"1.2"')
    problems.push(`${where}: siteConfig.minTlsVersion is ${got("properties", "siteConfig", "minTlsVersion")}`);
  const flexRuntime = `${got("properties", "functionAppConfig", "runtime", "name")} ${got("properties", "functionAppConfig", "runtime", "version")}`;
  const linuxFx = got("properties", "siteConfig", "linuxFxVersion");
  if (flexRuntime !== '"node" "20"' && lower(linuxFx) !== '"node|20"')
    problems.push(`${where}: runtime is not Node 20 (${flexRuntime}, ${linuxFx})`);
  const deployAuth = got("properties", "functionAppConfig", "deployment", "storage", "authentication", "type");
  if (deployAuth.includes("ConnectionString"))
    problems.push(`${where}: the deployment storage is reached with a connection string`);
  for (const key of ["FUNCTIONS_EXTENSION_VERSION", "FUNCTIONS_WORKER_RUNTIME", "WEBSITE_RUN_FROM_PACKAGE"]) {
    if (flexRuntime === '"node" "20"' && app.settings.has(key))
      problems.push(`${key} must not be set on a Flex Consumption app`);
  }
  return problems;
}

export interface RoleRequirement {
  what: string;
  /** Any of these built-in role definition GUIDs satisfies it. */
  roleIds: string[];
  /** The resource the role must be assigned on (or above: a role assigned without a scope covers the resource group). */
  scopeType: string;
  scopeName: Value;
}

function stringLeaves(v: Value): string[] {
  switch (v.k) {
    case "str":
      return [v.v];
    case "tmpl":
      return v.parts.flatMap((p) => (typeof p === "string" ? [p] : stringLeaves(p)));
    case "call":
      return v.args.flatMap(stringLeaves);
    case "arr":
      return v.items.flatMap(stringLeaves);
    default:
      return [];
  }
}

/** Each requirement is met by a role assignment to the app's own system-assigned identity on the right resource. */
export function checkRoleAssignments(model: InfraModel, app: FunctionApp, requirements: RoleRequirement[]): string[] {
  const assignments = ofType(model, "Microsoft.Authorization/roleAssignments").filter((ri) => !ri.conditional);
  const appIdentity: Value = { k: "prop", ri: app.ri, path: ["identity", "principalId"] };
  const problems: string[] = [];
  for (const req of requirements) {
    const ok = assignments.some((ri) => {
      const principal = bodyValue(model, ri, "properties", "principalId");
      if (!same(principal, appIdentity)) return false;
      const roleId = stringLeaves(bodyValue(model, ri, "properties", "roleDefinitionId"))
        .join(" ")
        .toLowerCase();
      if (!req.roleIds.some((id) => roleId.includes(id.toLowerCase()))) return false;
      // Least privilege: on the resource itself, not on the resource group around it.
      const scopeExpr = entry(ri.body, "scope");
      if (!scopeExpr) return false;
      const scope = evaluate(model, scopeExpr, ri.scope);
      return (
        scope.k === "res" &&
        lower(scope.ri.decl.type) === lower(req.scopeType) &&
        same(resourceName(model, scope.ri), req.scopeName)
      );
    });
    if (!ok)
      problems.push(
        `no role assignment gives the function app's identity ${req.what} on ${req.scopeType} ${describe(req.scopeName)}`,
      );
  }
  return problems;
}

/** Each named setting is `@Microsoft.KeyVault(SecretUri=<a secret of this template>)`, in a vault the app may read. */
export function checkKeyVaultReferences(
  model: InfraModel,
  app: FunctionApp,
  names: string[],
  secretsUserRoleId: string,
): string[] {
  const problems: string[] = [];
  for (const name of names) {
    const v = app.settings.get(name);
    const secret =
      v?.k === "tmpl" && v.parts.length === 3 && v.parts[0] === "@Microsoft.KeyVault(SecretUri=" && v.parts[2] === ")"
        ? v.parts[1]
        : undefined;
    if (
      !secret ||
      typeof secret === "string" ||
      secret.k !== "prop" ||
      lower(secret.ri.decl.type) !== "microsoft.keyvault/vaults/secrets" ||
      !["properties.secretUri", "properties.secretUriWithVersion"].includes(secret.path.join("."))
    ) {
      problems.push(
        `${name} is ${v ? describe(v) : "not set"}, not a Key Vault reference to a secret of this template`,
      );
      continue;
    }
    const vaultExpr = entry(secret.ri.body, "parent");
    const vault = vaultExpr ? evaluate(model, vaultExpr, secret.ri.scope) : undefined;
    if (vault?.k !== "res") {
      problems.push(`${name}: the secret's vault is not known`);
      continue;
    }
    if (describe(bodyValue(model, vault.ri, "properties", "enableRbacAuthorization")) !== "true") {
      problems.push(`${name}: the vault does not use RBAC authorization, so a role assignment grants nothing`);
    }
    const stored = bodyValue(model, secret.ri, "properties", "value");
    if (!isSecret(stored))
      problems.push(
        `${name}: the secret's value ${describe(stored)} comes from neither a @secure param nor a list*() call`,
      );
    problems.push(
      ...checkRoleAssignments(model, app, [
        {
          what: "Key Vault Secrets User",
          roleIds: [secretsUserRoleId],
          scopeType: "Microsoft.KeyVault/vaults",
          scopeName: resourceName(model, vault.ri),
        },
      ]),
    );
  }
  return problems;
}

/** A secret passed to a module lands in a @secure param, and a @secure param of a module is fed from a @secure one. */
export function checkSecureParams(model: InfraModel): string[] {
  const problems: string[] = [];
  for (const inst of allInstances(model)) {
    const caller = inst.caller;
    const params = caller ? entry(caller.body, "params") : undefined;
    if (!caller || params?.k !== "obj") continue;
    for (const { key, value } of params.entries) {
      const decl = inst.file.params.get(key);
      if (!decl) continue;
      const secure = decl.decorators.some((d) => d.name === "secure");
      if (!secure && isSecret(evaluate(model, value, caller.scope))) {
        problems.push(`${inst.file.path}:${decl.line}: param '${key}' receives a secret but is not @secure()`);
      }
      if (secure && value.k === "id") {
        const source = caller.scope.inst.file.params.get(value.name);
        if (source && !source.decorators.some((d) => d.name === "secure")) {
          problems.push(
            `${caller.scope.inst.file.path}:${source.line}: param '${source.name}' feeds @secure() '${key}' of ${inst.file.path} but is not @secure()`,
          );
        }
      }
    }
  }
  return problems;
}

/** Every resource has a name; a child resource a parent (or a name with its parents'); a top-level resource a location. */
export function checkResourceShapes(model: InfraModel): string[] {
  const problems: string[] = [];
  for (const f of model.files.values()) {
    for (const r of f.resources.values()) {
      let body: Expr = r.body;
      while (body.k === "if" || body.k === "for") body = body.body;
      const where = `${f.path}:${r.line}: resource '${r.name}'`;
      if (body.k !== "obj") continue; // reported by the evaluation
      const depth = r.type.split("/").length - 2; // Microsoft.X/a is 0, Microsoft.X/a/b is 1
      const name = entry(body, "name");
      if (!name) problems.push(`${where} has no name`);
      const literal = name?.k === "str" ? name.parts.filter((p): p is string => typeof p === "string").join("") : "";
      if (depth > 0 && !entry(body, "parent") && literal.split("/").length - 1 < depth)
        problems.push(`${where} is a child resource without a parent`);
      const extension = r.type.startsWith("Microsoft.Authorization/");
      if (depth === 0 && !r.existing && !extension && !entry(body, "location"))
        problems.push(`${where} has no location`);
    }
  }
  return problems;
}

function createdSame(model: InfraModel, type: string, v: Value): ResourceInstance | undefined {
  if (v.k !== "res" && v.k !== "prop") return undefined;
  const target: Value = { k: "res", ri: v.ri };
  return ofType(model, type).find((ri) => same({ k: "res", ri }, target));
}

/** The app runs on a Linux plan the template creates: Flex Consumption with its package in the app's own storage, or Consumption/Premium. */
export function checkHosting(model: InfraModel, app: FunctionApp): string[] {
  const where = `${app.ri.scope.inst.file.path}:${app.ri.decl.line}`;
  const problems: string[] = [];
  const farmId = bodyValue(model, app.ri, "properties", "serverFarmId");
  const plan =
    farmId.k === "prop" && farmId.path.join(".") === "id"
      ? createdSame(model, "Microsoft.Web/serverfarms", farmId)
      : undefined;
  if (!plan) return [`${where}: serverFarmId ${describe(farmId)} is not the id of a plan this template creates`];
  const sku = `${describe(bodyValue(model, plan, "sku", "name"))} ${describe(bodyValue(model, plan, "sku", "tier"))}`;
  if (describe(bodyValue(model, plan, "properties", "reserved")) !== "true")
    problems.push(`plan '${plan.decl.name}' is not a Linux plan (properties.reserved)`);
  if (sku === '"FC1" "FlexConsumption"') {
    const storage = (...keys: string[]): Value =>
      bodyValue(model, app.ri, "properties", "functionAppConfig", "deployment", "storage", ...keys);
    if (describe(storage("type")) !== '"blobContainer"')
      problems.push(`${where}: deployment storage type is ${describe(storage("type"))}`);
    const auth = storage("authentication", "type");
    if (describe(auth) !== '"SystemAssignedIdentity"')
      problems.push(`${where}: the deployment container is reached with ${describe(auth)}, not the app's identity`);
    const url = storage("value");
    const account = appStorageAccountName(app);
    const [endpoint, container] = url.k === "tmpl" ? url.parts : [];
    const containerMade =
      typeof container === "string" &&
      account !== undefined &&
      ofType(model, "Microsoft.Storage/storageAccounts/blobServices/containers").some((ri) => {
        const n = resourceName(model, ri);
        return n.k === "str" && n.v.split("/").pop() === container && same(storageAccountOf(model, ri), account);
      });
    const endpointOk =
      typeof endpoint === "object" &&
      endpoint.k === "prop" &&
      endpoint.path.join(".") === "properties.primaryEndpoints.blob" &&
      account !== undefined &&
      same(resourceName(model, endpoint.ri), account);
    if (url.k !== "tmpl" || url.parts.length !== 2 || !endpointOk || !containerMade) {
      problems.push(
        `${where}: deployment container ${describe(url)} is not a container this template creates in the app's storage account`,
      );
    }
  } else if (/^"Y1" "Dynamic"$|^"EP\d" "ElasticPremium"$/.test(sku)) {
    if (knownSetting(app, "FUNCTIONS_EXTENSION_VERSION") !== "~4")
      problems.push("FUNCTIONS_EXTENSION_VERSION is not ~4");
    if (knownSetting(app, "FUNCTIONS_WORKER_RUNTIME") !== "node") problems.push("FUNCTIONS_WORKER_RUNTIME is not node");
  } else {
    problems.push(`plan '${plan.decl.name}' has sku ${sku}, not a Functions plan this check knows`);
  }
  return problems;
}

/** Telemetry goes to an Application Insights component of the template, backed by its Log Analytics workspace, without keys. */
export function checkMonitoring(model: InfraModel, app: FunctionApp, metricsPublisherRoleId: string): string[] {
  const cs = app.settings.get("APPLICATIONINSIGHTS_CONNECTION_STRING");
  const component =
    cs?.k === "prop" && cs.path.join(".") === "properties.ConnectionString"
      ? createdSame(model, "Microsoft.Insights/components", cs)
      : undefined;
  if (!component) {
    return [
      `APPLICATIONINSIGHTS_CONNECTION_STRING is ${cs ? describe(cs) : "not set"}, not the connection string of a component this template creates`,
    ];
  }
  const problems: string[] = [];
  const workspace = bodyValue(model, component, "properties", "WorkspaceResourceId");
  if (!(
    workspace.k === "prop" &&
    workspace.path.join(".") === "id" &&
    createdSame(model, "Microsoft.OperationalInsights/workspaces", workspace)
  )) {
    problems.push(
      `Application Insights is not backed by a Log Analytics workspace of this template (${describe(workspace)})`,
    );
  }
  if (describe(bodyValue(model, component, "properties", "DisableLocalAuth")) !== "true") {
    problems.push("Application Insights still accepts the instrumentation key alone (DisableLocalAuth is not true)");
  }
  if (knownSetting(app, "APPLICATIONINSIGHTS_AUTHENTICATION_STRING") !== "Authorization=AAD") {
    problems.push(
      "APPLICATIONINSIGHTS_AUTHENTICATION_STRING is not Authorization=AAD: with local auth off, telemetry would be refused",
    );
  }
  problems.push(
    ...checkRoleAssignments(model, app, [
      {
        what: "Monitoring Metrics Publisher",
        roleIds: [metricsPublisherRoleId],
        scopeType: "Microsoft.Insights/components",
        scopeName: resourceName(model, component),
      },
    ]),
  );
  return problems;
}

/** EMAIL_SENDER is DoNotReply@ an Azure-managed domain, linked to the Communication Services resource whose key ACS_CONNECTION_STRING holds. */
export function checkEmail(model: InfraModel, app: FunctionApp): string[] {
  const sender = app.settings.get("EMAIL_SENDER");
  const [local, domainValue] = sender?.k === "tmpl" ? sender.parts : [];
  const domain =
    sender?.k === "tmpl" &&
    sender.parts.length === 2 &&
    local === "DoNotReply@" &&
    typeof domainValue === "object" &&
    domainValue.k === "prop" &&
    ["properties.fromSenderDomain", "properties.mailFromSenderDomain"].includes(domainValue.path.join("."))
      ? createdSame(model, "Microsoft.Communication/emailServices/domains", domainValue)
      : undefined;
  if (!domain)
    return [
      `EMAIL_SENDER is ${sender ? describe(sender) : "not set"}, not DoNotReply@ the domain of an email domain this template creates`,
    ];
  const problems: string[] = [];
  if (describe(bodyValue(model, domain, "properties", "domainManagement")) !== '"AzureManaged"')
    problems.push("the sender's domain is not Azure-managed");
  const domainId: Value = { k: "prop", ri: domain, path: ["id"] };
  const linked = ofType(model, "Microsoft.Communication/communicationServices").filter((ri) => {
    const domains = bodyValue(model, ri, "properties", "linkedDomains");
    return domains.k === "arr" && domains.items.some((d) => same(d, domainId));
  });
  if (linked.length === 0)
    return [...problems, "the sender's domain is linked to no Communication Services resource of this template"];
  const ref = app.settings.get("ACS_CONNECTION_STRING");
  const secret = ref?.k === "tmpl" ? ref.parts[1] : undefined;
  const stored =
    typeof secret === "object" && secret.k === "prop" ? bodyValue(model, secret.ri, "properties", "value") : undefined;
  const keys = stored?.k === "sym" ? stored.of : undefined;
  const listed = keys?.value.k === "call" && keys.value.name === "listKeys" ? keys.value.target : undefined;
  const fromLinked =
    keys !== undefined &&
    /^(primary|secondary)ConnectionString$/.test(keys.name) &&
    listed !== undefined &&
    linked.some((ri) => same({ k: "res", ri }, listed));
  if (!fromLinked) {
    problems.push(
      `ACS_CONNECTION_STRING holds ${stored ? describe(stored) : "nothing known"}, not the connection string of the Communication Services resource linked to the sender's domain`,
    );
  }
  return problems;
}

/** The entry template outputs the function app's name and its hostname. */
export function checkEntryOutputs(model: InfraModel, app: FunctionApp): string[] {
  const scope: Scope = { inst: model.root, locals: new Map() };
  const outputs = [...model.root.file.outputs.values()].map((o) => evaluate(model, o.value, scope));
  const problems: string[] = [];
  if (!outputs.some((v) => same(v, resourceName(model, app.ri))))
    problems.push(`${model.root.file.path} does not output the function app's name`);
  const hostname: Value = { k: "prop", ri: app.ri, path: ["properties", "defaultHostName"] };
  if (!outputs.some((v) => same(v, hostname)))
    problems.push(`${model.root.file.path} does not output the function app's hostname`);
  return problems;
}

/** The value of an app setting when it is known before deployment. */
export function knownSetting(app: FunctionApp, name: string): string | undefined {
  const v = app.settings.get(name);
  return v?.k === "str" && !v.secure ? v.v : undefined;
}

// ---------------------------------------------------------------------------------------------------------------
// Queue bindings of the functions

export interface QueueBinding {
  file: string;
  line: number;
  /** trigger: the function runs on it (so the host also uses `<queue>-poison`); output: it writes to it; other: a queueName seen elsewhere. */
  kind: "trigger" | "output" | "other";
  /** The queueName as written, possibly with %SETTING% parts. */
  queueName: string;
  /** The connection setting name (AzureWebJobsStorage when omitted). */
  connection: string;
}

export interface FunctionScan {
  bindings: QueueBinding[];
  /** Every %NAME% binding expression in a string of the functions. */
  settingRefs: { file: string; line: number; name: string }[];
  problems: string[];
}

/** Source text of the module `specifier` imports from `fromFile`, or undefined when it cannot be read. */
export type ImportReader = (fromFile: string, specifier: string) => { file: string; text: string } | undefined;

/** Reads relative imports from disk, `./x.js` being the TypeScript source `./x.ts`; `baseDir` is what file names are relative to. */
export function diskImportReader(baseDir: string): ImportReader {
  return (fromFile, specifier) => {
    if (!specifier.startsWith(".")) return undefined;
    const file = path.normalize(path.join(path.dirname(fromFile), specifier.replace(/\.js$/, ".ts")));
    try {
      return { file, text: readFileSync(join(baseDir, file), "utf8") };
    } catch {
      return undefined;
    }
  };
}

/** The `const` declarations of a file and what it imports, for following a queue name to its literal. */
class ConstResolver {
  private readonly parsed = new Map<
    string,
    { sf: ts.SourceFile; consts: Map<string, ts.Expression>; imports: Map<string, { from: string; name: string }> }
  >();

  constructor(
    private readonly files: ReadonlyMap<string, string>,
    private readonly readImport: ImportReader | undefined,
  ) {}

  source(file: string, text?: string): ts.SourceFile | undefined {
    return this.load(file, text)?.sf;
  }

  private load(file: string, text?: string) {
    const cached = this.parsed.get(file);
    if (cached) return cached;
    const body = text ?? this.files.get(file);
    if (body === undefined) return undefined;
    const sf = ts.createSourceFile(file, body, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
    const consts = new Map<string, ts.Expression>();
    const imports = new Map<string, { from: string; name: string }>();
    const visit = (node: ts.Node): void => {
      if (ts.isVariableDeclaration(node) && ts.isIdentifier(node.name) && node.initializer) {
        const list = node.parent;
        if (ts.isVariableDeclarationList(list) && list.flags & ts.NodeFlags.Const)
          consts.set(node.name.text, node.initializer);
      }
      if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
        const bindings = node.importClause?.namedBindings;
        if (bindings && ts.isNamedImports(bindings)) {
          for (const el of bindings.elements) {
            imports.set(el.name.text, { from: node.moduleSpecifier.text, name: (el.propertyName ?? el.name).text });
          }
        }
      }
      ts.forEachChild(node, visit);
    };
    visit(sf);
    const entry = { sf, consts, imports };
    this.parsed.set(file, entry);
    return entry;
  }

  /** `e` with parentheses, `as` and `satisfies` removed and consts (local or imported) replaced by their value. */
  unwrap(file: string, e: ts.Expression, depth = 0): { file: string; e: ts.Expression } {
    let x = e;
    while (ts.isAsExpression(x) || ts.isParenthesizedExpression(x) || ts.isSatisfiesExpression(x)) x = x.expression;
    if (!ts.isIdentifier(x) || depth > 8) return { file, e: x };
    const here = this.load(file);
    const local = here?.consts.get(x.text);
    if (local) return this.unwrap(file, local, depth + 1);
    const imported = here?.imports.get(x.text);
    const module = imported && this.readImport?.(file, imported.from);
    if (imported && module) {
      const there = this.load(module.file, module.text);
      const value = there?.consts.get(imported.name);
      if (value) return this.unwrap(module.file, value, depth + 1);
    }
    return { file, e: x };
  }
}

/**
 * Reads `functions/**.ts` with the TypeScript parser: `app.storageQueue(...)`, `output.storageQueue(...)`, other
 * `queueName:` properties and `%SETTING%` strings. A queue name may be a literal or a const (also an imported one,
 * when `readImport` can read the module).
 */
export function scanFunctions(files: ReadonlyMap<string, string>, readImport?: ImportReader): FunctionScan {
  const scan: FunctionScan = { bindings: [], settingRefs: [], problems: [] };
  const resolver = new ConstResolver(files, readImport);
  for (const [file, text] of files) {
    const sf = resolver.source(file, text);
    if (!sf) continue;
    const lineOf = (node: ts.Node): number => sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1;
    const unwrap = (e: ts.Expression): ts.Expression => resolver.unwrap(file, e).e;
    const stringOf = (e: ts.Expression): string | undefined => {
      const x = unwrap(e);
      return ts.isStringLiteral(x) || ts.isNoSubstitutionTemplateLiteral(x) ? x.text : undefined;
    };
    const prop = (obj: ts.ObjectLiteralExpression, name: string): ts.PropertyAssignment | undefined =>
      obj.properties.find((p): p is ts.PropertyAssignment => ts.isPropertyAssignment(p) && p.name.getText(sf) === name);
    const consumed = new Set<ts.Node>();

    const visit = (node: ts.Node): void => {
      if (
        ts.isStringLiteral(node) ||
        ts.isNoSubstitutionTemplateLiteral(node) ||
        ts.isTemplateHead(node) ||
        ts.isTemplateMiddle(node) ||
        ts.isTemplateTail(node)
      ) {
        for (const m of node.text.matchAll(/%([A-Za-z_][A-Za-z0-9_]*)%/g))
          scan.settingRefs.push({ file, line: lineOf(node), name: m[1] as string });
      }
      if (
        ts.isCallExpression(node) &&
        ts.isPropertyAccessExpression(node.expression) &&
        node.expression.name.text === "storageQueue" &&
        ts.isIdentifier(node.expression.expression) &&
        ["app", "trigger", "output", "input"].includes(node.expression.expression.text)
      ) {
        const owner = node.expression.expression.text;
        const kind = owner === "app" || owner === "trigger" ? "trigger" : owner === "output" ? "output" : "other";
        const optionsArg = owner === "app" ? node.arguments[1] : node.arguments[0];
        const options = optionsArg ? unwrap(optionsArg) : undefined;
        const where = `${file}:${lineOf(node)}`;
        if (!options || !ts.isObjectLiteralExpression(options)) {
          scan.problems.push(
            `${where}: ${owner}.storageQueue options are not an object literal; the test cannot tell the queue`,
          );
        } else {
          const q = prop(options, "queueName");
          const c = prop(options, "connection");
          if (q) consumed.add(q);
          const queueName = q ? stringOf(q.initializer) : undefined;
          const connection = c ? stringOf(c.initializer) : "AzureWebJobsStorage";
          if (queueName === undefined)
            scan.problems.push(`${where}: queueName is not a string literal or a const of one`);
          else if (connection === undefined)
            scan.problems.push(`${where}: connection is not a string literal or a const of one`);
          else scan.bindings.push({ file, line: lineOf(node), kind, queueName, connection });
        }
      }
      ts.forEachChild(node, visit);
    };
    visit(sf);
    const others = (node: ts.Node): void => {
      if (ts.isPropertyAssignment(node) && node.name.getText(sf) === "queueName" && !consumed.has(node)) {
        const queueName = stringOf(node.initializer);
        if (queueName === undefined)
          scan.problems.push(`${file}:${lineOf(node)}: queueName is not a string literal or a const of one`);
        else
          scan.bindings.push({ file, line: lineOf(node), kind: "other", queueName, connection: "AzureWebJobsStorage" });
      }
      ts.forEachChild(node, others);
    };
    others(sf);
  }
  return scan;
}

/** Reads every .ts file under `dir` (none when it does not exist). */
export function loadTypeScriptFiles(dir: string): Map<string, string> {
  const files = new Map<string, string>();
  const visit = (d: string, rel: string): void => {
    let names: string[];
    try {
      names = readdirSync(d);
    } catch {
      return;
    }
    for (const name of names) {
      const full = join(d, name);
      const relName = rel ? `${rel}/${name}` : name;
      if (statSync(full).isDirectory()) visit(full, relName);
      else if (name.endsWith(".ts") && !name.endsWith(".d.ts")) files.set(relName, readFileSync(full, "utf8"));
    }
  };
  visit(dir, "");
  return files;
}

/** Replaces each %NAME% with the app setting NAME, which must be set and known before deployment. */
export function resolveBindingExpression(app: FunctionApp, raw: string): { value?: string; problem?: string } {
  let problem: string | undefined;
  const value = raw.replace(/%([A-Za-z_][A-Za-z0-9_]*)%/g, (_all, name: string) => {
    if (!app.settings.has(name)) problem ??= `%${name}% names an app setting the template does not set`;
    const known = knownSetting(app, name);
    if (known === undefined)
      problem ??= `%${name}% is ${describe(app.settings.get(name) ?? unknown("unset"))}, not known before deployment`;
    return known ?? "";
  });
  return problem === undefined ? { value } : { problem };
}

/**
 * The queues the app needs: those it always triggers on (given by the caller, with why) and their `-poison`, every
 * queue a function triggers on and its `-poison`, every queue a function writes to or names.
 */
export function requiredQueues(
  app: FunctionApp,
  scan: FunctionScan,
  alwaysTriggered: { queue: string; why: string }[],
): { queues: Map<string, string>; problems: string[] } {
  const queues = new Map<string, string>();
  const problems: string[] = [...scan.problems];
  for (const { queue, why } of alwaysTriggered) {
    queues.set(queue, why);
    queues.set(`${queue}-poison`, `poison queue of ${queue}`);
  }
  for (const b of scan.bindings) {
    const where = `${b.file}:${b.line}`;
    if (!connectionConfigured(app.settings, b.connection, ["queue"])) {
      problems.push(`${where}: connection ${b.connection} is not configured in the app settings`);
    }
    const { value, problem } = resolveBindingExpression(app, b.queueName);
    if (value === undefined) {
      problems.push(`${where}: queue ${b.queueName}: ${problem}`);
      continue;
    }
    queues.set(value, `${b.kind} in ${where}`);
    if (b.kind === "trigger") queues.set(`${value}-poison`, `poison queue of the trigger in ${where}`);
  }
  for (const r of scan.settingRefs) {
    if (!app.settings.has(r.name))
      problems.push(`${r.file}:${r.line}: %${r.name}% names an app setting the template does not set`);
  }
  return { queues, problems };
}
