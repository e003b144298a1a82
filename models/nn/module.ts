/**
 * nn.Module: parameters, buffers and child modules registered by name, in registration order,
 * so stateDict() keys read like PyTorch's (`layer1.0.conv1.weight`, `bn1.running_mean`).
 * Subclasses register what they own in their constructor and implement forward().
 */
import { fail, fmtShape, fmtValue } from '../../lib/core/errors';
import { isDType, type DType } from '../../lib/core/dtype';
import { checkKnownKeys } from '../../lib/core/errors';
import { Tensor, type RemovableHandle } from '../../autograd/tensor';
import { noGrad } from '../../autograd/tape';

/**
 * A forward pre-hook (registerForwardPreHook): called with the module and its positional inputs before
 * forward. A returned array replaces the inputs; any other value (a Tensor) is the one input, as torch
 * wraps a non-tuple in a 1-tuple; nothing (undefined or null) keeps them.
 */
export type ForwardPreHook<M extends Module = Module> = (module: M, inputs: Parameters<M['forward']>) => unknown;

/**
 * A forward hook (registerForwardHook): called with the module, the inputs forward was given (after the
 * pre-hooks) and its output; a returned value replaces the output, nothing (undefined or null) keeps it.
 */
export type ForwardHook<M extends Module = Module> = (module: M, inputs: Parameters<M['forward']>, output: ReturnType<M['forward']>) => unknown;

/** One registration: its own entry, so a function registered twice runs twice and each handle removes its own. */
interface HookEntry<H> {
  readonly fn: H;
}

/** A tensor that is a module's learnable parameter; requires grad by default. */
export class Parameter extends Tensor {
  constructor(t: Tensor, requiresGrad = true) {
    if (!t.isContiguous()) fail('Parameter', `data must be contiguous, got shape ${fmtShape(t.shape)} strides ${fmtShape(t.strides)}`);
    super(t.storage, t.shape, t.strides, t.offset);
    this.requiresGrad = requiresGrad;
  }
}

export type StateDict = Record<string, Tensor>;

/** Anything with a shape and row-major values: a Tensor, or a tensor read from a file. */
export interface TensorData {
  readonly shape: readonly number[];
  readonly data: ArrayLike<number>;
}

export interface LoadResult {
  missingKeys: string[];
  unexpectedKeys: string[];
}

interface BufferEntry {
  tensor: Tensor;
  persistent: boolean;
  /** Stored as int64 in PyTorch (num_batches_tracked); kept here as integer values in a float tensor. */
  integer: boolean;
}

/** Every Module and Parameter ever registered in some module: checkRegistered() accepts aliases of these. */
const everRegistered = new WeakSet<object>();

export abstract class Module {
  /** Train mode (the default) or eval mode; changes BatchNorm and Dropout. */
  training = true;
  private readonly _parameters = new Map<string, Parameter | null>();
  private readonly _buffers = new Map<string, BufferEntry>();
  private readonly _modules = new Map<string, Module>();

  /**
   * Each layer declares its own types: most take and return a Tensor, while the recurrent layers take
   * a state tuple and return (output, state) as torch's do (LSTM: [output, [hN, cN]]). Called through
   * the plain Module type the result is as loosely typed as torch's (Sequential passes it on as a
   * Tensor), since no single return type fits both and a Module must be able to hold an LSTM.
   */
  abstract forward(...inputs: unknown[]): any;

  /**
   * @internal registerForwardPreHook's and registerForwardHook's hooks in registration order; null when
   * there are none, so call() costs one check more than forward() on a module without hooks (every layer
   * of a normal forward). Plain fields, so deepCopy() copies them as torch's copy.deepcopy copies
   * _forward_pre_hooks and _forward_hooks (the copy runs the same functions; a handle removes only the
   * original's entry).
   */
  _forwardPreHooks: HookEntry<ForwardPreHook<any>>[] | null = null;
  /** @internal See _forwardPreHooks. */
  _forwardHooks: HookEntry<ForwardHook<any>>[] | null = null;

  /**
   * torch's `module(x)` (Module.__call__): the forward pre-hooks, forward(...inputs), then the forward
   * hooks. Containers and models call their children this way, so a hook on any submodule fires in a
   * normal forward; calling forward() directly bypasses the hooks, as in torch. Without hooks this is
   * forward(...inputs).
   */
  call<M extends Module>(this: M, ...inputs: Parameters<M['forward']>): ReturnType<M['forward']> {
    if (this._forwardPreHooks === null && this._forwardHooks === null) return this.forward(...inputs) as ReturnType<M['forward']>;
    return this.callWithHooks(inputs) as ReturnType<M['forward']>;
  }

