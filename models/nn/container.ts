import { fail, fmtValue } from '../../lib/core/errors';
import * as F from '../../autograd/functional';
import { Tensor } from '../../autograd/tensor';
import { Module, Parameter } from './module';

/**
 * Runs its children in order; children are named 0, 1, 2, ... as in PyTorch. As torch's
 * Sequential runs every module in _modules, a child added later (append, registerModule) is run,
 * counted by length and reached by at() and iteration, by position.
 */
export class Sequential extends Module {
  constructor(...layers: Module[]) {
    super();
    layers.forEach((m, i) => {
      if (!(m instanceof Module)) fail('Sequential', `argument ${i} is not a Module`);
      this.registerModule(String(i), m);
    });
  }

  /**
   * The registered children read afresh, so `seq[0] = new Linear(…)` (which replaces the
   * registered child) changes what forward() runs as well as what parameters() returns.
   */
  private get layers(): Module[] {
    return this.registeredModules();
  }

  get length(): number {
    return this.layers.length;
  }

  at(i: number): Module {
    const layers = this.layers;
    const m = Number.isInteger(i) ? layers[i < 0 ? i + layers.length : i] : undefined;
    if (!m) fail('Sequential', `index ${i} out of range for ${layers.length} layers`);
    return m;
  }

  /** Adds `m` at the end under the next index (torch's Sequential.append); returns this Sequential. */
  append(m: Module): this {
    if (!(m instanceof Module)) fail('Sequential', `append: expected a Module, got ${fmtValue(m)}`);
    this.registerModule(String(this.layers.length), m);
    return this;
  }

  /** The layers in order, as `for (const m of seq)` iterates a torch nn.Sequential. */
  [Symbol.iterator](): Iterator<Module> {
    return this.layers[Symbol.iterator]();
  }

  /** Each child in turn through call(), as torch's `input = module(input)`, so its hooks run. */
  forward(x: Tensor): Tensor {
    for (const m of this.layers) x = m.call(x);
    return x;
  }
}

export class Identity extends Module {
  forward(x: Tensor): Tensor {
    return x;
  }
}

export class Flatten extends Module {
  constructor(readonly startDim = 1, readonly endDim = -1) {
    super();
  }

  forward(x: Tensor): Tensor {
    return F.flatten(x, this.startDim, this.endDim);
  }

  override extraRepr(): string {
    return `start_dim=${this.startDim}, end_dim=${this.endDim}`;
  }
}

/**
 * Splits one dim into several (torch's nn.Unflatten): forward is F.unflatten(x, dim, unflattenedSize),
 * one entry of which may be -1.
 */
export class Unflatten extends Module {
  readonly unflattenedSize: readonly number[];

  constructor(readonly dim: number, unflattenedSize: readonly number[]) {
    super();
    if (typeof dim !== 'number' || !Number.isInteger(dim)) fail('Unflatten', `dim must be an integer, got ${fmtValue(dim)}`);
    if (!Array.isArray(unflattenedSize as unknown)) fail('Unflatten', `unflattenedSize must be an array of integers, got ${fmtValue(unflattenedSize)}`);
    unflattenedSize.forEach((v, i) => {
      if (typeof v !== 'number' || !Number.isInteger(v)) fail('Unflatten', `unflattenedSize must be an array of integers, but element ${i} is ${fmtValue(v)}`);
    });
    this.unflattenedSize = [...unflattenedSize];
  }

  forward(x: Tensor): Tensor {
    return F.unflatten(x, this.dim, this.unflattenedSize);
  }

  override extraRepr(): string {
    const s = this.unflattenedSize;
    return `dim=${this.dim}, unflattened_size=${s.length === 1 ? `(${s[0]},)` : `(${s.join(', ')})`}`;
  }
}

/**
 * A position in a list of `length` items as torch's _get_abs_string_index: an integer in
 * [−length, length), a negative one counting from the end.
 */
function absIndex(op: string, i: unknown, length: number): number {
  if (typeof i !== 'number' || !Number.isInteger(i)) fail(op, `index must be an integer, got ${fmtValue(i)}`);
  if (i < -length || i >= length) fail(op, `index ${i} is out of range for ${length} item${length === 1 ? '' : 's'}`);
  return i < 0 ? i + length : i;
}

