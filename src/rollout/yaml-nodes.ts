/**
 * Reading workflow YAML nodes (the `yaml` package's document model) for the rollout's text
 * edits: one copy of the small helpers that the planner, the permissions edit and the job
 * analysis share. Pure.
 */
import { isMap, isPair, isScalar, type Pair, type YAMLMap } from 'yaml';

/** A pair's key as text, or undefined when the key is not a scalar. */
export function keyName(pair: Pair): string | undefined {
  return isScalar(pair.key) ? String(pair.key.value) : undefined;
}

/** The pair of `map` whose key is exactly `key`. */
export function pairOf(map: YAMLMap, key: string): Pair | undefined {
  return map.items.find((pair): pair is Pair => isPair(pair) && keyName(pair) === key);
}

/** The value under `key` in `map`, or undefined. */
export function mapValue(map: YAMLMap, key: string): unknown {
  return pairOf(map, key)?.value ?? undefined;
}

/** A map written in block style (one `key: value` per line), not a `{ ... }` flow map. */
export function isBlockMap(node: unknown): node is YAMLMap {
  return isMap(node) && (node as { srcToken?: { type?: string } }).srcToken?.type === 'block-map';
}

/** A node's source range `[start, valueEnd, nodeEnd]`, or undefined for nodes made in memory. */
export function rangeOf(node: unknown): [number, number, number] | undefined {
  return (node as { range?: [number, number, number] | null } | null)?.range ?? undefined;
}