  /**
   * As torch 1.13's _call_impl: the hooks run in registration order over a copy of the list taken when
   * they start (the pre-hooks before the first, the forward hooks after forward returns), so a hook
   * that removes itself or another does not make the loop skip one; one removed after the copy still
   * runs this time. Where forward was given a Tensor, a pre-hook's replacement must be a Tensor at
   * that position, and where forward returned a Tensor, a forward hook's replacement must be a Tensor:
   * the module's caller (the next layer of a Sequential) needs one.
   */
  private callWithHooks(inputs: unknown[]): unknown {
    let args = inputs;
    if (this._forwardPreHooks !== null) {
      for (const h of this._forwardPreHooks.slice()) {
        const r: unknown = h.fn(this, args);
        if (r === undefined || r === null) continue;
        const next = Array.isArray(r) ? r : [r];
        for (let i = 0; i < args.length; i++) {
          if (args[i] instanceof Tensor && !(next[i] instanceof Tensor)) {
            fail('registerForwardPreHook', `a forward pre-hook of ${this.constructor.name} returned ${fmtValue(r)}, whose input ${i} is ${fmtValue(next[i])}, where ${this.constructor.name}.forward was given a Tensor of shape ${fmtShape((args[i] as Tensor).shape)} (return a Tensor there, or nothing to keep the inputs)`);
          }
        }
        args = next;
      }
    }
    let out: unknown = this.forward(...args);
    if (this._forwardHooks !== null) {
      for (const h of this._forwardHooks.slice()) {
        const r: unknown = h.fn(this, args, out);
        if (r === undefined || r === null) continue;
        if (out instanceof Tensor && !(r instanceof Tensor)) {
          fail('registerForwardHook', `a forward hook of ${this.constructor.name} returned ${fmtValue(r)} in place of its output, a Tensor of shape ${fmtShape(out.shape)} (return a Tensor, or nothing to keep the output)`);
        }
        out = r;
      }
    }
    return out;
  }

  /**
   * torch's register_forward_pre_hook: hook(module, inputs) runs before forward on every call(); a
   * returned array replaces the inputs, another value (a Tensor) becomes the single input, nothing keeps
   * them. Hooks run in registration order, each given the previous one's inputs.
   */
  registerForwardPreHook<M extends Module>(this: M, hook: ForwardPreHook<M>): RemovableHandle {
    if (typeof hook !== 'function') fail('registerForwardPreHook', `expected a function, got ${fmtValue(hook)} (for ${this.constructor.name})`);
    const entry: HookEntry<ForwardPreHook<any>> = { fn: hook };
    (this._forwardPreHooks ??= []).push(entry);
    return { remove: () => { this._forwardPreHooks = Module.removeEntry(this._forwardPreHooks, entry); } };
  }

  /**
   * torch's register_forward_hook: hook(module, inputs, output) runs after forward on every call(), with
   * the inputs forward was given; a returned value replaces the output, nothing keeps it. Hooks run in
   * registration order, each given the previous one's output. Feature extraction:
   * `model.layer3.registerForwardHook((m, inputs, out) => { feats = out; })`.
   */
  registerForwardHook<M extends Module>(this: M, hook: ForwardHook<M>): RemovableHandle {
    if (typeof hook !== 'function') fail('registerForwardHook', `expected a function, got ${fmtValue(hook)} (for ${this.constructor.name})`);
    const entry: HookEntry<ForwardHook<any>> = { fn: hook };
    (this._forwardHooks ??= []).push(entry);
    return { remove: () => { this._forwardHooks = Module.removeEntry(this._forwardHooks, entry); } };
  }

  /** The list without `entry` (removed in place; null once empty); removing twice does nothing. */
  private static removeEntry<E>(list: E[] | null, entry: E): E[] | null {
    const i = list === null ? -1 : list.indexOf(entry);
    if (i >= 0) list!.splice(i, 1);
    return list === null || list.length === 0 ? null : list;
  }

  /**
   * Registers (or replaces) a parameter; null marks an absent optional parameter (bias=False).
   * Public, like registerBuffer and registerModule (torch's register_parameter, register_buffer,
   * add_module), so a built model can be extended from outside, e.g. a downsample added to a block.
   */
  registerParameter<P extends Parameter | null>(name: string, p: P): P {
    this.checkName('registerParameter', name);
    this._parameters.set(name, p);
    if (p) everRegistered.add(p);
    this.defineAttribute(name, () => this._parameters.get(name) ?? null, (v) => {
      if (v !== null && !(v instanceof Parameter)) {
        fail(this.constructor.name, `cannot assign ${fmtValue(v)} as parameter '${name}' (an nn.Parameter or null expected; wrap a tensor in new nn.Parameter(t))`);
      }
      this._parameters.set(name, v);
      if (v) everRegistered.add(v);
    });
    return p;
  }