/** The items of an iterable argument, checked before any is added, so a bad one adds none. */
function itemsOf<T>(op: string, what: string, values: unknown, isItem: (v: unknown) => v is T): T[] {
  if (values === null || typeof values !== 'object' || typeof (values as { [Symbol.iterator]?: unknown })[Symbol.iterator] !== 'function') {
    fail(op, `expected an iterable of ${what}s, got ${fmtValue(values)}`);
  }
  const items = [...(values as Iterable<unknown>)];
  items.forEach((v, i) => {
    if (!isItem(v)) fail(op, `element ${i} is ${fmtValue(v)}, not a ${what}`);
  });
  return items as T[];
}

const isModule = (v: unknown): v is Module => v instanceof Module;

/**
 * Holds submodules in a list, torch's nn.ModuleList: they are registered as children named 0, 1,
 * 2, ..., so parameters(), stateDict() (`layers.0.weight`), train()/eval(), to() and zeroGrad() see
 * them, where a plain array of layers is invisible to all of them (and refused by parameters()).
 * It has no forward of its own: the parent's forward iterates over it. Torch's `list[a:b:s]` is
 * slice(a, b, s) and `del list[i]` is pop(i); deleting a slice is not provided.
 */
export class ModuleList extends Module {
  constructor(modules?: Iterable<Module> | null) {
    super();
    if (modules !== undefined && modules !== null) this.extend(modules);
  }

  get length(): number {
    return this.registeredModules().length;
  }

  /** The module at position i; a negative i counts from the end. */
  at(i: number): Module {
    return this.registeredModules()[absIndex('ModuleList', i, this.length)];
  }

  /** Replaces the module at position i (torch's `list[i] = m`); returns this ModuleList. */
  set(i: number, m: Module): this {
    const k = absIndex('ModuleList', i, this.length);
    if (!(m instanceof Module)) fail('ModuleList', `cannot assign ${fmtValue(m)} at index ${i} (a Module expected)`);
    this.registerModule(String(k), m);
    return this;
  }

  /** Adds `m` at the end; returns this ModuleList. */
  append(m: Module): this {
    if (!(m instanceof Module)) fail('ModuleList', `append: expected a Module, got ${fmtValue(m)}`);
    this.registerModule(String(this.length), m);
    return this;
  }

  /** Adds every module of `modules` at the end, in order (all checked first); returns this ModuleList. */
  extend(modules: Iterable<Module>): this {
    const items = itemsOf('ModuleList', 'Module', modules, isModule);
    for (const m of items) this.registerModule(String(this.length), m);
    return this;
  }

  /**
   * Inserts `m` before position `index`, renumbering the modules after it, as torch's insert. Index
   * `length` appends; a negative index counts from the end as Python's list.insert (torch 1.13's
   * insert fails with a KeyError on one); an index beyond either end is refused (torch would leave a
   * gap in the numbering).
   */
  insert(index: number, m: Module): this {
    const n = this.length;
    if (typeof index !== 'number' || !Number.isInteger(index)) fail('ModuleList', `insert: index must be an integer, got ${fmtValue(index)}`);
    if (index < -n || index > n) fail('ModuleList', `insert: index ${index} is out of range for ${n} modules (expected ${-n} to ${n})`);
    if (!(m instanceof Module)) fail('ModuleList', `insert: expected a Module, got ${fmtValue(m)}`);
    const k = index < 0 ? index + n : index;
    const modules = this.registeredModules();
    for (let i = n; i > k; i--) this.registerModule(String(i), modules[i - 1]);
    this.registerModule(String(k), m);
    return this;
  }

  /**
   * A new ModuleList holding the same modules from `start` up to (not including) `end` every `step`
   * (default 1), torch's `list[start:end:step]`, with Python's slicing rules: negative positions
   * count from the end, both are clamped to the list, and a negative step walks down from `start`
   * (default the last) to just above `end` (default before the first). The modules are shared, not
   * copied.
   */
  slice(start?: number, end?: number, step?: number): ModuleList {
    for (const [name, v] of [['start', start], ['end', end], ['step', step]] as const) {
      if (v !== undefined && (typeof v !== 'number' || !Number.isInteger(v))) fail('ModuleList', `slice: ${name} must be an integer, got ${fmtValue(v)}`);
    }
    const s = step ?? 1;
    if (s === 0) fail('ModuleList', 'slice: step cannot be zero');
    const modules = this.registeredModules();
    const n = modules.length;
    // Python's PySlice_AdjustIndices: a position clamped to [0, n] (step > 0) or [−1, n − 1] (step < 0).
    const adjust = (v: number | undefined, dflt: number): number => {
      if (v === undefined) return dflt;
      if (v < 0) return Math.max(v + n, s < 0 ? -1 : 0);
      return Math.min(v, s < 0 ? n - 1 : n);
    };
    const lo = adjust(start, s < 0 ? n - 1 : 0), hi = adjust(end, s < 0 ? -1 : n);
    const out: Module[] = [];
    for (let i = lo; s > 0 ? i < hi : i > hi; i += s) out.push(modules[i]);
    return new ModuleList(out);
  }

