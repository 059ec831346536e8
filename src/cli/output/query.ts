/**
 * @module cli/output/query
 * `--query`: JMESPath (the `jmespath` package, as az uses Python's) over the az-shaped result,
 * plus the one thing JSON loses and az's output shows: which numbers are Python floats.
 * `completionPercent` is a float in az's models, so az prints `100.0` where JSON has `100`.
 *
 * A `Shape` says where floats are in a value: `float` (this number), `src` (a piece of the
 * original result: look at the key names), or the structure a query built (`items` of a
 * projection, `tuple` of `[a, b]`, `keys` of `{x: a}`). `shapeOf` derives it from the query's
 * syntax tree: `[completionPercent]` is a tuple whose first item is a float.
 */

import * as jmespath from 'jmespath';
import { usageError } from '../errors.js';
import { FLOAT_KEYS } from './az-models.js';

export type Shape = 'float' | 'src' | { items: Shape } | { tuple: Shape[] } | { keys: Record<string, Shape> };

interface AstNode {
  type: string;
  name?: string;
  value?: unknown;
  children?: AstNode[];
}

const compile = (jmespath as unknown as { compile(expr: string): AstNode }).compile;

function child(node: AstNode, i: number): AstNode {
  return node.children?.[i] ?? { type: 'Identity' };
}

/** Where a query's result has floats. */
export function shapeOf(node: AstNode): Shape {
  switch (node.type) {
    case 'Field':
      return FLOAT_KEYS.has(node.name ?? '') ? 'float' : 'src';
    case 'Subexpression':
      return shapeOf(child(node, 1));
    case 'Pipe': {
      const right = child(node, 1);
      return right.type === 'Identity' || right.type === 'Current' ? shapeOf(child(node, 0)) : shapeOf(right);
    }
    case 'IndexExpression': {
      const left = shapeOf(child(node, 0));
      return typeof left === 'object' && 'items' in left ? left.items : 'src';
    }
    case 'Projection':
    case 'ValueProjection':
    case 'FilterProjection': {
      const right = child(node, 1);
      if (right.type === 'Identity' || right.type === 'Current') {
        const left = shapeOf(child(node, 0));
        return typeof left === 'object' && 'items' in left ? left : { items: 'src' };
      }
      return { items: shapeOf(right) };
    }
    case 'Flatten': {
      const inner = shapeOf(child(node, 0));
      if (typeof inner === 'object' && 'items' in inner) {
        const deeper = inner.items;
        return typeof deeper === 'object' && 'items' in deeper ? deeper : inner;
      }
      return { items: 'src' };
    }
    case 'MultiSelectList':
      return { tuple: (node.children ?? []).map(shapeOf) };
    case 'MultiSelectHash': {
      const keys: Record<string, Shape> = {};
      for (const kv of node.children ?? []) keys[kv.name ?? ''] = shapeOf((kv.value as AstNode | undefined) ?? { type: 'Identity' });
      return { keys };
    }
    case 'Function': {
      const arg = shapeOf(child(node, 0));
      const name = node.name ?? '';
      if (['max', 'min', 'sum', 'avg'].includes(name)) return typeof arg === 'object' && 'items' in arg && arg.items === 'float' ? 'float' : 'src';
      if (['sort', 'reverse', 'sort_by', 'max_by', 'min_by'].includes(name)) {
        return name.endsWith('_by') && name !== 'sort_by' ? (typeof arg === 'object' && 'items' in arg ? arg.items : 'src') : arg;
      }
      return 'src';
    }
    case 'OrExpression':
      return shapeOf(child(node, 0));
    default:
      return 'src';
  }
}

/** The shape of a child: by index in an array, by key in an object. */
export function childShape(shape: Shape, key: string | number): Shape {
  if (shape === 'float') return 'src';
  if (shape === 'src') return typeof key === 'string' && FLOAT_KEYS.has(key) ? 'float' : 'src';
  if ('items' in shape) return shape.items;
  if ('tuple' in shape) return (typeof key === 'number' ? shape.tuple[key] : undefined) ?? 'src';
  return (typeof key === 'string' ? shape.keys[key] : undefined) ?? 'src';
}

export interface CompiledQuery {
  expression: string;
  shape: Shape;
  search(data: unknown): unknown;
}

/** Compiles `--query`; a syntax error is a usage error naming the option. */
export function compileQuery(expression: string, option = '--query'): CompiledQuery {
  let ast: AstNode;
  try {
    ast = compile(expression);
  } catch (err) {
    throw usageError(`argument ${option}: invalid jmespath_type value: '${expression}' (${(err as Error).message})`, 'See https://jmespath.org; quote the query for the shell.');
  }
  return {
    expression,
    shape: shapeOf(ast),
    search(data: unknown): unknown {
      try {
        return jmespath.search(data, expression) as unknown;
      } catch (err) {
        throw usageError(`argument ${option}: ${(err as Error).message}`);
      }
    },
  };
}

/** Runs a JMESPath expression (table transformers, `wait --custom`). */
export function search(data: unknown, expression: string): unknown {
  return jmespath.search(data, expression) as unknown;
}