  registerBuffer(name: string, t: Tensor, options: { persistent?: boolean; integer?: boolean } = {}): Tensor {
    this.checkName('registerBuffer', name);
    this._buffers.set(name, { tensor: t, persistent: options.persistent ?? true, integer: options.integer ?? false });
    this.defineAttribute(name, () => this.getBuffer(name), (v) => {
      if (!(v instanceof Tensor)) fail(this.constructor.name, `cannot assign ${fmtValue(v)} as buffer '${name}' (a Tensor expected)`);
      this.setBuffer(name, v);
    });
    return t;
  }

  registerModule<M extends Module>(name: string, m: M): M {
    this.checkName('registerModule', name);
    if (!(m instanceof Module)) fail('registerModule', `${name} is not a Module`);
    this._modules.set(name, m);
    everRegistered.add(m);
    this.defineAttribute(name, () => this._modules.get(name), (v) => {
      if (!(v instanceof Module)) {
        fail(this.constructor.name, `cannot assign ${fmtValue(v)} as child module '${name}' (a Module expected; assign new nn.Identity() to drop a layer)`);
      }
      this._modules.set(name, v);
      everRegistered.add(v);
    });
    return m;
  }

  /**
   * Makes the property `name` read and write the registered entry, as torch's Module.__setattr__
   * does: `model.fc = new Linear(512, 5)` replaces the child that parameters(), stateDict() and
   * forward() all see (the map keeps its position). Without this, the assignment changed only the
   * field that forward() reads, and parameters() kept returning the old layer's weights. A name
   * that is already a method, a getter or an own property holding something else (`training`) is
   * left alone.
   */
  private defineAttribute(name: string, get: () => unknown, set: (v: unknown) => void): void {
    const own = Object.getOwnPropertyDescriptor(this, name);
    if (own) {
      if (own.get || own.set || !own.configurable) return;
      const v: unknown = own.value;
      if (v !== undefined && v !== null && !(v instanceof Module) && !(v instanceof Tensor)) return;
    } else if (name in this) return;
    Object.defineProperty(this, name, { get, set, enumerable: true, configurable: true });
  }

  private checkName(op: string, name: string): void {
    if (typeof name !== 'string' || name === '' || name.includes('.')) fail(op, `invalid name ${JSON.stringify(name)}: must be a non-empty string without '.'`);
  }

  /** Replaces a buffer's tensor (BatchNorm's running statistics are swapped this way). */
  protected setBuffer(name: string, t: Tensor): void {
    const e = this._buffers.get(name);
    if (!e) fail('setBuffer', `no buffer named ${name}`);
    e.tensor = t;
  }

  /** The child module registered as `name` (after any replacement by assignment). */
  protected getModule(name: string): Module {
    const m = this._modules.get(name);
    if (!m) fail('getModule', `no child module named ${name}`);
    return m;
  }

  /** Every registered child in registration order, a module registered twice listed twice (what torch's Sequential runs). */
  protected registeredModules(): Module[] {
    return [...this._modules.values()];
  }

  /** The registered children with their names, in registration order (ModuleDict's entries). */
  protected registeredModuleEntries(): [string, Module][] {
    return [...this._modules.entries()];
  }

  /**
   * Removes the child registered as `name` and the property registration defined for it, as torch's
   * `del self._modules[name]` (ModuleDict's delete and pop, which must not leave an accessor that
   * reads a child parameters() no longer sees). Returns the child.
   */
  protected unregisterModule(name: string): Module {
    const m = this._modules.get(name);
    if (!m) fail('unregisterModule', `no child module named ${name}`);
    this._modules.delete(name);
    // An own accessor on an instance is one defineAttribute made (class getters live on the prototype).
    if (Object.getOwnPropertyDescriptor(this, name)?.get) delete (this as Record<string, unknown>)[name];
    return m;
  }

  /** The parameters registered on this module itself by name, null entries included (ParameterList's items). */
  protected registeredParameterEntries(): [string, Parameter | null][] {
    return [...this._parameters.entries()];
  }

  protected getBuffer(name: string): Tensor {
    const e = this._buffers.get(name);
    if (!e) fail('getBuffer', `no buffer named ${name}`);
    return e.tensor;
  }