  /**
   * Removes the module at position i (default the last) and returns it; the modules after it move
   * down one place, so the names stay 0..length-1 (torch's pop and `del list[i]`).
   */
  pop(i = -1): Module {
    const k = absIndex('ModuleList', i, this.length);
    const modules = this.registeredModules();
    const n = modules.length;
    for (let j = 0; j < n; j++) this.unregisterModule(String(j));
    modules.forEach((m, j) => {
      if (j !== k) this.registerModule(String(j < k ? j : j - 1), m);
    });
    return modules[k];
  }

  [Symbol.iterator](): Iterator<Module> {
    return this.registeredModules()[Symbol.iterator]();
  }

  /** Refused, as torch's Module.forward raises NotImplementedError for a ModuleList. */
  forward(..._inputs: Tensor[]): never {
    fail('ModuleList', 'has no forward(): it only holds modules; call them from the forward() of the module that holds it (for (const layer of this.layers) x = layer.call(x))');
  }
}

/** What ModuleDict's constructor and update() take: an object, a Map, a ModuleDict or [key, module] pairs. */
export type ModuleDictEntries = Readonly<Record<string, Module>> | ReadonlyMap<string, Module> | ModuleDict | Iterable<readonly [string, Module]>;

/**
 * Holds submodules by string key in insertion order, torch's nn.ModuleDict: each is a registered
 * child under its key (stateDict keys `heads.cls.weight`, and `dict.cls` reads it as torch's
 * attribute access does). A key must be a valid child name that is not already an attribute of the
 * dict (`keys`, `training`, `forward`, ...), as torch's add_module refuses. Iteration yields the
 * keys, as in Python. A plain object's integer-like keys come first in ascending order (JavaScript's
 * property order); pass a Map or pairs to keep another order.
 */
export class ModuleDict extends Module {
  constructor(entries?: ModuleDictEntries | null) {
    super();
    if (entries !== undefined && entries !== null) this.update(entries);
  }

  get length(): number {
    return this.registeredModules().length;
  }

  has(key: string): boolean {
    return this.registeredModuleEntries().some(([k]) => k === key);
  }

  get(key: string): Module {
    const e = this.registeredModuleEntries().find(([k]) => k === key);
    if (!e) fail('ModuleDict', `no module under key ${fmtValue(key)} (keys: ${this.keyList()})`);
    return e[1];
  }

  /** Adds `m` under `key`, or replaces the module already there (keeping its position); returns this ModuleDict. */
  set(key: string, m: Module): this {
    this.checkEntry(key, m);
    this.registerModule(key, m);
    return this;
  }

  /** Removes the module under `key` (torch's del, a missing key an error). */
  delete(key: string): void {
    this.pop(key);
  }

  /** Removes the module under `key` and returns it. */
  pop(key: string): Module {
    if (!this.has(key)) fail('ModuleDict', `no module under key ${fmtValue(key)} to remove (keys: ${this.keyList()})`);
    return this.unregisterModule(key);
  }

  clear(): void {
    for (const k of this.keys()) this.unregisterModule(k);
  }

  /** Adds or replaces every entry of `entries`, in order, after checking them all. */
  update(entries: ModuleDictEntries): this {
    let pairs: (readonly [unknown, unknown])[];
    if (entries instanceof ModuleDict) pairs = entries.entries();
    else if (entries instanceof Map) pairs = [...entries.entries()];
    else if (entries !== null && typeof entries === 'object' && typeof (entries as { [Symbol.iterator]?: unknown })[Symbol.iterator] === 'function') {
      pairs = [...(entries as Iterable<unknown>)].map((e, i) => {
        if (!Array.isArray(e) || e.length !== 2) fail('ModuleDict', `update: element ${i} must be a [key, module] pair, got ${fmtValue(e)}`);
        return [e[0], e[1]] as const;
      });
    } else if (entries !== null && typeof entries === 'object' && !(entries instanceof Module) && !(entries instanceof Tensor)) {
      pairs = Object.entries(entries);
    } else fail('ModuleDict', `update: expected an object, a Map, a ModuleDict or [key, module] pairs, got ${fmtValue(entries)}`);
    const pending = new Set<string>();
    for (const [k, m] of pairs) {
      this.checkEntry(k, m, pending);
      pending.add(k as string);
    }
    for (const [k, m] of pairs) this.registerModule(k as string, m as Module);
    return this;
  }

