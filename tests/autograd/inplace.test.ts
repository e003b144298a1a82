import { expect } from 'chai';
import { arange, ones, randn, tensor, zeros } from '../../autograd/creation';
import * as F from '../../autograd/functional';
import { noGrad } from '../../autograd/tape';
import { Tensor } from '../../autograd/tensor';
import { SGD } from '../../lib/optim/sgd';
import { manualSeed } from '../../lib/random';
import { Parameter } from '../../models/nn/module';
import { Linear } from '../../models/nn/linear';

type Nested = number | Nested[];

const depth = (v: Nested): number => (Array.isArray(v) ? 1 + depth(v[0]) : 0);

/** Reference: f over b broadcast to a's shape (trailing dims aligned), element by element through nested arrays. */
function refInplace(a: Nested, b: Nested, f: (x: number, y: number) => number): Nested {
  if (!Array.isArray(a)) return f(a, b as number);
  if (depth(b) < depth(a)) return a.map((ai) => refInplace(ai, b, f));
  const bs = b as Nested[];
  return a.map((ai, i) => refInplace(ai, bs.length === 1 ? bs[0] : bs[i], f));
}

const f32 = Math.fround;

describe('autograd/inplace', () => {
  describe('values', () => {
    it('add_ sub_ mul_ div_ with a tensor of the same shape, a broadcast tensor and a number; return self', () => {
      const a0 = [[1.5, -2, 3], [4, 0.25, -6]];
      const row = [0.5, -4, 3];
      const cases: Array<[string, (t: Tensor, o: Tensor | number) => Tensor, (x: number, y: number) => number]> = [
        ['add_', (t, o) => t.add_(o), (x, y) => x + y],
        ['sub_', (t, o) => t.sub_(o), (x, y) => x - y],
        ['mul_', (t, o) => t.mul_(o), (x, y) => x * y],
        ['div_', (t, o) => t.div_(o), (x, y) => x / y],
      ];
      for (const [name, op, f] of cases) {
        for (const dtype of ['float32', 'float64'] as const) {
          const r = dtype === 'float32' ? f32 : (v: number): number => v;
          const full = [[2, 0.5, -1], [3, -0.75, 8]];
          for (const other of [full, [row], row, 2.5]) {
            const t = tensor(a0, { dtype });
            const o = typeof other === 'number' ? other : tensor(other, { dtype });
            const res = op(t, o);
            expect(res, `${name} returns self`).to.equal(t);
            expect(t.shape).to.deep.equal([2, 3]);
            const want = refInplace(a0, other as Nested, (x, y) => r(f(r(x), r(y))));
            expect(t.toArray(), `${name} ${dtype} other ${JSON.stringify(other)}`).to.deep.equal(want);
          }
        }
      }
      // A 0-d self takes a number or a 0-d tensor.
      expect(tensor(3).mul_(tensor(-2)).item()).to.equal(-6);
    });

    it('add_ and sub_ take torch\'s alpha: self ± alpha·other, the product rounded to the dtype first', () => {
      const a = tensor([1, 2, 3], { dtype: 'float64' });
      a.add_(tensor([10, 20, 30], { dtype: 'float64' }), { alpha: 0.5 });
      expect(a.toArray()).to.deep.equal([6, 12, 18]);
      a.sub_(tensor([1, 1, 1], { dtype: 'float64' }), { alpha: 3 });
      expect(a.toArray()).to.deep.equal([3, 9, 15]);
      a.sub_(2, { alpha: -1 });
      expect(a.toArray()).to.deep.equal([5, 11, 17]);
      // float32: alpha and the product in float32, then the sum in float32 (torch's scalar loop).
      const x = [0.1, 1e-3, 7.3], y = [0.7, 3.3, -1.9];
      const t = tensor(x).add_(tensor(y), { alpha: 0.3 });
      expect(Array.from(t.data)).to.deep.equal(x.map((v, i) => f32(f32(v) + f32(f32(0.3) * f32(y[i])))));
      const u = tensor(x).sub_(tensor(y), { alpha: 0.3 });
      expect(Array.from(u.data)).to.deep.equal(x.map((v, i) => f32(f32(v) + f32(f32(-0.3) * f32(y[i])))));
      // float32's range ends at FLT_MAX; an infinite alpha is no conversion overflow (torch lets it through);
      // float64 takes any double.
      expect(tensor([0, 1]).add_(tensor([1, 1]), { alpha: 3.4028234663852886e38 }).toArray()).to.deep.equal([3.4028234663852886e38, 3.4028234663852886e38]);
      expect(tensor([0, 1]).add_(tensor([0, 1]), { alpha: Infinity }).toArray()).to.deep.equal([NaN, Infinity]);
      expect(tensor([1], { dtype: 'float64' }).add_(1, { alpha: 1e39 }).item()).to.equal(1e39);
      expect(tensor([1]).add_(1, {}).item()).to.equal(2);
      expect(tensor([1]).add_(1, null).item()).to.equal(2);
    });

    it('zero_, fill_, neg_ and clamp_ (NaN stays NaN; min > max gives max, as torch.clamp)', () => {
      expect(tensor([[1, 2], [3, 4]]).zero_().toArray()).to.deep.equal([[0, 0], [0, 0]]);
      expect(tensor([1, 2]).fill_(-2.5).toArray()).to.deep.equal([-2.5, -2.5]);
      expect(Number.isNaN(tensor([1]).fill_(NaN).item())).to.equal(true);
      expect(tensor([1], { dtype: 'float64' }).fill_(1e39).item()).to.equal(1e39);
      expect(tensor([1]).fill_(0.1).item()).to.equal(f32(0.1));
      expect(tensor([1, -2, 0]).neg_().toArray()).to.deep.equal([-1, 2, -0]);
      const c = tensor([-3, -1, 0.5, 2, 9, NaN]);
      c.clamp_(-1, 2);
      expect(Array.from(c.data).slice(0, 5)).to.deep.equal([-1, -1, 0.5, 2, 2]);
      expect(Number.isNaN(c.data[5])).to.equal(true);
      expect(tensor([-3, 5]).clamp_(0).toArray()).to.deep.equal([0, 5]);
      expect(tensor([-3, 5]).clamp_(null, 1).toArray()).to.deep.equal([-3, 1]);
      expect(tensor([-3, 5, 1]).clamp_(2, 1).toArray()).to.deep.equal([1, 1, 1]);
      // torch's clamp_out: both bounds given and one NaN fills the result with NaN.
      const n = tensor([[-3, 5], [1, 0]]).t();
      expect(n.clamp_(0, NaN)).to.equal(n);
      expect(Array.from(n.storage).every(Number.isNaN)).to.equal(true);
      expect(n._version).to.equal(1);
    });

    it('copy_ copies (and broadcasts) src into self, keeping self\'s storage', () => {
      const t = zeros([2, 3]);
      const storage = t.storage;
      expect(t.copy_(tensor([[1, 2, 3], [4, 5, 6]]))).to.equal(t);
      expect(t.storage).to.equal(storage);
      expect(t.toArray()).to.deep.equal([[1, 2, 3], [4, 5, 6]]);
      t.copy_(tensor([7, 8, 9]));
      expect(t.toArray()).to.deep.equal([[7, 8, 9], [7, 8, 9]]);
      t.copy_(tensor([[-1], [-2]]).t().t());
      expect(t.toArray()).to.deep.equal([[-1, -1, -1], [-2, -2, -2]]);
      // A transposed source is read through its strides.
      const m = zeros([3, 2]).copy_(tensor([[1, 2, 3], [4, 5, 6]]).t());
      expect(m.toArray()).to.deep.equal([[1, 4], [2, 5], [3, 6]]);
    });
  });

  describe('through views: the base storage changes, as torch', () => {
    it('a transposed view', () => {
      const base = arange(6).reshape(2, 3);
      base.t().mul_(tensor([[1], [10], [100]])); // row i of the transpose is column i of base
      expect(base.toArray()).to.deep.equal([[0, 10, 200], [3, 40, 500]]);
      base.t().add_(tensor([1, -1]));
      expect(base.toArray()).to.deep.equal([[1, 11, 201], [2, 39, 499]]);
      base.t().neg_();
      expect(base.toArray()).to.deep.equal([[-1, -11, -201], [-2, -39, -499]]);
      base.t().copy_(tensor([[1, 2], [3, 4], [5, 6]]));
      expect(base.toArray()).to.deep.equal([[1, 3, 5], [2, 4, 6]]);
    });

    it('slices, a stepped slice and a selected row or column leave the other elements alone', () => {
      const base = arange(12).reshape(3, 4);
      base.slice(1, 1, 3).fill_(-1);
      expect(base.toArray()).to.deep.equal([[0, -1, -1, 3], [4, -1, -1, 7], [8, -1, -1, 11]]);
      base.slice(1, 0, 4, 3).add_(100); // columns 0 and 3
      expect(base.toArray()).to.deep.equal([[100, -1, -1, 103], [104, -1, -1, 107], [108, -1, -1, 111]]);
      base.select(0, 1).zero_();
      base.select(1, 3).clamp_(null, 105);
      expect(base.toArray()).to.deep.equal([[100, -1, -1, 103], [0, 0, 0, 0], [108, -1, -1, 105]]);
      base.narrow(0, 0, 2).sub_(tensor([1, 2, 3, 4]), { alpha: 2 });
      expect(base.toArray()).to.deep.equal([[98, -5, -7, 95], [-2, -4, -6, -8], [108, -1, -1, 105]]);
      base.slice(0, 0, 3, 2).div_(tensor([[2], [4]]));
      expect(base.toArray()).to.deep.equal([[49, -2.5, -3.5, 47.5], [-2, -4, -6, -8], [27, -0.25, -0.25, 26.25]]);
    });

    it('a view of a Parameter (inside noGrad) writes into the Parameter', () => {
      const p = new Parameter(tensor([[1, 2], [3, 4]]));
      noGrad(() => p.t().select(0, 0).mul_(10)); // column 0 of p
      expect(p.toArray()).to.deep.equal([[10, 2], [30, 4]]);
    });
  });

  describe('an operand in self\'s memory', () => {
    it('laid out as self (x.add_(x), x.copy_(x)) is read element by element: the result of the out-of-place op', () => {
      const x = tensor([[1, -2], [3, 4]]);
      x.add_(x);
      expect(x.toArray()).to.deep.equal([[2, -4], [6, 8]]);
      x.mul_(x.view(2, 2));
      expect(x.toArray()).to.deep.equal([[4, 16], [36, 64]]);
      const v = x._version;
      x.copy_(x.detach());
      expect(x.toArray()).to.deep.equal([[4, 16], [36, 64]]);
      expect(x._version, 'copy_ counts as a write even when nothing changes, as torch').to.equal(v + 1);
      const t = x.t();
      t.sub_(x.t(), { alpha: 0.5 });
      expect(x.toArray()).to.deep.equal([[2, 8], [18, 32]]);
    });

    it('partly overlapping where torch can tell (both dense) is torch\'s error, and self is left as it was', () => {
      const x = tensor([[1, 2], [3, 4]]);
      expect(() => x.copy_(x.t())).to.throw(
        'copy_: unsupported operation: some elements of src (shape [2,2], strides [1,2]) and the written-to tensor (shape [2,2], strides [2,1]) ' +
        'refer to a single memory location; clone() src before the in-place op');
      expect(() => x.add_(x.t())).to.throw('add_: unsupported operation: some elements of other (shape [2,2], strides [1,2])');
      const r = arange(5);
      expect(() => r.slice(0, 1, 5).add_(r.slice(0, 0, 4))).to.throw('add_: unsupported operation: some elements of other');
      expect(() => r.mul_(r.slice(0, 0, 1))).to.throw('mul_: unsupported operation: some elements of other (shape [1], strides [1])');
      expect(x.toArray()).to.deep.equal([[1, 2], [3, 4]]);
      expect(x._version).to.equal(0);
      // As torch's message says: clone() the source, and the transpose is copied.
      x.copy_(x.t().clone());
      expect(x.toArray()).to.deep.equal([[1, 3], [2, 4]]);
      // Disjoint parts of one storage are fine.
      const s = arange(6);
      s.slice(0, 3, 6).add_(s.slice(0, 0, 3));
      expect(s.toArray()).to.deep.equal([0, 1, 2, 3, 5, 7]);
    });

    it('overlapping where torch cannot tell (a strided view) reads the operand as it was before the first write', () => {
      // m[:, 1:] += m[:, :2]: each row becomes [m0, m0 + m1, m1 + m2] (a loop writing in order would
      // have read the new m1 for the last column; torch leaves that case to its loop order).
      const m = arange(9).reshape(3, 3);
      m.slice(1, 1, 3).add_(m.slice(1, 0, 2));
      expect(m.toArray()).to.deep.equal([[0, 1, 3], [3, 7, 9], [6, 13, 15]]);
      const x = tensor([1, 2, 3]);
      x.add_(x.slice(0, 0, 1).expand(3)); // x + x[0], x[0] read before it changes
      expect(x.toArray()).to.deep.equal([2, 3, 4]);
      const y = tensor([[1, 2], [3, 4]]);
      y.slice(0, 0, 2, 1).copy_(y.slice(1, 1, 2).expand(2, 2)); // every row becomes column 1: [[2, 2], [4, 4]]
      expect(y.toArray()).to.deep.equal([[2, 2], [4, 4]]);
    });

    it('an expanded self (elements sharing memory) is torch\'s error, except for fill_ and zero_', () => {
      const base = tensor([[1, 2, 3]]);
      const e = base.expand(2, 3);
      const msg = 'unsupported operation: more than one element of the written-to tensor (shape [2,3], strides [0,1]) refers to a single memory location';
      expect(() => e.add_(1)).to.throw(`add_: ${msg}`);
      expect(() => e.copy_(ones([2, 3]))).to.throw(`copy_: ${msg}`);
      expect(() => e.neg_()).to.throw(`neg_: ${msg}`);
      expect(() => e.clamp_(0, 1)).to.throw(`clamp_: ${msg}`);
      expect(base.toArray()).to.deep.equal([[1, 2, 3]]);
      e.fill_(7);
      expect(base.toArray()).to.deep.equal([[7, 7, 7]]);
      e.zero_();
      expect(base.toArray()).to.deep.equal([[0, 0, 0]]);
    });
  });

  describe('version counter and autograd', () => {
    it('every in-place op bumps the storage\'s version once, seen by every view', () => {
      const x = tensor([[1, 2], [3, 4]]);
      const view = x.t();
      const ops: Array<(t: Tensor) => Tensor> = [
        (t) => t.add_(1), (t) => t.sub_(1), (t) => t.mul_(2), (t) => t.div_(2), (t) => t.zero_(), (t) => t.fill_(3),
        (t) => t.copy_(ones([2, 2])), (t) => t.clamp_(0), (t) => t.neg_(),
      ];
      ops.forEach((op, i) => {
        op(i % 2 === 0 ? x : view);
        expect(x._version, `op ${i}`).to.equal(i + 1);
        expect(view._version, `op ${i}`).to.equal(i + 1);
      });
    });

    it('a tensor saved for backward and then modified in place makes backward fail with the version message', () => {
      const w = tensor([1, 2], { requiresGrad: true });
      const x = tensor([3, 4]);
      const loss = F.mul(x, w).sum();
      x.add_(1);
      expect(() => loss.backward()).to.throw(
        "backward: a tensor of shape [2] (the input 'a') saved by mul for the gradient was modified in place " +
        '(by an in-place op such as add_, an optimizer step or loadStateDict) after it was saved: version 1, expected 0; compute the loss again after the update');
      expect(w.grad).to.equal(null);
      // Through a view, and for a saved output modified inside noGrad.
      const m = tensor([[1, 2], [3, 4]]);
      const loss2 = F.mul(m, w).sum();
      m.t().select(0, 1).zero_();
      expect(() => loss2.backward()).to.throw(/saved by mul .* version 1, expected 0/);
      const y = F.exp(w);
      const z = y.sum();
      noGrad(() => y.mul_(2));
      expect(() => z.backward()).to.throw('backward: a tensor of shape [2] (the output) saved by exp for the gradient was modified in place');
      // A graph that saved nothing of x runs: add's backward needs no values.
      const u = tensor([1, 1]);
      const loss3 = F.add(u, w).sum();
      u.mul_(5);
      loss3.backward();
      expect(w.grad!.toArray()).to.deep.equal([1, 1]);
    });

    it('in grad mode, an in-place op on a leaf that requires grad is torch\'s error, naming the op and shape; inside noGrad it runs', () => {
      const p = tensor([[1, 2, 3]], { requiresGrad: true });
      const calls: Array<[string, () => unknown]> = [
        ['add_', () => p.add_(1)], ['sub_', () => p.sub_(ones([3]))], ['mul_', () => p.mul_(2)], ['div_', () => p.div_(2)],
        ['zero_', () => p.zero_()], ['fill_', () => p.fill_(1)], ['copy_', () => p.copy_(ones([1, 3]))],
        ['clamp_', () => p.clamp_(0)], ['neg_', () => p.neg_()],
      ];
      for (const [name, call] of calls) {
        expect(call, name).to.throw(`${name}: a leaf tensor that requires grad is being used in an in-place operation (shape [1,3]); update it inside noGrad(() => ...)`);
      }
      expect(p.toArray()).to.deep.equal([[1, 2, 3]]);
      expect(p._version).to.equal(0);
      noGrad(() => p.add_(1));
      expect(p.toArray()).to.deep.equal([[2, 3, 4]]);
      expect([p.isLeaf, p.requiresGrad, p._version]).to.deep.equal([true, true, 1]);
    });

    it('in grad mode, a non-leaf that requires grad (a view of such a leaf included) and an operand that requires grad are refused', () => {
      const p = tensor([[1, 2], [3, 4]], { requiresGrad: true });
      expect(() => p.t().add_(1)).to.throw(
        'add_: in-place operation on a tensor that requires grad and was produced by PermuteBackward (shape [2,2], a view of a leaf that requires grad included): ' +
        'tsgrad does not record in-place ops (torch rebases the history); use the out-of-place x.add(other)');
      const h = F.mul(p, 2);
      expect(() => h.relu().clamp_(0, 1)).to.throw('clamp_: in-place operation on a tensor that requires grad and was produced by ReluBackward');
      const acc = zeros([2, 2]);
      expect(() => acc.add_(h)).to.throw(
        'add_: other (shape [2,2]) requires grad: tsgrad does not record in-place ops (torch would); use the out-of-place x.add(other), ' +
        'or run it inside noGrad(() => ...) if no gradient should flow through it');
      expect(() => acc.copy_(p)).to.throw('copy_: src (shape [2,2]) requires grad');
      expect(acc.toArray()).to.deep.equal([[0, 0], [0, 0]]);
      // Inside noGrad both run, as in torch, and record nothing.
      noGrad(() => acc.add_(h).add_(p));
      expect(acc.toArray()).to.deep.equal([[3, 6], [9, 12]]);
      expect([acc.requiresGrad, acc.isLeaf]).to.deep.equal([false, true]);
      noGrad(() => h.mul_(0.5));
      expect(h.toArray()).to.deep.equal([[1, 2], [3, 4]]);
      // A tensor that requires no grad is free to change in grad mode (a running buffer, a mask).
      const buf = zeros([2]);
      buf.mul_(0.9).add_(tensor([1, 2]), { alpha: 0.1 });
      expect(Array.from(buf.data)).to.deep.equal([f32(0.1), f32(f32(0.1) * 2)]);
    });

    it('a manual SGD step inside noGrad equals the out-of-place update and the SGD optimizer, and training continues', () => {
      manualSeed(3);
      const lin = new Linear(3, 2, { dtype: 'float64' });
      const x = randn([4, 3], { dtype: 'float64' });
      const lr = 0.1;
      const lossOf = (): Tensor => F.mseLoss(lin.forward(x), zeros([4, 2], { dtype: 'float64' }));
      lossOf().backward();
      const params = lin.parameters();
      const before = params.map((p) => p.detach().clone());
      const grads = params.map((p) => p.grad!.clone());
      const expected = params.map((p) => noGrad(() => p.sub(p.grad!.mul(lr))));
      for (const p of params) {
        const r = noGrad(() => p.sub_(p.grad!.mul(lr)));
        expect(r).to.equal(p);
        expect(p).to.be.instanceOf(Parameter);
        expect([p.isLeaf, p.requiresGrad, p._version]).to.deep.equal([true, true, 2]); // init, then this step
      }
      params.forEach((p, i) => {
        expect(Array.from(p.data), `param ${i}`).to.deep.equal(Array.from(expected[i].data));
        expect(Array.from(p.grad!.data), `grad ${i} untouched`).to.deep.equal(Array.from(grads[i].data));
      });
      // The optimizer's plain SGD step from the same start gives the same values.
      const twin = new Linear(3, 2, { dtype: 'float64' });
      noGrad(() => twin.parameters().forEach((p, i) => p.copy_(before[i])));
      twin.parameters().forEach((p, i) => { p.grad = grads[i].clone(); });
      new SGD(twin.parameters(), { lr }).step();
      twin.parameters().forEach((p, i) => expect(Array.from(p.data), `SGD param ${i}`).to.deep.equal(Array.from(params[i].data)));
      // zero_ on the gradients (torch's zero_grad(set_to_none=False)), then a fresh forward and backward.
      noGrad(() => params.forEach((p) => p.grad!.zero_()));
      const loss = lossOf();
      loss.backward();
      params.forEach((p) => expect(p.grad!.data.some((v) => v !== 0)).to.equal(true));
    });
  });

  describe('errors name the op and the offending shapes or values', () => {
    it('shape: other must broadcast to self\'s shape, which never changes', () => {
      expect(() => zeros([3]).add_(zeros([2, 3]))).to.throw(
        "add_: output with shape [3] doesn't match the broadcast shape [2,3] (self [3], other [2,3]): an in-place op cannot change self's shape");
      expect(() => zeros([2, 1]).mul_(zeros([2, 3]))).to.throw("mul_: output with shape [2,1] doesn't match the broadcast shape [2,3]");
      expect(() => tensor(1).sub_(tensor([1]))).to.throw("sub_: output with shape [] doesn't match the broadcast shape [1]");
      expect(() => zeros([2, 3]).div_(zeros([4]))).to.throw('div_: cannot broadcast [2,3] with [4]');
      expect(() => zeros([2]).copy_(zeros([3]))).to.throw('copy_: cannot broadcast [2] with [3]');
    });

    it('dtype: a tensor operand must have self\'s dtype (numbers take it)', () => {
      expect(() => zeros([2]).add_(ones([2], { dtype: 'float64' }))).to.throw(
        "add_: dtype mismatch: 'self' is float32 [2] but 'other' is float64 [2]; convert other with .to('float32')");
      expect(() => zeros([2], { dtype: 'float64' }).copy_(ones([2]))).to.throw(
        "copy_: dtype mismatch: self is float64 [2] but src is float32 [2]; this project does not convert in copy_ (torch does): pass src.to('float64')");
      expect(zeros([2], { dtype: 'float64' }).add_(0.1).toArray()).to.deep.equal([0.1, 0.1]);
    });

    it('arguments: kinds, options, fill values and clamp bounds', () => {
      const t = zeros([2]);
      expect(() => t.add_('1' as unknown as number)).to.throw('add_: other must be a Tensor or a number, got "1"');
      expect(() => t.mul_(null as unknown as number)).to.throw('mul_: other must be a Tensor or a number, got null');
      expect(() => t.add_(1, { alpah: 2 } as never)).to.throw("add_: unknown option 'alpah' (did you mean 'alpha'?)");
      expect(() => t.sub_(1, { alpha: '2' as unknown as number })).to.throw('sub_: alpha must be a number, got "2"');
      expect(() => t.add_(1, 2 as never)).to.throw('add_: options must be an object, got 2');
      expect(() => t.copy_([1, 2] as unknown as Tensor)).to.throw('copy_: src must be a Tensor, got [1, 2]');
      expect(() => t.fill_(tensor(1) as unknown as number)).to.throw('fill_: value must be a number, got a Tensor of shape []; pass value.item()');
      expect(() => t.fill_(1e39)).to.throw('fill_: value 1e+39 cannot be converted to float32 without overflow (tensor of shape [2])');
      // torch converts alpha with alpha.to<float>(), the checked conversion: a finite alpha beyond
      // float32's range is an error there, not an infinite multiplier (inf·0 = NaN, inf·y = ±inf).
      expect(() => t.add_(ones([2]), { alpha: 1e39 })).to.throw(
        'add_: alpha 1e+39 cannot be converted to float32 without overflow (self of shape [2])');
      expect(() => t.sub_(1, { alpha: -4e38 })).to.throw('sub_: alpha -4e+38 cannot be converted to float32 without overflow');
      expect(() => t.clamp_()).to.throw('clamp_: at least one of min and max must be given');
      expect(() => t.clamp_('0' as unknown as number)).to.throw('clamp_: min and max must be numbers, got min="0", max=undefined');
      expect(t.toArray()).to.deep.equal([0, 0]);
      expect(t._version).to.equal(0);
    });
  });
});
