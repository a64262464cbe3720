/**
 * A strict parser of PromQL (the Prometheus 2.x/3.x expression language, prometheus/promql/parser
 * grammar), for the Grafana dashboard's tests: every expression must parse, and what it queries
 * is listed. Grafana's variables are accepted where a dashboard puts them: `$__rate_interval` and
 * friends as a duration, `$var` inside a string. Beyond the grammar it checks the one type rule
 * dashboards break: a range vector (`x[5m]`, a subquery) goes into a function that takes one
 * (rate, increase, *_over_time...), and nowhere else.
 */

export interface Matcher {
  readonly label: string;
  readonly op: '=' | '!=' | '=~' | '!~';
  readonly value: string;
}

export type Node =
  | {
      readonly kind: 'selector';
      readonly name: string | undefined;
      readonly matchers: readonly Matcher[];
      range?: string;
    }
  | { readonly kind: 'aggregate'; readonly op: string; readonly grouping: Grouping | undefined; readonly args: Node[] }
  | { readonly kind: 'call'; readonly func: string; readonly args: Node[] }
  | {
      readonly kind: 'binary';
      readonly op: string;
      readonly lhs: Node;
      readonly rhs: Node;
      readonly on: readonly string[] | undefined;
    }
  | { readonly kind: 'unary'; readonly expr: Node }
  | { readonly kind: 'paren'; readonly expr: Node }
  | { readonly kind: 'subquery'; readonly expr: Node }
  | { readonly kind: 'number' }
  | { readonly kind: 'string' };

export interface Grouping {
  readonly without: boolean;
  readonly labels: readonly string[];
}

const AGGREGATIONS = new Set(
  'sum min max avg group stddev stdvar count count_values bottomk topk quantile limitk limit_ratio'.split(' '),
);
/** Functions whose first argument is a range vector. */
const RANGE_FUNCTIONS = new Set(
  (
    'rate irate increase delta idelta deriv changes resets predict_linear holt_winters double_exponential_smoothing ' +
    'absent_over_time present_over_time avg_over_time min_over_time max_over_time sum_over_time count_over_time ' +
    'quantile_over_time stddev_over_time stdvar_over_time last_over_time mad_over_time'
  )
    .split(' ')
    .filter((f) => f !== ''),
);
const FUNCTIONS = new Set([
  ...RANGE_FUNCTIONS,
  ...(
    'abs absent acos acosh asin asinh atan atanh ceil clamp clamp_max clamp_min cos cosh day_of_month ' +
    'day_of_week day_of_year days_in_month deg exp floor histogram_avg histogram_count histogram_fraction ' +
    'histogram_quantile histogram_stddev histogram_stdvar histogram_sum hour label_join label_replace ln log10 ' +
    'log2 minute month pi rad round scalar sgn sin sinh sort sort_desc sort_by_label sort_by_label_desc sqrt ' +
    'tan tanh time timestamp vector year'
  )
    .split(' ')
    .filter((f) => f !== ''),
]);
const KEYWORDS = new Set('by without on ignoring group_left group_right bool offset and or unless atan2'.split(' '));
/** Binary operators by precedence, lowest first (prometheus/promql/parser/lex.go). */
const PRECEDENCE: Readonly<Record<string, number>> = {
  or: 1,
  and: 2,
  unless: 2,
  '==': 3,
  '!=': 3,
  '<=': 3,
  '<': 3,
  '>=': 3,
  '>': 3,
  '+': 4,
  '-': 4,
  '*': 5,
  '/': 5,
  '%': 5,
  atan2: 5,
  '^': 6,
};
const COMPARISONS = new Set(['==', '!=', '<=', '<', '>=', '>']);
/** Aggregations with a parameter before the vector: topk(5, x), quantile(0.9, x), count_values("v", x). */
const WITH_PARAMETER = new Set(['topk', 'bottomk', 'quantile', 'count_values', 'limitk', 'limit_ratio']);

type TokenKind = 'ident' | 'number' | 'duration' | 'variable' | 'string' | 'punct' | 'end';
interface Token {
  readonly kind: TokenKind;
  readonly text: string;
  readonly at: number;
}