  /**
   * Refuses a Module or Parameter stored in a plain field without ever being registered
   * (`this.fc = new Linear(…)`, the PyTorch habit): parameters() and stateDict() would leave it out
   * and an optimizer would never train it, silently. A field that refers to a module or parameter
   * registered anywhere (an alias, tied weights, a layer of another model) is fine, so a submodule's
   * own parameters() works when it refers to a sibling's layer. A model deliberately kept out (a
   * frozen teacher) belongs in a #private field, which this check does not see. A plain array of
   * such modules or parameters is refused too (nn.ModuleList / nn.ParameterList is the fix); an
   * array whose first element is not an object (numbers, strings) is not scanned. Also refuses a plain
   * field that shadows a registered name with a different value: a class field initializer
   * `fc = this.registerModule('fc', …)` compiled with useDefineForClassFields (the default from
   * target ES2022) redefines the property after registerModule made it an accessor, so a later
   * assignment `model.fc = …` changes only the field.
   */
  private checkRegistered(): void {
    for (const [path, m] of this.namedModules()) {
      for (const key of Object.keys(m)) {
        const d = Object.getOwnPropertyDescriptor(m, key);
        if (!d || d.get) continue;
        const v: unknown = d.value;
        const where = `${m.constructor.name}${path ? ` (${path})` : ''}.${key}`;
        const registered = m._modules.has(key) ? m._modules.get(key) : m._parameters.has(key) ? m._parameters.get(key) : m._buffers.get(key)?.tensor;
        if (registered !== undefined && v !== registered && (v === null || v instanceof Module || v instanceof Tensor)) {
          fail(m.constructor.name, `${where} is a plain field that holds ${v === null ? 'null' : `a ${v.constructor.name}`} while '${key}' is registered as another ${registered === null ? 'value' : registered.constructor.name}, so the assignment did not replace the registered entry; a class field initializer (${key} = this.registerModule('${key}', …)) compiled with useDefineForClassFields (the default from target ES2022) replaces the accessor registration defines: declare the field (${key}!: T) and register it in the constructor body`);
        }
        if (v instanceof Module && !everRegistered.has(v)) {
          fail(m.constructor.name, `${where} holds a ${v.constructor.name} that was never registered, so parameters() and stateDict() would leave it out; register it in the constructor: this.${key} = this.registerModule('${key}', …), or, to keep a model deliberately out of this one (a frozen teacher), hold it in a #private field`);
        }
        if (v instanceof Parameter && !everRegistered.has(v)) {
          fail(m.constructor.name, `${where} holds a Parameter that was never registered, so parameters() and stateDict() would leave it out; register it in the constructor: this.${key} = this.registerParameter('${key}', …)`);
        }
        // An array whose first element is not an object (numbers, strings: a schedule, a lookup
        // table) is not scanned, so holding a large one costs nothing on each parameters() call.
        if (Array.isArray(v) && v.length > 0 && typeof v[0] === 'object' && v[0] !== null) {
          // torch's plain-list pitfall: a list of layers is invisible to parameters(); nn.ModuleList is the fix.
          const i = v.findIndex((e) => (e instanceof Module || e instanceof Parameter) && !everRegistered.has(e));
          if (i >= 0) {
            const kind = v[i] instanceof Module ? 'ModuleList' : 'ParameterList';
            fail(m.constructor.name, `${where} is an array whose element ${i} is a ${(v[i] as object).constructor.name} that was never registered, so parameters() and stateDict() would leave it out; hold them in an nn.${kind}: this.${key} = this.registerModule('${key}', new nn.${kind}([…]))`);
          }
        }
      }
    }
  }

  // ---- traversal ----

  // A module registered twice (Sequential(lin, relu, lin)) is visited once, under its first name,
  // by every traversal below, as in torch; stateDict and loadStateDict list it under every name.

  /** The direct submodules by name, each module once. */
  *namedChildren(): Generator<[string, Module]> {
    const seen = new Set<Module>();
    for (const [name, m] of this._modules) {
      if (seen.has(m)) continue;
      seen.add(m);
      yield [name, m];
    }
  }

  *children(): Generator<Module> {
    for (const [, m] of this.namedChildren()) yield m;
  }

  /** This module and all below it, depth first, with dotted names ('' for this one); each module once. */
  *namedModules(prefix = '', memo: Set<Module> = new Set()): Generator<[string, Module]> {
    if (memo.has(this)) return;
    memo.add(this);
    yield [prefix, this];
    for (const [name, m] of this._modules) yield* m.namedModules(prefix ? `${prefix}.${name}` : name, memo);
  }

  /** Every path to every module, repeats included: the names stateDict uses. */
  private *namedModulePaths(prefix = ''): Generator<[string, Module]> {
    yield [prefix, this];
    for (const [name, m] of this._modules) yield* m.namedModulePaths(prefix ? `${prefix}.${name}` : name);
  }

