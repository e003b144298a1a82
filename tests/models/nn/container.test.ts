import { expect } from 'chai';
import { randn, tensor, zeros } from '../../../autograd/creation';
import * as F from '../../../autograd/functional';
import { Tensor } from '../../../autograd/tensor';
import { SGD } from '../../../lib/optim/sgd';
import { manualSeed } from '../../../lib/random';
import {
  BatchNorm1d, Linear, Module, ModuleDict, ModuleList, Parameter, ParameterList, ReLU, Sequential, Tanh,
} from '../../../models/nn/index';

/** A custom model holding its layers in a ModuleList, as torch users write it. */
class Mlp extends Module {
  readonly layers: ModuleList;
  constructor(sizes: number[]) {
    super();
    const linears: Linear[] = [];
    for (let i = 0; i + 1 < sizes.length; i++) linears.push(new Linear(sizes[i], sizes[i + 1], { dtype: 'float64' }));
    this.layers = this.registerModule('layers', new ModuleList(linears));
  }
  forward(x: Tensor): Tensor {
    const n = this.layers.length;
    for (let i = 0; i < n; i++) {
      x = this.layers.at(i).forward(x);
      if (i < n - 1) x = F.tanh(x);
    }
    return x;
  }
}

const values = (t: Tensor): number[] => Array.from(t.data);