const LEXEMES: readonly [TokenKind | 'space', RegExp][] = [
  ['space', /^(?:\s+|#[^\n]*)/],
  ['duration', /^(?:\d+(?:ms|s|m|h|d|w|y))+(?!\w)/],
  ['number', /^(?:0x[0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)(?!\w)/],
  ['variable', /^\$(?:\{\w+\}|\w+)/],
  ['string', /^(?:"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|`[^`]*`)/],
  ['ident', /^[a-zA-Z_][a-zA-Z0-9_:]*/],
  ['punct', /^(?:==|!=|<=|>=|=~|!~|[-+*/%^<>=(){}[\],:@])/],
];

export function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let at = 0;
  while (at < text.length) {
    const rest = text.slice(at);
    const hit = LEXEMES.map(([kind, re]) => [kind, re.exec(rest)?.[0]] as const).find(([, m]) => m !== undefined);
    if (hit === undefined) throw new Error(`unexpected character ${JSON.stringify(text[at])} at ${at}`);
    const [kind, lexeme] = hit;
    if (kind !== 'space') tokens.push({ kind, text: lexeme!, at });
    at += lexeme!.length;
  }
  tokens.push({ kind: 'end', text: '', at });
  return tokens;
}

class Parser {
  private pos = 0;
  constructor(private readonly tokens: readonly Token[]) {}

  private get next(): Token {
    return this.tokens[this.pos]!;
  }
  private take(): Token {
    return this.tokens[this.pos++]!;
  }
  private is(text: string, kind?: TokenKind): boolean {
    return this.next.text === text && (kind === undefined || this.next.kind === kind) && this.next.kind !== 'string';
  }
  private accept(text: string): boolean {
    if (!this.is(text)) return false;
    this.pos++;
    return true;
  }
  private expect(text: string): void {
    if (!this.accept(text)) this.fail(`expected "${text}"`);
  }
  fail(what: string): never {
    throw new Error(
      `${what} at ${this.next.at}, found ${this.next.kind === 'end' ? 'the end' : `"${this.next.text}"`}`,
    );
  }

  expression(minPrecedence = 1): Node {
    let lhs = this.unary();
    for (;;) {
      const op = this.next.text;
      const binary = (this.next.kind === 'punct' || this.next.kind === 'ident') && Object.hasOwn(PRECEDENCE, op);
      const precedence = binary ? PRECEDENCE[op] : undefined;
      if (precedence === undefined || precedence < minPrecedence) return lhs;
      this.take();
      if (COMPARISONS.has(op)) this.accept('bool');
      let on: string[] | undefined;
      if (this.is('on', 'ident') || this.is('ignoring', 'ident')) {
        const ignoring = this.take().text === 'ignoring';
        const labels = this.labels();
        on = ignoring ? [] : labels;
        if (this.is('group_left', 'ident') || this.is('group_right', 'ident')) {
          this.take();
          if (this.is('(')) this.labels();
        }
      }
      // ^ is right-associative, every other operator left-associative.
      const rhs = this.expression(op === '^' ? precedence : precedence + 1);
      lhs = { kind: 'binary', op, lhs, rhs, on };
    }
  }

  private unary(): Node {
    if (this.accept('-') || this.accept('+')) return { kind: 'unary', expr: this.unary() };
    return this.postfix(this.primary());
  }

  private primary(): Node {
    const t = this.next;
    if (t.kind === 'number' || (t.kind === 'ident' && /^(?:Inf|NaN)$/i.test(t.text))) {
      this.take();
      return { kind: 'number' };
    }
    if (t.kind === 'string') {
      this.take();
      return { kind: 'string' };
    }
    if (this.accept('(')) {
      const expr = this.expression();
      this.expect(')');
      return { kind: 'paren', expr };
    }
    if (this.is('{')) return this.selector(undefined);
    if (t.kind !== 'ident') this.fail('expected an expression');
    if (AGGREGATIONS.has(t.text) && (this.peekIs(1, '(') || this.peekIs(1, 'by') || this.peekIs(1, 'without'))) {
      return this.aggregate();
    }
    if (this.peekIs(1, '(')) {
      if (!FUNCTIONS.has(t.text)) this.fail('unknown function');
      this.take();
      return { kind: 'call', func: t.text, args: this.args() };
    }
    if (KEYWORDS.has(t.text)) this.fail('unexpected keyword');
    this.take();
    return this.selector(t.text);
  }

  private peekIs(ahead: number, text: string): boolean {
    const t = this.tokens[this.pos + ahead];
    return t !== undefined && t.text === text && t.kind !== 'string';
  }

  private aggregate(): Node {
    const op = this.take().text;
    let grouping = this.grouping();
    const args = this.args();
    grouping ??= this.grouping();
    const want = WITH_PARAMETER.has(op) ? 2 : 1;
    if (args.length !== want) this.fail(`${op} takes ${want} argument(s), not ${args.length}`);
    return { kind: 'aggregate', op, grouping, args };
  }

  private grouping(): Grouping | undefined {
    if (!this.is('by', 'ident') && !this.is('without', 'ident')) return undefined;
    const without = this.take().text === 'without';
    return { without, labels: this.labels() };
  }

  private args(): Node[] {
    this.expect('(');
    const args: Node[] = [];
    while (!this.is(')')) {
      args.push(this.expression());
      if (!this.accept(',')) break;
    }
    this.expect(')');
    return args;
  }

  /** `(a, b)`, a trailing comma allowed. */
  private labels(): string[] {
    this.expect('(');
    const labels: string[] = [];
    while (this.next.kind === 'ident') {
      labels.push(this.take().text);
      if (!this.accept(',')) break;
    }
    this.expect(')');
    return labels;
  }

  private selector(name: string | undefined): Node {
    const matchers: Matcher[] = [];
    if (this.accept('{')) {
      while (this.next.kind === 'ident') {
        const label = this.take().text;
        const op = this.next.text;
        if (op !== '=' && op !== '!=' && op !== '=~' && op !== '!~') this.fail('expected a label matcher operator');
        this.take();
        const value: Token = this.next;
        if (value.kind !== 'string') this.fail('expected a string');
        matchers.push({ label, op, value: this.take().text.slice(1, -1) });
        if (!this.accept(',')) break;
      }
      this.expect('}');
    }
    if (name === undefined && !matchers.some((m) => m.label === '__name__'))
      this.fail('a selector needs a metric name');
    return { kind: 'selector', name, matchers };
  }

  private duration(): string {
    const t = this.next;
    if (t.kind !== 'duration' && t.kind !== 'variable' && t.kind !== 'number') this.fail('expected a duration');
    return this.take().text;
  }

  private postfix(node: Node): Node {
    for (;;) {
      if (this.accept('[')) {
        const range = this.duration();
        if (this.accept(':')) {
          if (!this.is(']')) this.duration();
          this.expect(']');
          node = { kind: 'subquery', expr: node };
        } else {
          this.expect(']');
          if (node.kind !== 'selector' || node.range !== undefined) this.fail('a range applies to a selector only');
          node.range = range;
        }
      } else if (this.is('offset', 'ident')) {
        this.take();
        this.accept('-');
        this.duration();
      } else if (this.accept('@')) {
        if (this.next.kind === 'number') this.take();
        else if (this.is('start') || this.is('end')) {
          this.take();
          this.expect('(');
          this.expect(')');
        } else this.fail('expected a timestamp, start() or end()');
      } else return node;
    }
  }

  end(): void {
    if (this.next.kind !== 'end') this.fail('expected the end of the expression');
  }
}

/** The expression's tree; throws on a syntax error or a range vector out of place. */
export function parsePromql(text: string): Node {
  const parser = new Parser(tokenize(text));
  const node = parser.expression();
  parser.end();
  checkRanges(node);
  if (isRange(node)) throw new Error('a range vector cannot be graphed: give it to rate(), increase()...');
  return node;
}

const isRange = (node: Node): boolean =>
  (node.kind === 'selector' && node.range !== undefined) || node.kind === 'subquery';

function children(node: Node): Node[] {
  switch (node.kind) {
    case 'aggregate':
    case 'call':
      return node.args;
    case 'binary':
      return [node.lhs, node.rhs];
    case 'unary':
    case 'paren':
    case 'subquery':
      return [node.expr];
    default:
      return [];
  }
}

function checkRanges(node: Node): void {
  const kids = children(node);
  kids.forEach((kid, i) => {
    const wantsRange = node.kind === 'call' && RANGE_FUNCTIONS.has(node.func) && i === 0;
    if (wantsRange && !isRange(kid)) throw new Error(`${node.func}() takes a range vector, e.g. x[5m]`);
    if (!wantsRange && isRange(kid))
      throw new Error(`a range vector where an instant vector is expected (in ${node.kind})`);
    checkRanges(kid);
  });
}

/** Every selector in the tree. */
export function selectors(node: Node): Extract<Node, { kind: 'selector' }>[] {
  return node.kind === 'selector' ? [node] : children(node).flatMap(selectors);
}

/** Each `by (...)` and `on (...)` label list, with the selectors whose series it groups. */
export function groupings(node: Node): { labels: readonly string[]; over: Node[] }[] {
  const own =
    node.kind === 'aggregate' && node.grouping !== undefined && !node.grouping.without
      ? [{ labels: node.grouping.labels, over: node.args }]
      : node.kind === 'binary' && node.on !== undefined
        ? [{ labels: node.on, over: [node.lhs, node.rhs] }]
        : [];
  return [...own, ...children(node).flatMap(groupings)];
}

/** The metric name a selector queries (its name, or its `__name__="..."` matcher). */
export function metricName(selector: Extract<Node, { kind: 'selector' }>): string | undefined {
  return selector.name ?? selector.matchers.find((m) => m.label === '__name__' && m.op === '=')?.value;
}