  *modules(): Generator<Module> {
    for (const [, m] of this.namedModules()) yield m;
  }

  *namedParameters(prefix = '', recurse = true): Generator<[string, Parameter]> {
    this.checkRegistered();
    const seen = new Set<Tensor>();
    const mods: Iterable<[string, Module]> = recurse ? this.namedModules(prefix) : [[prefix, this]];
    for (const [mp, m] of mods) {
      for (const [name, p] of m._parameters) {
        if (p === null || seen.has(p)) continue;
        seen.add(p);
        yield [mp ? `${mp}.${name}` : name, p];
      }
    }
  }

  parameters(recurse = true): Parameter[] {
    return [...this.namedParameters('', recurse)].map(([, p]) => p);
  }

  *namedBuffers(prefix = '', recurse = true): Generator<[string, Tensor]> {
    const seen = new Set<Tensor>();
    const mods: Iterable<[string, Module]> = recurse ? this.namedModules(prefix) : [[prefix, this]];
    for (const [mp, m] of mods) {
      for (const [name, b] of m._buffers) {
        if (seen.has(b.tensor)) continue;
        seen.add(b.tensor);
        yield [mp ? `${mp}.${name}` : name, b.tensor];
      }
    }
  }

  buffers(recurse = true): Tensor[] {
    return [...this.namedBuffers('', recurse)].map(([, b]) => b);
  }

  /** Total number of parameter elements (trainable and not). */
  numParameters(onlyTrainable = false): number {
    return this.parameters().filter((p) => !onlyTrainable || p.requiresGrad).reduce((s, p) => s + p.numel(), 0);
  }

  // ---- modes and gradients ----

