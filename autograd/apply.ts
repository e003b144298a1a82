/**
 * apply(): runs a table op's forward and, when recording, attaches its Node to the result.
 * This is the only place that creates graph nodes.
 */
import { fail, fmtShape } from '../lib/core/errors';
import { derivatives, type OpName, type OpInputs, type OpAttrs, type OpDef } from './derivatives';
import { isGradEnabled, Node, type BackwardContext } from './tape';
import { Tensor } from './tensor';

type AnyDef = OpDef<Record<string, Tensor | undefined>, unknown, unknown>;

export function apply<K extends OpName>(name: K, inputs: OpInputs<K>, attrs: OpAttrs<K>): Tensor {
  const def = derivatives[name] as unknown as AnyDef;
  const entries = Object.entries(inputs as Record<string, Tensor | undefined>);
  // One dtype per op: name both sides when they differ.
  let first: [string, Tensor] | null = null;
  for (const [k, t] of entries) {
    if (t === undefined) continue;
    if (!(t instanceof Tensor)) fail(name, `input '${k}' must be a Tensor, got ${typeof t}`);
    if (first === null) first = [k, t];
    else if (t.dtype !== first[1].dtype && !(def.nondiff ?? []).includes(k)) {
      fail(name, `dtype mismatch: '${first[0]}' is ${first[1].dtype} ${fmtShape(first[1].shape)} but '${k}' is ${t.dtype} ${fmtShape(t.shape)}; convert one with .to()`);
    }
  }
  const res = def.forward(inputs as Record<string, Tensor | undefined>, attrs);
  const out = res instanceof Tensor ? res : res.out;
  if (!isGradEnabled()) return out;
  const edges = new Map<string, Tensor>();
  const nondiff = def.nondiff ?? [];
  for (const [k, t] of entries) {
    if (t !== undefined && t.requiresGrad && !nondiff.includes(k)) edges.set(k, t);
  }
  if (edges.size === 0) return out;
  const saved: Record<string, Tensor | undefined> = {};
  // Versions of what is saved, in Node.checkSavedVersions' order: backward refuses a changed one.
  const versions: number[] = [];
  for (const k of def.saveInputs ?? []) {
    const t = (inputs as Record<string, Tensor | undefined>)[k];
    saved[k] = t;
    if (t !== undefined) versions.push(t._version);
  }
  if (def.saveOutput) versions.push(out._version);
  const shapes: Record<string, readonly number[]> = {};
  const needs: Record<string, boolean> = {};
  for (const [k, t] of entries) {
    if (t === undefined) continue;
    shapes[k] = t.shape;
    needs[k] = edges.has(k);
  }
  const ctx: BackwardContext<Record<string, Tensor | undefined>, unknown, unknown> = {
    inputs: saved,
    shapes,
    out: def.saveOutput ? out : undefined,
    attrs,
    extra: res instanceof Tensor ? undefined : res.extra,
    needs,
  };
  out.requiresGrad = true;
  out.gradFn = new Node(name, def.backward, edges, ctx, versions);
  return out;
}