describe('models/nn ModuleList', () => {
  beforeEach(() => manualSeed(3));

  it("registers children as '0', '1', ... and indexes them as torch (at with negative indices, set, length, iteration)", () => {
    const a = new Linear(2, 3), b = new ReLU(), c = new Linear(3, 1);
    const ml = new ModuleList([a, b]);
    expect(ml.length).to.equal(2);
    ml.append(c);
    expect([...ml.namedChildren()].map(([k]) => k)).to.deep.equal(['0', '1', '2']);
    expect([...ml]).to.deep.equal([a, b, c]);
    expect(ml.at(0)).to.equal(a);
    expect(ml.at(-1)).to.equal(c);
    expect(ml.at(-3)).to.equal(a);
    const d = new Tanh();
    ml.set(-2, d);
    expect([...ml]).to.deep.equal([a, d, c]);
    expect((ml as unknown as Record<string, Module>)['1'], 'the attribute torch reads as getattr(ml, "1")').to.equal(d);
    expect(Object.keys(ml.stateDict())).to.deep.equal(['0.weight', '0.bias', '2.weight', '2.bias']);
    const empty = new ModuleList();
    expect(empty.length).to.equal(0);
    expect([...empty]).to.deep.equal([]);
  });

  it("extend and insert renumber as torch's (insert shifts the later modules up by one)", () => {
    const [a, b, c, d, e] = [new ReLU(), new Tanh(), new Linear(1, 1), new Linear(1, 2), new Linear(2, 1)];
    const ml = new ModuleList([a]).extend([b, c]);
    expect([...ml]).to.deep.equal([a, b, c]);
    ml.insert(1, d);
    expect([...ml]).to.deep.equal([a, d, b, c]);
    expect([...ml.namedChildren()].map(([k, m]) => [k, m])).to.deep.equal([['0', a], ['1', d], ['2', b], ['3', c]]);
    ml.insert(-1, e); // Python's list.insert: before the last
    expect([...ml]).to.deep.equal([a, d, b, e, c]);
    const f = new ReLU();
    ml.insert(5, f); // at length: appends
    expect([...ml]).to.deep.equal([a, d, b, e, c, f]);
    ml.insert(0, b); // the same module twice: listed twice, visited once, as torch
    expect(ml.length).to.equal(7);
    expect([...ml.children()]).to.have.length(6);
    expect(Object.keys(ml.stateDict())).to.deep.equal(['2.weight', '2.bias', '4.weight', '4.bias', '5.weight', '5.bias']);
    const extended = new ModuleList([a]).extend(new ModuleList([b, c]));
    expect([...extended]).to.deep.equal([a, b, c]);
  });

  it("prints as torch 1.13's print(module_list), one line per child (no compression of repeats: that came in torch 2.0)", () => {
    const ml = new ModuleList([new Linear(2, 3), new Linear(2, 3), new ReLU()]);
    expect(ml.toString()).to.equal([
      'ModuleList(',
      '  (0): Linear(in_features=2, out_features=3, bias=True)',
      '  (1): Linear(in_features=2, out_features=3, bias=True)',
      '  (2): ReLU()',
      ')',
    ].join('\n'));
    expect(new ModuleList().toString()).to.equal('ModuleList()');
    const nested = new Sequential(new ModuleList([new ReLU()]));
    expect(nested.toString()).to.equal('Sequential(\n  (0): ModuleList(\n    (0): ReLU()\n  )\n)');
  });

  it('is seen by parameters(), train()/eval(), double(), zeroGrad() and loadStateDict() of the model holding it', () => {
    const m = new Mlp([3, 4, 2]);
    expect([...m.namedParameters()].map(([k]) => k)).to.deep.equal(['layers.0.weight', 'layers.0.bias', 'layers.1.weight', 'layers.1.bias']);
    expect(Object.keys(m.stateDict())).to.deep.equal(['layers.0.weight', 'layers.0.bias', 'layers.1.weight', 'layers.1.bias']);
    m.eval();
    expect([...m.modules()].map((x) => x.training)).to.deep.equal([false, false, false, false]);
    m.train();
    expect([...m.modules()].every((x) => x.training)).to.equal(true);
    const withBn = new ModuleList([new BatchNorm1d(2)]);
    withBn.eval();
    expect(withBn.at(0).training).to.equal(false);
    m.float();
    expect(m.parameters().map((p) => p.dtype)).to.deep.equal(['float32', 'float32', 'float32', 'float32']);
    m.double();
    expect(m.parameters().map((p) => p.dtype)).to.deep.equal(['float64', 'float64', 'float64', 'float64']);
    F.sum(m.forward(randn([2, 3], { dtype: 'float64' }))).backward();
    expect(m.parameters().every((p) => p.grad !== null)).to.equal(true);
    m.zeroGrad();
    expect(m.parameters().every((p) => p.grad === null)).to.equal(true);
    const w = randn([2, 4], { dtype: 'float64' });
    const sd = { ...m.stateDict(), 'layers.1.weight': w };
    m.loadStateDict(sd);
    expect(values((m.layers.at(1) as Linear).weight)).to.deep.equal(values(w));
    expect(() => m.loadStateDict({ 'layers.0.weight': zeros([4, 3]) })).to.throw('missing keys: layers.0.bias, layers.1.weight, layers.1.bias');
  });

  it('trains: one SGD step of a ModuleList MLP matches a float64 reference backprop written out by hand', () => {
    const m = new Mlp([3, 4, 2]);
    const x = randn([5, 3], { dtype: 'float64' }), t = randn([5, 2], { dtype: 'float64' });
    const L0 = m.layers.at(0) as Linear, L1 = m.layers.at(1) as Linear;
    const W1 = values(L0.weight), b1 = values(L0.bias!), W2 = values(L1.weight), b2 = values(L1.bias!);
    const X = values(x), T = values(t);
    // Reference: h = tanh(x W1ᵀ + b1), y = h W2ᵀ + b2, loss = mean((y − t)²) over 10 elements.
    const gW1 = new Array(12).fill(0), gb1 = new Array(4).fill(0), gW2 = new Array(8).fill(0), gb2 = new Array(2).fill(0);
    for (let n = 0; n < 5; n++) {
      const h: number[] = [];
      for (let j = 0; j < 4; j++) {
        let s = b1[j];
        for (let k = 0; k < 3; k++) s += W1[j * 3 + k] * X[n * 3 + k];
        h.push(Math.tanh(s));
      }
      const dh = new Array(4).fill(0);
      for (let o = 0; o < 2; o++) {
        let y = b2[o];
        for (let j = 0; j < 4; j++) y += W2[o * 4 + j] * h[j];
        const dy = (2 * (y - T[n * 2 + o])) / 10;
        gb2[o] += dy;
        for (let j = 0; j < 4; j++) {
          gW2[o * 4 + j] += dy * h[j];
          dh[j] += dy * W2[o * 4 + j];
        }
      }
      for (let j = 0; j < 4; j++) {
        const ds = dh[j] * (1 - h[j] * h[j]);
        gb1[j] += ds;
        for (let k = 0; k < 3; k++) gW1[j * 3 + k] += ds * X[n * 3 + k];
      }
    }
    const opt = new SGD(m.parameters(), { lr: 0.1 });
    F.mseLoss(m.forward(x), t).backward();
    opt.step();
    const expectStep = (p: Parameter, before: number[], g: number[], name: string): void => {
      const got = values(p);
      before.forEach((v, i) => expect(got[i], `${name}[${i}]`).to.be.closeTo(v - 0.1 * g[i], 1e-12));
    };
    expectStep(L0.weight, W1, gW1, 'layers.0.weight');
    expectStep(L0.bias!, b1, gb1, 'layers.0.bias');
    expectStep(L1.weight, W2, gW2, 'layers.1.weight');
    expectStep(L1.bias!, b2, gb2, 'layers.1.bias');
  });

  it("slice shares the modules as torch's list[a:b]; pop removes one and renumbers the rest", () => {
    const mods = [new Linear(1, 2), new ReLU(), new Linear(2, 3), new Tanh(), new Linear(3, 1)];
    const ml = new ModuleList(mods);
    // Python slicing: negative positions from the end, clamped, an empty list when start >= end.
    const ref = (a?: number, b?: number): Module[] => {
      const n = mods.length;
      const norm = (v: number | undefined, d: number): number => (v === undefined ? d : v < 0 ? Math.max(0, v + n) : Math.min(v, n));
      const lo = norm(a, 0), hi = norm(b, n);
      const out: Module[] = [];
      for (let i = lo; i < hi; i++) out.push(mods[i]);
      return out;
    };
    for (const [a, b] of [[undefined, undefined], [1, 3], [-2, undefined], [0, -1], [3, 1], [-9, 9], [5, 6]] as Array<[number | undefined, number | undefined]>) {
      const part = ml.slice(a, b);
      expect(part).to.be.instanceOf(ModuleList);
      expect([...part], `slice(${a}, ${b})`).to.deep.equal(ref(a, b));
      expect([...part.namedChildren()].map(([k]) => k), 'renumbered from 0').to.deep.equal(ref(a, b).map((_, i) => String(i)));
    }
    expect(ml.slice(1, 3).at(1), 'the same module, not a copy').to.equal(mods[2]);
    // A step, as torch's list[a:b:s]; Python's results for a 5-item list, negative steps counting down.
    const steps: Array<[number | undefined, number | undefined, number, number[]]> = [
      [undefined, undefined, 2, [0, 2, 4]], [1, 4, 2, [1, 3]], [-4, undefined, 3, [1, 4]], [0, 9, 7, [0]],
      [undefined, undefined, -1, [4, 3, 2, 1, 0]], [-1, 0, -2, [4, 2]], [4, 1, -1, [4, 3, 2]],
      [9, -9, -3, [4, 1]], [undefined, undefined, -7, [4]], [1, 3, -1, []], [undefined, 2, -1, [4, 3]], [2, undefined, -1, [2, 1, 0]],
    ];
    for (const [a, b, s, want] of steps) {
      expect([...ml.slice(a, b, s)], `slice(${a}, ${b}, ${s})`).to.deep.equal(want.map((i) => mods[i]));
    }
    expect(() => ml.slice(0, 5, 0)).to.throw('ModuleList: slice: step cannot be zero');
    expect(() => ml.slice(0, 5, 1.5)).to.throw('ModuleList: slice: step must be an integer, got 1.5');
    expect(ml.length, 'slicing leaves the list as it was').to.equal(5);

    expect(ml.pop(1)).to.equal(mods[1]);
    expect([...ml]).to.deep.equal([mods[0], mods[2], mods[3], mods[4]]);
    expect([...ml.namedChildren()].map(([k]) => k)).to.deep.equal(['0', '1', '2', '3']);
    expect(ml.pop()).to.equal(mods[4]);
    expect(ml.pop(-3)).to.equal(mods[0]);
    expect([...ml]).to.deep.equal([mods[2], mods[3]]);
    expect(Object.keys(ml.stateDict())).to.deep.equal(['0.weight', '0.bias']);
    expect((ml as unknown as Record<string, unknown>)['2'], 'no attribute left for a removed position').to.equal(undefined);
    expect(() => ml.pop(2)).to.throw('ModuleList: index 2 is out of range for 2 items');
    expect(() => ml.slice(0.5)).to.throw('ModuleList: slice: start must be an integer, got 0.5');
    expect(() => ml.slice(0, '1' as never)).to.throw('ModuleList: slice: end must be an integer, got "1"');
    ml.pop();
    ml.pop();
    expect(() => ml.pop()).to.throw('ModuleList: index -1 is out of range for 0 items');
  });

  it('has no forward, and refuses bad indices and non-modules, naming ModuleList', () => {
    const ml = new ModuleList([new ReLU(), new Tanh()]);
    expect(() => ml.forward(tensor([1]))).to.throw('ModuleList: has no forward()');
    expect(() => ml.at(2)).to.throw('ModuleList: index 2 is out of range for 2 items');
    expect(() => ml.at(-3)).to.throw('ModuleList: index -3 is out of range for 2 items');
    expect(() => ml.at(0.5)).to.throw('ModuleList: index must be an integer, got 0.5');
    expect(() => ml.set(2, new ReLU())).to.throw('ModuleList: index 2 is out of range for 2 items');
    expect(() => ml.set(0, tensor([1]) as never)).to.throw('ModuleList: cannot assign a Tensor of shape [1] at index 0 (a Module expected)');
    expect(() => ml.append(3 as never)).to.throw('ModuleList: append: expected a Module, got 3');
    expect(() => ml.extend(new ReLU() as never)).to.throw('ModuleList: expected an iterable of Modules, got a ReLU');
    expect(() => ml.extend([new ReLU(), 'relu'] as never)).to.throw('ModuleList: element 1 is "relu", not a Module');
    expect(ml.length, 'a refused extend adds nothing').to.equal(2);
    expect(() => ml.insert(3, new ReLU())).to.throw('ModuleList: insert: index 3 is out of range for 2 modules (expected -2 to 2)');
    expect(() => ml.insert(-3, new ReLU())).to.throw('ModuleList: insert: index -3 is out of range');
    expect(() => ml.insert(0, {} as never)).to.throw('ModuleList: insert: expected a Module, got an object');
    expect(() => new ModuleList(5 as never)).to.throw('ModuleList: expected an iterable of Modules, got 5');
  });

  it('parameters() refuses layers held in a plain array or an unregistered ModuleList, naming the field and the fix', () => {
    class Plain extends Module {
      layers: Linear[] = [];
      constructor() {
        super();
        this.layers = [new Linear(2, 2), new Linear(2, 2)];
      }
      forward(x: Tensor): Tensor {
        return x;
      }
    }
    expect(() => new Plain().parameters()).to.throw('Plain.layers is an array whose element 0 is a Linear that was never registered');
    expect(() => new Plain().stateDict()).to.throw('hold them in an nn.ModuleList');
    class Unregistered extends Module {
      layers = new ModuleList([new Linear(2, 2)]);
      forward(x: Tensor): Tensor {
        return x;
      }
    }
    expect(() => new Unregistered().parameters()).to.throw('Unregistered.layers holds a ModuleList that was never registered');
    // An array of registered layers (aliases of children) is fine.
    class Aliased extends Module {
      readonly seq: Sequential;
      readonly all: Module[];
      constructor() {
        super();
        this.seq = this.registerModule('seq', new Sequential(new Linear(2, 2)));
        this.all = [...this.seq];
      }
      forward(x: Tensor): Tensor {
        return x;
      }
    }
    expect(new Aliased().parameters()).to.have.length(2);
  });

  it('does not read every element of a large array of numbers or strings on each parameters()/zeroGrad() call', () => {
    // A Proxy over the array counts the element reads the check makes (Array.isArray sees through it).
    let reads = 0;
    const counted = <T>(a: T[]): T[] => new Proxy(a, {
      get(target, key, receiver) {
        if (typeof key === 'string' && /^\d+$/.test(key)) reads++;
        return Reflect.get(target, key, receiver) as unknown;
      },
    });
    class Holder extends Module {
      readonly fc: Linear;
      readonly table: number[];
      readonly labels: string[];
      readonly empty: number[] = [];
      constructor() {
        super();
        this.fc = this.registerModule('fc', new Linear(2, 2));
        this.table = counted(Array.from({ length: 100_000 }, (_, i) => i / 7));
        this.labels = counted(Array.from({ length: 100_000 }, (_, i) => `class ${i}`));
      }
      forward(x: Tensor): Tensor {
        return this.fc.forward(x);
      }
    }
    const m = new Holder();
    reads = 0;
    expect(m.parameters()).to.have.length(2);
    m.zeroGrad();
    m.zeroGrad(false);
    expect(Object.keys(m.stateDict())).to.deep.equal(['fc.weight', 'fc.bias']);
    expect(reads, 'element reads over 5 calls on two arrays of 100000').to.be.at.most(20);
  });
});