  /**
   * Sets this module's mode, then calls each child's own train(mode), as torch's Module.train: a
   * subclass that overrides train() (batch norms kept frozen while fine-tuning) is obeyed wherever
   * it sits in a model.
   */
  train(mode = true): this {
    if (typeof mode !== 'boolean') fail('train', `training mode is expected to be a boolean, got ${fmtValue(mode)}`);
    this.training = mode;
    for (const c of this.children()) c.train(mode);
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /**
   * Clears every parameter's gradient: sets .grad to null (PyTorch's default set_to_none=True), or
   * with setToNone = false fills each existing gradient with zeros in place.
   */
  zeroGrad(setToNone = true): void {
    if (typeof setToNone !== 'boolean') fail('zeroGrad', `setToNone must be a boolean, got ${fmtValue(setToNone)}`);
    const params = this.parameters();
    if (!setToNone) {
      // All checks first, so a bad gradient leaves every gradient as it was.
      for (const [name, p] of this.namedParameters()) {
        if (p.grad && !p.grad.isContiguous()) {
          fail('zeroGrad', `the grad of ${name} is a non-contiguous view, which cannot be zeroed in place; set a contiguous grad (g.contiguous())`);
        }
      }
    }
    for (const p of params) {
      if (setToNone) p.grad = null;
      else if (p.grad) {
        p.grad.data.fill(0);
        p.grad._bumpVersion();
      }
    }
  }

  /** Sets requiresGrad on every parameter (torch's Module.requires_grad_), e.g. to freeze a backbone. */
  requiresGrad_(requiresGrad = true): this {
    if (typeof requiresGrad !== 'boolean') fail('requiresGrad_', `requiresGrad must be a boolean, got ${fmtValue(requiresGrad)}`);
    for (const p of this.parameters()) p.requiresGrad = requiresGrad;
    return this;
  }

  /** Calls fn on every module (children first, then this one), as torch's Module.apply. */
  apply(fn: (m: Module) => void): this {
    for (const c of this.children()) c.apply(fn);
    fn(this);
    return this;
  }

  // ---- copying ----

  /**
   * An independent copy of this module and everything below it (torch's copy.deepcopy(module), which
   * TransformerEncoder's layer clones need): new parameters and buffers with the same values, dtypes and
   * requiresGrad, the same classes, registration names and order, training flags and plain fields.
   * Parameters come without their gradient (torch's Parameter.__deepcopy__); another tensor's gradient
   * is copied (Tensor.__deepcopy__). Tensor hooks are not copied, as torch's are not. Aliases stay aliases within the copy (a child registered twice, tied weights, a field that
   * refers to a registered parameter), as deepcopy's memo keeps them. Plain arrays, Maps, Sets, plain
   * objects and typed arrays are copied; functions and other class instances (a Random) are shared.
   * Tensors become contiguous copies, so two views of one storage become two separate tensors; a tensor
   * produced by an op (not a graph leaf) is refused, as torch's deepcopy refuses it.
   * The copy is made without running constructors, so state in ES `#private` fields, which JavaScript
   * gives no access to, cannot be copied: a class that keeps some there cannot be deep-copied.
   */
  deepCopy(): this {
    return Module.copyValue(this, new Map(), this.constructor.name) as this;
  }

  /** `where`: v's path from the module copied (Sequential.1.cache), for the error on a non-leaf. */
  private static copyValue(v: unknown, memo: Map<object, unknown>, where: string): unknown {
    if (v === null || typeof v !== 'object') return v; // primitives; functions are shared, as deepcopy's
    if (memo.has(v)) return memo.get(v);
    if (v instanceof Module) return Module.copyModule(v, memo, where);
    if (v instanceof Tensor) {
      if (!v.isLeaf) {
        fail('deepCopy', `${where} is a tensor of shape ${fmtShape(v.shape)} produced by an op (it is not a graph leaf); only leaves can be copied, as torch's deepcopy (detach() it before storing)`);
      }
      const copyTensor = (t: Tensor): Tensor => {
        const c = Tensor.empty(t.shape, t.dtype);
        c.storage.set(t.data);
        return c;
      };
      const c = v instanceof Parameter ? new Parameter(copyTensor(v), v.requiresGrad) : copyTensor(v);
      if (!(v instanceof Parameter)) c.requiresGrad = v.requiresGrad;
      memo.set(v, c);
      // torch's Parameter.__deepcopy__ is Parameter(self.data.clone(), self.requires_grad): no gradient, so a
      // backward through the copy does not accumulate onto the original's. Tensor.__deepcopy__ keeps it.
      const g = v.grad;
      if (g && !(v instanceof Parameter)) c.grad = copyTensor(g);
      return c;
    }
    if (Array.isArray(v)) {
      const out: unknown[] = [];
      memo.set(v, out);
      for (let i = 0; i < v.length; i++) {
        const e: unknown = v[i];
        out.push(e === null || typeof e !== 'object' ? e : Module.copyValue(e, memo, `${where}[${i}]`)); // no path built per number
      }
      return out;
    }
    if (v instanceof Map) {
      const out = new Map<unknown, unknown>();
      memo.set(v, out);
      for (const [k, e] of v) out.set(Module.copyValue(k, memo, `${where} (a key)`), Module.copyValue(e, memo, `${where}.get(${fmtValue(k)})`));
      return out;
    }
    if (v instanceof Set) {
      const out = new Set<unknown>();
      memo.set(v, out);
      for (const e of v) out.add(Module.copyValue(e, memo, `${where} (an element)`));
      return out;
    }
    if (ArrayBuffer.isView(v) && !(v instanceof DataView)) {
      const out = (v as unknown as { slice(): unknown }).slice();
      memo.set(v, out);
      return out;
    }
    const proto: unknown = Object.getPrototypeOf(v);
    if (proto === Object.prototype || proto === null) {
      const out: Record<string, unknown> = Object.create(proto) as Record<string, unknown>;
      memo.set(v, out);
      for (const [k, e] of Object.entries(v)) out[k] = Module.copyValue(e, memo, `${where}.${k}`);
      return out;
    }
    return v; // another class's instance (a Random): shared
  }

  private static copyModule(m: Module, memo: Map<object, unknown>, where: string): Module {
    const copy = Object.create(Object.getPrototypeOf(m) as object) as Module;
    memo.set(m, copy);
    const registries = ['_parameters', '_buffers', '_modules'];
    for (const key of registries) Object.defineProperty(copy, key, { value: new Map(), writable: true, enumerable: true, configurable: true });
    // Registration defines the copy's accessors, as the constructor's registration did the original's.
    for (const [name, p] of m._parameters) copy.registerParameter(name, Module.copyValue(p, memo, `${where}.${name}`) as Parameter | null);
    for (const [name, b] of m._buffers) copy.registerBuffer(name, Module.copyValue(b.tensor, memo, `${where}.${name}`) as Tensor, { persistent: b.persistent, integer: b.integer });
    for (const [name, c] of m._modules) copy.registerModule(name, Module.copyValue(c, memo, `${where}.${name}`) as Module);
    const registered = (k: string): boolean => m._parameters.has(k) || m._buffers.has(k) || m._modules.has(k);
    for (const key of Reflect.ownKeys(m)) {
      if (typeof key === 'string' && registries.includes(key)) continue;
      const d = Object.getOwnPropertyDescriptor(m, key) as PropertyDescriptor;
      if (d.get || d.set) {
        if (typeof key === 'string' && registered(key)) continue; // the accessor registration made above
        Object.defineProperty(copy, key, d);
      } else {
        Object.defineProperty(copy, key, { ...d, value: Module.copyValue(d.value, memo, `${where}.${String(key)}`) });
      }
    }
    return copy;
  }

  // ---- state ----

  /**
   * Parameters and persistent buffers by dotted name, in PyTorch's order (each module's own
   * parameters, then its buffers, then its children). Tensors share storage with the module.
   */
  stateDict(): StateDict {
    this.checkRegistered();
    const sd: StateDict = {};
    const visit = (m: Module, prefix: string): void => {
      for (const [name, p] of m._parameters) if (p !== null) sd[prefix + name] = p.detach();
      for (const [name, b] of m._buffers) if (b.persistent) sd[prefix + name] = b.tensor.detach();
      for (const [name, c] of m._modules) visit(c, `${prefix}${name}.`);
    };
    visit(this, '');
    return sd;
  }

  /** Names of persistent buffers PyTorch stores as int64 (num_batches_tracked). */
  integerStateKeys(): Set<string> {
    const keys = new Set<string>();
    for (const [mp, m] of this.namedModulePaths()) {
      for (const [name, b] of m._buffers) if (b.persistent && b.integer) keys.add(mp ? `${mp}.${name}` : name);
    }
    return keys;
  }

  /**
   * Copies values from `sd` into this module's parameters and buffers (converting dtype if needed).
   * Every shape mismatch and every tensor whose data does not fill its shape with numbers is an
   * error; with strict (the default) so is every missing or unexpected key. All problems are
   * reported together, by name, before anything is copied. As in PyTorch, a batch norm's
   * num_batches_tracked that `sd` lacks (older state dicts) is set to 0, not reported missing.
   */
  loadStateDict(sd: Record<string, TensorData> | Map<string, TensorData>, options: { strict?: boolean } = {}): LoadResult {
    const op = 'loadStateDict';
    if (sd === null || typeof sd !== 'object' || Array.isArray(sd) || ArrayBuffer.isView(sd)) {
      fail(op, `expected a state dict (an object or Map from names to tensors) for ${this.constructor.name}, got ${fmtValue(sd)}`);
    }
    checkKnownKeys(op, options, ['strict']);
    const strict = options.strict ?? true;
    if (typeof strict !== 'boolean') fail(op, `strict must be a boolean, got ${fmtValue(strict)}`);
    const src = sd instanceof Map ? sd : new Map(Object.entries(sd));
    const own = this.stateDict();
    const integers = this.integerStateKeys();
    // PyTorch's BatchNorm fills a num_batches_tracked missing from a state dict without version
    // metadata (every safetensors file) with 0 instead of calling it missing (version-1 state dicts).
    const zeroFilled = new Set(Object.keys(own).filter((k) => !src.has(k) && integers.has(k) && /(^|\.)num_batches_tracked$/.test(k)));
    const missingKeys = Object.keys(own).filter((k) => !src.has(k) && !zeroFilled.has(k));
    // Own keys only: `in` would also find Object.prototype's (a key 'constructor' was never unexpected).
    const unexpectedKeys = [...src.keys()].filter((k) => !Object.prototype.hasOwnProperty.call(own, k));
    const mismatched: string[] = [];
    const invalid: string[] = [];
    for (const [k, t] of Object.entries(own)) {
      const s = src.get(k);
      if (s === undefined) continue;
      if (typeof s !== 'object' || s === null || !Array.isArray(s.shape) || s.data === undefined) mismatched.push(`${k}: expected a tensor, got ${typeof s}`);
      else if (s.shape.length !== t.shape.length || s.shape.some((d, i) => d !== t.shape[i])) {
        mismatched.push(`${k}: checkpoint has shape ${fmtShape(s.shape)}, model has ${fmtShape(t.shape)}`);
      } else {
        const problem = dataProblem(s.data, t.shape, integers.has(k));
        if (problem !== null) invalid.push(`${k}: ${problem}`);
      }
    }
    const problems: string[] = [];
    if (mismatched.length) problems.push(`size mismatch for ${mismatched.join('; ')}`);
    if (invalid.length) problems.push(`invalid data for ${invalid.join('; ')}`);
    if (strict && missingKeys.length) problems.push(`missing keys: ${missingKeys.join(', ')}`);
    if (strict && unexpectedKeys.length) problems.push(`unexpected keys: ${unexpectedKeys.join(', ')}`);
    if (problems.length) fail('loadStateDict', `error(s) loading state dict into ${this.constructor.name}:\n  ${problems.join('\n  ')}`);
    noGrad(() => {
      for (const [k, t] of Object.entries(own)) {
        const s = src.get(k);
        if (s === undefined) {
          if (zeroFilled.has(k)) {
            t.data.fill(0);
            t._bumpVersion();
          }
          continue;
        }
        const d = t.data;
        // Once per tensor: a non-contiguous Tensor's `data` makes a full copy on every read.
        const values = s.data;
        for (let i = 0; i < d.length; i++) d[i] = values[i];
        t._bumpVersion(); // shared with the module's tensor: a graph that saved it is stale
      }
    });
    return { missingKeys, unexpectedKeys };
  }

  /**
   * Converts every parameter and floating buffer to `dtype` in place (the tensors keep their
   * identity). Integer buffers (num_batches_tracked, int64 in torch) keep their float64 storage, as
   * torch's to(dtype) casts floating-point tensors only: in float32 the count would stop at 2^24.
   * A tensor that is a view of another cannot be converted in place: that is refused, by name,
   * before anything is converted.
   */
  to(dtype: DType): this {
    if (!isDType(dtype)) fail('to', `unknown dtype ${String(dtype)} (expected float32 or float64)`);
    const integer = new Set<Tensor>();
    for (const m of this.modules()) for (const b of m._buffers.values()) if (b.integer) integer.add(b.tensor);
    const named = [...this.namedParameters(), ...this.namedBuffers()].filter(([, t]) => !integer.has(t) && t.dtype !== dtype);
    // All checks first, so a tensor that cannot be converted leaves the whole model as it was.
    for (const [name, t] of named) {
      if (!t._ownsWholeStorage()) {
        fail('to', `${name} (shape ${fmtShape(t.shape)}) does not own its whole storage (it is a view of another tensor), so it cannot be converted in place; nothing was converted (register a copy of its own: t.clone())`);
      }
    }
    for (const [, t] of named) t._convertStorage(dtype);
    return this;
  }

  /**
   * Moves every parameter, gradient and buffer into shared memory in place (PyTorch's
   * share_memory()). Tensors are made in shared memory while more than one thread is set
   * (setNumThreads), so this is only needed for a model built while one thread was set and then
   * run with more: without it, the thread pool cannot see its parameters, so every convolution
   * copies its weight each call and the optimizer updates on one thread. An optimizer's state
   * follows its parameters at its next step.
   */
  shareMemory(): this {
    for (const t of [...this.parameters(), ...this.buffers()]) t._shareStorage();
    return this;
  }

  double(): this {
    return this.to('float64');
  }

  float(): this {
    return this.to('float32');
  }

  // ---- printing ----

  /** The part inside the parentheses of this module's line, e.g. "3, 64, kernel_size=(7, 7)". */
  extraRepr(): string {
    return '';
  }

  /** The module tree as PyTorch's print(model) shows it. */
  toString(): string {
    const lines: string[] = [];
    for (const [name, m] of this._modules) {
      const child = m.toString().split('\n').map((l, i) => (i === 0 ? l : `  ${l}`)).join('\n');
      lines.push(`  (${name}): ${child}`);
    }
    const extra = this.extraRepr();
    const extraLines = extra ? extra.split('\n') : [];
    // As torch's __repr__: inline only for a one-line extra_repr and no children.
    if (lines.length === 0 && extraLines.length <= 1) return `${this.constructor.name}(${extra})`;
    return `${this.constructor.name}(\n${[...extraLines.map((l) => `  ${l}`), ...lines].join('\n')}\n)`;
  }
}

/**
 * Why `data` cannot fill a tensor of `shape`, or null. NaN and ±Infinity are float values like
 * any other; an integer buffer (num_batches_tracked, int64 in PyTorch) takes non-negative integers.
 */
function dataProblem(data: unknown, shape: readonly number[], integer: boolean): string | null {
  const n = shape.reduce((a, b) => a * b, 1);
  const length = data !== null && typeof data === 'object' ? (data as { length?: unknown }).length : undefined;
  if (typeof length !== 'number') return `data must be an array or a typed array of numbers, got ${fmtValue(data)}`;
  if (length !== n) return `data has ${length} elements but shape ${fmtShape(shape)} holds ${n}`;
  if (!integer && (data instanceof Float32Array || data instanceof Float64Array)) return null;
  const d = data as ArrayLike<unknown>;
  for (let i = 0; i < n; i++) {
    const v = d[i];
    if (typeof v !== 'number') return `element ${i} is ${fmtValue(v)}, not a number`;
    if (integer && !(Number.isSafeInteger(v) && v >= 0)) return `element ${i} is ${fmtValue(v)}, but it must be a non-negative integer (PyTorch stores it as int64)`;
  }
  return null;
}