  keys(): string[] {
    return this.registeredModuleEntries().map(([k]) => k);
  }

  values(): Module[] {
    return this.registeredModules();
  }

  entries(): [string, Module][] {
    return this.registeredModuleEntries();
  }

  /** The keys, as iterating a Python dict. */
  [Symbol.iterator](): Iterator<string> {
    return this.keys()[Symbol.iterator]();
  }

  /** Refused, as torch's Module.forward raises NotImplementedError for a ModuleDict. */
  forward(..._inputs: Tensor[]): never {
    fail('ModuleDict', 'has no forward(): it only holds modules; call them from the forward() of the module that holds it (this.heads.get(\'cls\').call(x))');
  }

  private keyList(): string {
    const keys = this.keys();
    return keys.length ? keys.map((k) => JSON.stringify(k)).join(', ') : 'none';
  }

  /** torch's add_module checks: a Module, under a string key that is a valid name and not an attribute. */
  private checkEntry(key: unknown, m: unknown, pending: ReadonlySet<string> = new Set()): asserts key is string {
    if (!(m instanceof Module)) fail('ModuleDict', `the value for key ${fmtValue(key)} is ${fmtValue(m)}, not a Module`);
    if (typeof key !== 'string') fail('ModuleDict', `keys must be strings, got ${fmtValue(key)}`);
    if (key === '') fail('ModuleDict', 'a key cannot be the empty string ""');
    if (key.includes('.')) fail('ModuleDict', `a key cannot contain ".", got ${JSON.stringify(key)}`);
    if (key in this && !this.has(key) && !pending.has(key)) {
      fail('ModuleDict', `key ${JSON.stringify(key)} is already an attribute of ModuleDict (a method or property), so it cannot name a module`);
    }
  }
}

/**
 * Holds parameters in a list, torch's nn.ParameterList: registered on the list itself as 0, 1, 2,
 * ..., so parameters() and stateDict() (`weights.0`) see them. A Tensor that is not a Parameter is
 * wrapped in one (sharing its storage, requiring grad), as torch does; torch 1.13 also holds
 * arbitrary objects, this one tensors only.
 */
export class ParameterList extends Module {
  constructor(values?: Iterable<Tensor> | null) {
    super();
    if (values !== undefined && values !== null) this.extend(values);
  }

  private get items(): Parameter[] {
    return this.registeredParameterEntries().map(([, p]) => p as Parameter);
  }

  get length(): number {
    return this.items.length;
  }

  at(i: number): Parameter {
    return this.items[absIndex('ParameterList', i, this.length)];
  }

  /** Replaces the parameter at position i (a Tensor is wrapped in a Parameter); returns this ParameterList. */
  set(i: number, t: Tensor): this {
    const k = absIndex('ParameterList', i, this.length);
    if (!(t instanceof Tensor)) fail('ParameterList', `cannot assign ${fmtValue(t)} at index ${i} (a Tensor or Parameter expected)`);
    this.registerParameter(String(k), asParameter(t));
    return this;
  }

  append(t: Tensor): this {
    if (!(t instanceof Tensor)) fail('ParameterList', `append: expected a Tensor or Parameter, got ${fmtValue(t)}`);
    this.registerParameter(String(this.length), asParameter(t));
    return this;
  }

  extend(values: Iterable<Tensor>): this {
    const items = itemsOf('ParameterList', 'Tensor', values, (v): v is Tensor => v instanceof Tensor);
    for (const t of items) this.registerParameter(String(this.length), asParameter(t));
    return this;
  }

  [Symbol.iterator](): Iterator<Parameter> {
    return this.items[Symbol.iterator]();
  }

  forward(..._inputs: Tensor[]): never {
    fail('ParameterList', 'has no forward(): it only holds parameters; use them in the forward() of the module that holds it');
  }

  /** torch 1.13's lines: `(0): Parameter containing: [torch.float32 of size 3x4]`. */
  override extraRepr(): string {
    return this.items.map((p, i) => `  (${i}): Parameter containing: [torch.${p.dtype} of size ${p.shape.join('x')}]`).join('\n');
  }
}

function asParameter(t: Tensor): Parameter {
  return t instanceof Parameter ? t : new Parameter(t);
}