describe('models/nn ModuleDict', () => {
  beforeEach(() => manualSeed(4));

  it('holds modules by key in insertion order: get, set, has, delete, pop, keys, values, entries, length, iteration', () => {
    const a = new Linear(2, 3), b = new ReLU(), c = new Linear(3, 1);
    const md = new ModuleDict(new Map<string, Module>([['zeta', a], ['alpha', b]]));
    expect(md.keys()).to.deep.equal(['zeta', 'alpha']);
    md.set('out', c);
    expect(md.length).to.equal(3);
    expect(md.get('out')).to.equal(c);
    expect(md.has('alpha')).to.equal(true);
    expect(md.has('beta')).to.equal(false);
    expect(md.values()).to.deep.equal([a, b, c]);
    expect(md.entries()).to.deep.equal([['zeta', a], ['alpha', b], ['out', c]]);
    expect([...md], 'iteration yields the keys, as a Python dict').to.deep.equal(['zeta', 'alpha', 'out']);
    expect((md as unknown as Record<string, Module>).zeta, 'attribute access as torch').to.equal(a);
    expect(Object.keys(md.stateDict())).to.deep.equal(['zeta.weight', 'zeta.bias', 'out.weight', 'out.bias']);
    const a2 = new Linear(2, 3);
    md.set('zeta', a2); // replacing keeps the position
    expect(md.keys()).to.deep.equal(['zeta', 'alpha', 'out']);
    expect(md.parameters()).to.not.include(a.weight);
    expect(md.parameters()).to.include(a2.weight);
    md.delete('alpha');
    expect(md.keys()).to.deep.equal(['zeta', 'out']);
    expect(md.pop('zeta')).to.equal(a2);
    expect(md.keys()).to.deep.equal(['out']);
    expect((md as unknown as Record<string, unknown>).zeta, 'the attribute goes with the entry').to.equal(undefined);
    expect(md.parameters()).to.deep.equal([c.weight, c.bias]);
    md.set('zeta', a); // a removed key can be used again
    expect(md.keys()).to.deep.equal(['out', 'zeta']);
    md.clear();
    expect(md.length).to.equal(0);
    expect(md.parameters()).to.deep.equal([]);
  });

  it('takes an object, pairs or another ModuleDict; update adds and replaces', () => {
    const a = new ReLU(), b = new Tanh(), c = new Linear(1, 1);
    expect(new ModuleDict({ act: a, out: c }).keys()).to.deep.equal(['act', 'out']);
    const md = new ModuleDict([['b', b], ['a', a]]);
    expect(md.keys()).to.deep.equal(['b', 'a']);
    md.update({ a: c, z: a });
    expect(md.entries()).to.deep.equal([['b', b], ['a', c], ['z', a]]);
    expect(new ModuleDict(md).entries()).to.deep.equal(md.entries());
    expect(new ModuleDict().length).to.equal(0);
  });

  it("prints as torch's print(module_dict), and train()/eval() and double() reach its modules", () => {
    const md = new ModuleDict({ enc: new Linear(4, 2), act: new ReLU() });
    expect(md.toString()).to.equal('ModuleDict(\n  (enc): Linear(in_features=4, out_features=2, bias=True)\n  (act): ReLU()\n)');
    md.eval();
    expect(md.get('enc').training).to.equal(false);
    md.double();
    expect((md.get('enc') as Linear).weight.dtype).to.equal('float64');
  });

  it("refuses keys torch's add_module refuses (empty, containing '.', an existing attribute) and non-modules, naming ModuleDict", () => {
    const md = new ModuleDict();
    expect(() => md.set('', new ReLU())).to.throw('ModuleDict: a key cannot be the empty string ""');
    expect(() => md.set('a.b', new ReLU())).to.throw('ModuleDict: a key cannot contain ".", got "a.b"');
    for (const k of ['keys', 'training', 'forward', 'parameters', 'length', 'constructor']) {
      expect(() => md.set(k, new ReLU()), k).to.throw(`ModuleDict: key "${k}" is already an attribute of ModuleDict`);
    }
    expect(() => md.set(3 as never, new ReLU())).to.throw('ModuleDict: keys must be strings, got 3');
    expect(() => md.set('a', tensor([1]) as never)).to.throw('ModuleDict: the value for key "a" is a Tensor of shape [1], not a Module');
    expect(() => md.update({ ok: new ReLU(), 'bad.key': new ReLU() })).to.throw('ModuleDict: a key cannot contain "."');
    expect(md.length, 'a refused update adds nothing').to.equal(0);
    expect(() => md.update([['a', new ReLU(), 1]] as never)).to.throw('ModuleDict: update: element 0 must be a [key, module] pair, got ["a", a ReLU, 1]');
    expect(() => md.update(5 as never)).to.throw('ModuleDict: update: expected an object, a Map, a ModuleDict or [key, module] pairs, got 5');
    expect(() => md.update(new ReLU() as never)).to.throw('ModuleDict: update: expected an object');
    md.set('a', new ReLU());
    expect(() => md.get('b')).to.throw('ModuleDict: no module under key "b" (keys: "a")');
    expect(() => md.delete('b')).to.throw('ModuleDict: no module under key "b" to remove (keys: "a")');
    expect(() => md.pop('b')).to.throw('ModuleDict: no module under key "b" to remove');
    expect(() => md.forward(tensor([1]))).to.throw('ModuleDict: has no forward()');
  });
});

describe('models/nn ParameterList', () => {
  beforeEach(() => manualSeed(5));

  it("registers parameters as '0', '1', ...; a plain Tensor is wrapped in a Parameter sharing its storage", () => {
    const p = new Parameter(randn([3, 4])), t = randn([5]);
    const pl = new ParameterList([p, t]);
    expect(pl.length).to.equal(2);
    expect(pl.at(0)).to.equal(p);
    expect(pl.at(-1)).to.be.instanceOf(Parameter);
    expect(pl.at(1).requiresGrad).to.equal(true);
    expect(pl.at(1).storage).to.equal(t.storage);
    expect(Object.keys(pl.stateDict())).to.deep.equal(['0', '1']);
    const q = new Parameter(zeros([2]));
    pl.append(q).set(0, zeros([3, 4]));
    expect(pl.parameters()).to.have.length(3);
    expect(pl.parameters()[0]).to.not.equal(p);
    expect([...pl][2]).to.equal(q);
    expect(pl.toString()).to.equal([
      'ParameterList(',
      '    (0): Parameter containing: [torch.float32 of size 3x4]',
      '    (1): Parameter containing: [torch.float32 of size 5]',
      '    (2): Parameter containing: [torch.float32 of size 2]',
      ')',
    ].join('\n'));
    expect(new ParameterList().toString()).to.equal('ParameterList()');
    pl.double();
    expect(pl.parameters().map((x) => x.dtype)).to.deep.equal(['float64', 'float64', 'float64']);
  });

  it('refuses non-tensors and bad indices, naming ParameterList', () => {
    const pl = new ParameterList([zeros([1])]);
    expect(() => pl.at(1)).to.throw('ParameterList: index 1 is out of range for 1 item');
    expect(() => pl.append(1 as never)).to.throw('ParameterList: append: expected a Tensor or Parameter, got 1');
    expect(() => pl.set(0, [1] as never)).to.throw('ParameterList: cannot assign [1] at index 0');
    expect(() => pl.extend([zeros([1]), new ReLU()] as never)).to.throw('ParameterList: element 1 is a ReLU, not a Tensor');
    expect(pl.length).to.equal(1);
    expect(() => pl.forward()).to.throw('ParameterList: has no forward()');
  });
});
