/**
 * nn.Conv1d, nn.ConvTranspose2d, nn.MaxPool1d, nn.AvgPool1d, nn.AdaptiveAvgPool1d: torch's
 * parameter shapes and default init bounds, stateDict keys, reprs (torch 1.13's print(model)
 * strings), forward = the functional op with the layer's settings, and constructor errors.
 * The values and gradients of the ops themselves are tested in tests/autograd/conv1d_pool1d.test.ts
 * and conv_transpose2d.test.ts.
 */
import { expect } from 'chai';
import { randn } from '../../../autograd/creation';
import * as F from '../../../autograd/functional';
import { manualSeed } from '../../../lib/random';
import { AdaptiveAvgPool1d, AvgPool1d, Conv1d, ConvTranspose2d, MaxPool1d, type Module, Parameter, Sequential } from '../../../models/nn/index';

/** Every value within ±bound and the largest near it (so a smaller bound, from a larger fan_in, fails). */
function expectUniformBound(p: Parameter, bound: number, label: string): void {
  const v = Array.from(p.data).map(Math.abs);
  const max = Math.max(...v);
  expect(max, label).to.be.at.most(bound);
  if (v.length >= 200) expect(max, label).to.be.above(0.95 * bound);
}

function stateShapes(m: Module): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const [k, t] of Object.entries(m.stateDict())) out[k] = [...(t as { shape: readonly number[] }).shape];
  return out;
}

describe('nn.Conv1d', () => {
  beforeEach(() => manualSeed(7));

  it('has weight [out, in/groups, k] and bias [out], initialised U(±1/√(in/groups·k)) as torch', () => {
    const c = new Conv1d(16, 32, 5);
    expect(stateShapes(c)).to.deep.equal({ weight: [32, 16, 5], bias: [32] });
    expectUniformBound(c.weight, 1 / Math.sqrt(16 * 5), 'weight');
    expectUniformBound(c.bias!, 1 / Math.sqrt(16 * 5), 'bias');
    const g = new Conv1d(8, 64, 3, { groups: 4, bias: false });
    expect(stateShapes(g)).to.deep.equal({ weight: [64, 2, 3] });
    expect(g.bias).to.equal(null);
    expectUniformBound(g.weight, 1 / Math.sqrt(2 * 3), 'grouped weight');
  });

  it("prints as torch 1.13: one-element tuples, the non-default settings in _ConvNd's order", () => {
    expect(new Conv1d(3, 8, 3).toString()).to.equal('Conv1d(3, 8, kernel_size=(3,), stride=(1,))');
    expect(new Conv1d(4, 8, [5], { stride: 2, padding: 2, dilation: 3, groups: 2, bias: false }).toString())
      .to.equal('Conv1d(4, 8, kernel_size=(5,), stride=(2,), padding=(2,), dilation=(3,), groups=2, bias=False)');
    expect(new Conv1d(3, 2, 4, { padding: 'same' }).toString()).to.equal('Conv1d(3, 2, kernel_size=(4,), stride=(1,), padding=same)');
    expect(new Conv1d(3, 2, 4, { padding: 'valid' }).toString()).to.equal('Conv1d(3, 2, kernel_size=(4,), stride=(1,), padding=valid)');
  });

  it('forward is F.conv1d with its settings, batched and unbatched', () => {
    const c = new Conv1d(4, 6, 3, { stride: 2, padding: 1, dilation: 2, groups: 2, dtype: 'float64' });
    const x = randn([2, 4, 11], { dtype: 'float64' });
    const want = F.conv1d(x, c.weight, c.bias, { stride: 2, padding: 1, dilation: 2, groups: 2 });
    expect(want.shape).to.deep.equal([2, 6, 5]);
    expect(c.forward(x).toArray()).to.deep.equal(want.toArray());
    expect(c.forward(x.select(0, 1)).toArray()).to.deep.equal(want.select(0, 1).toArray());
    const same = new Conv1d(4, 2, 4, { padding: 'same', dtype: 'float64' });
    expect(same.forward(x).shape).to.deep.equal([2, 2, 11]);
  });

  it('rejects bad arguments, naming Conv1d', () => {
    expect(() => new Conv1d(3, 8, [3, 3])).to.throw('Conv1d: kernelSize must be an integer >= 1 or a one-element array of one, got [3,3]');
    expect(() => new Conv1d(4, 6, 3, { groups: 4 })).to.throw('Conv1d: groups 4 must be a positive integer dividing inChannels 4 and outChannels 6');
    expect(() => new Conv1d(0, 6, 3)).to.throw('Conv1d: inChannels must be a positive integer, got 0');
    expect(() => new Conv1d(3, 2, 3, { padding: 'same', stride: 2 })).to.throw("Conv1d: padding='same' is not supported for strided convolutions");
    expect(() => new Conv1d(3, 2, 3, { padding_mode: 'zeros' } as never)).to.throw("Conv1d: unknown option 'padding_mode'");
    expect(() => new Conv1d(3, 8, 3).forward(randn([2, 4, 10]))).to.throw('conv1d: input has 4 channels but weight expects 3 (input [2,4,10], weight [8,3,3], groups 1)');
  });
});

describe('nn.ConvTranspose2d', () => {
  beforeEach(() => manualSeed(8));

  it('has weight [in, out/groups, kh, kw]; torch takes fan_in from weight.size(1)·kh·kw, so the bound is 1/√(out/groups·kh·kw)', () => {
    const c = new ConvTranspose2d(16, 6, 3, { groups: 2 });
    expect(stateShapes(c)).to.deep.equal({ weight: [16, 3, 3, 3], bias: [6] });
    // fan_in = 3·9 = 27, not in·kh·kw = 144 as for a Conv2d of these channels.
    expectUniformBound(c.weight, 1 / Math.sqrt(27), 'weight');
    expectUniformBound(c.bias!, 1 / Math.sqrt(27), 'bias');
    const r = new ConvTranspose2d(4, 32, [2, 3], { bias: false });
    expect(stateShapes(r)).to.deep.equal({ weight: [4, 32, 2, 3] });
    expectUniformBound(r.weight, 1 / Math.sqrt(32 * 6), 'rectangular weight');
  });

  it("prints as torch 1.13: padding, dilation, output_padding, groups, bias in _ConvNd.extra_repr's order", () => {
    expect(new ConvTranspose2d(3, 8, 3).toString()).to.equal('ConvTranspose2d(3, 8, kernel_size=(3, 3), stride=(1, 1))');
    expect(new ConvTranspose2d(16, 6, 3, { stride: 2, padding: 1, outputPadding: 1, groups: 2 }).toString())
      .to.equal('ConvTranspose2d(16, 6, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), output_padding=(1, 1), groups=2)');
    expect(new ConvTranspose2d(4, 4, [2, 3], { dilation: 2, outputPadding: [1, 0], bias: false }).toString())
      .to.equal('ConvTranspose2d(4, 4, kernel_size=(2, 3), stride=(1, 1), dilation=(2, 2), output_padding=(1, 0), bias=False)');
  });

  it('forward is F.convTranspose2d with its settings: stride 2, padding 1, outputPadding 1 doubles H and W', () => {
    const c = new ConvTranspose2d(3, 5, 3, { stride: 2, padding: 1, outputPadding: 1, dtype: 'float64' });
    const x = randn([2, 3, 4, 6], { dtype: 'float64' });
    const y = c.forward(x);
    expect(y.shape).to.deep.equal([2, 5, 8, 12]);
    expect(y.toArray()).to.deep.equal(F.convTranspose2d(x, c.weight, c.bias, { stride: 2, padding: 1, outputPadding: 1 }).toArray());
    expect(c.forward(x.select(0, 0)).toArray()).to.deep.equal(y.select(0, 0).toArray());
  });

  it("forward(x, outputSize) picks the output padding that gives that size, as torch's output_size", () => {
    // Stride 3, padding 1, kernel 3 on a 4×5 input: without output padding (4−1)·3 − 2 + 2 + 1 = 10 rows
    // and 13 columns; the sizes reachable are 10..12 and 13..15 (output padding 0..stride−1).
    const c = new ConvTranspose2d(2, 3, 3, { stride: 3, padding: 1, outputPadding: 2, dtype: 'float64' });
    const x = randn([2, 2, 4, 5], { dtype: 'float64' });
    const opts = { stride: 3, padding: 1 };
    for (const [oh, ow] of [[10, 13], [11, 15], [12, 14]]) {
      const y = c.forward(x, [oh, ow]);
      expect(y.shape).to.deep.equal([2, 3, oh, ow]);
      // The module's own outputPadding (2) is not used when a size is asked for, as in torch.
      expect(y.toArray()).to.deep.equal(F.convTranspose2d(x, c.weight, c.bias, { ...opts, outputPadding: [oh - 10, ow - 13] }).toArray());
    }
    expect(c.forward(x, [2, 3, 11, 14]).shape, 'the whole [N, C, H, W] size').to.deep.equal([2, 3, 11, 14]);
    expect(c.forward(x.select(0, 1), [3, 11, 14]).shape, 'unbatched: [C, H, W]').to.deep.equal([3, 11, 14]);
    expect(c.forward(x, null).shape, 'null: the module\'s outputPadding').to.deep.equal([2, 3, 12, 15]);
    expect(() => c.forward(x, [13, 14])).to.throw('ConvTranspose2d: requested an output size of [13,14], but valid sizes range from [10,13] to [12,15] (for an input of [4,5])');
    expect(() => c.forward(x, [9, 14])).to.throw('ConvTranspose2d: requested an output size of [9,14]');
    expect(() => c.forward(x, [11])).to.throw('ConvTranspose2d: for 4D input, outputSize must have 2 or 4 elements (got 1: [11])');
    expect(() => c.forward(x.select(0, 1), [2, 3, 11, 14])).to.throw('ConvTranspose2d: for 3D input, outputSize must have 2 or 3 elements (got 4');
    expect(() => c.forward(x, [11.5, 14])).to.throw('ConvTranspose2d: outputSize must be an array of non-negative integers, got [11.5, 14]');

    // Dilation and groups, per dim: torch's H_out = (H_in − 1)·stride − 2·padding + dilation·(k − 1)
    // + output_padding + 1 on a 3×4 input: rows (2·2 − 2 + 2·2 + 1) = 7..8, columns (3·3 − 0 + 3·1 + 1) = 13..15.
    const d = new ConvTranspose2d(4, 6, [3, 2], { stride: [2, 3], padding: [1, 0], dilation: [2, 3], groups: 2, dtype: 'float64' });
    const xd = randn([1, 4, 3, 4], { dtype: 'float64' });
    const dOpts = { stride: [2, 3] as [number, number], padding: [1, 0] as [number, number], dilation: [2, 3] as [number, number], groups: 2 };
    for (const [oh, ow] of [[7, 13], [8, 14], [8, 15]]) {
      const y = d.forward(xd, [oh, ow]);
      expect(y.shape).to.deep.equal([1, 6, oh, ow]);
      expect(y.toArray()).to.deep.equal(F.convTranspose2d(xd, d.weight, d.bias, { ...dOpts, outputPadding: [oh - 7, ow - 13] }).toArray());
    }
    expect(() => d.forward(xd, [9, 13])).to.throw('ConvTranspose2d: requested an output size of [9,13], but valid sizes range from [7,13] to [8,15] (for an input of [3,4])');
    expect(() => d.forward(xd, [7, 12])).to.throw('ConvTranspose2d: requested an output size of [7,12], but valid sizes range from [7,13] to [8,15]');
  });

  it('loads a state dict and sits in a Sequential with the other layers', () => {
    const a = new ConvTranspose2d(2, 3, 2, { stride: 2 }), b = new ConvTranspose2d(2, 3, 2, { stride: 2 });
    b.loadStateDict(a.stateDict());
    expect(Array.from(b.weight.data)).to.deep.equal(Array.from(a.weight.data));
    const m = new Sequential(new Conv1d(2, 4, 3, { padding: 1 }), new MaxPool1d(2), new AvgPool1d(2), new AdaptiveAvgPool1d(1));
    expect(Object.keys(m.stateDict())).to.deep.equal(['0.weight', '0.bias']);
    expect(m.forward(randn([3, 2, 8])).shape).to.deep.equal([3, 4, 1]);
  });

  it('rejects bad arguments: at construction naming ConvTranspose2d, at forward naming convTranspose2d', () => {
    expect(() => new ConvTranspose2d(3, 8, 3, { output_padding: 1 } as never)).to.throw("ConvTranspose2d: unknown option 'output_padding' (did you mean 'outputPadding'?)");
    expect(() => new ConvTranspose2d(4, 6, 3, { groups: 4 })).to.throw('ConvTranspose2d: groups 4 must be a positive integer dividing inChannels 4 and outChannels 6');
    expect(() => new ConvTranspose2d(3, 8, 3, { padding: 'same' as never })).to.throw('ConvTranspose2d: padding must be an integer >= 0 or a pair of them, got "same"');
    expect(() => new ConvTranspose2d(3, 8, 3, { outputPadding: 1 }).forward(randn([1, 3, 4, 4])))
      .to.throw('convTranspose2d: output padding must be smaller than either stride or dilation, got outputPadding [1,1], stride [1,1], dilation [1,1]');
    expect(() => new ConvTranspose2d(3, 8, 3).forward(randn([1, 4, 4, 4]))).to.throw('convTranspose2d: input has 4 channels but weight expects 3 (input [1,4,4,4], weight [3,8,3,3], groups 1)');
  });
});

describe('nn.MaxPool1d, nn.AvgPool1d, nn.AdaptiveAvgPool1d', () => {
  it("print as torch 1.13: MaxPool1d keeps what it was given, AvgPool1d one-element tuples (torch's _single)", () => {
    expect(new MaxPool1d(3).toString()).to.equal('MaxPool1d(kernel_size=3, stride=3, padding=0, dilation=1, ceil_mode=False)');
    expect(new MaxPool1d(3, { stride: 2, padding: 1, dilation: 2, ceilMode: true }).toString())
      .to.equal('MaxPool1d(kernel_size=3, stride=2, padding=1, dilation=2, ceil_mode=True)');
    expect(new AvgPool1d(3).toString()).to.equal('AvgPool1d(kernel_size=(3,), stride=(3,), padding=(0,))');
    expect(new AvgPool1d(4, { stride: 2, padding: 1, countIncludePad: false }).toString()).to.equal('AvgPool1d(kernel_size=(4,), stride=(2,), padding=(1,))');
    expect(new AdaptiveAvgPool1d(5).toString()).to.equal('AdaptiveAvgPool1d(output_size=5)');
  });

  it('forward is the functional op with the layer settings; no parameters', () => {
    const x = randn([2, 3, 11], { dtype: 'float64' });
    const cases: Array<[Module, ReturnType<typeof F.maxPool1d>]> = [
      [new MaxPool1d(3, { stride: 2, padding: 1, ceilMode: true }), F.maxPool1d(x, { kernelSize: 3, stride: 2, padding: 1, ceilMode: true })],
      [new AvgPool1d(3, { stride: 2, padding: 1, ceilMode: true, countIncludePad: false }),
        F.avgPool1d(x, { kernelSize: 3, stride: 2, padding: 1, ceilMode: true, countIncludePad: false })],
      [new AdaptiveAvgPool1d(4), F.adaptiveAvgPool1d(x, 4)],
    ];
    for (const [m, want] of cases) {
      expect(m.forward(x).toArray(), m.toString()).to.deep.equal(want.toArray());
      expect(m.parameters()).to.deep.equal([]);
      expect(m.stateDict()).to.deep.equal({});
    }
    // countIncludePad reaches the op: the first window holds one padding zero.
    const ones = F.add(F.mul(x, 0), 1);
    expect((new AvgPool1d(3, { stride: 2, padding: 1 }).forward(ones).toArray() as number[][][])[0][0][0]).to.be.closeTo(2 / 3, 1e-15);
    expect((new AvgPool1d(3, { stride: 2, padding: 1, countIncludePad: false }).forward(ones).toArray() as number[][][])[0][0][0]).to.equal(1);
  });

  it('rejects bad arguments, naming the layer', () => {
    expect(() => new MaxPool1d([2, 2])).to.throw('MaxPool1d: kernelSize must be an integer >= 1 or a one-element array of one, got [2,2]');
    expect(() => new MaxPool1d(2, { ceil_mode: true } as never)).to.throw("MaxPool1d: unknown option 'ceil_mode' (did you mean 'ceilMode'?)");
    expect(() => new AvgPool1d(2, { stride: [1, 1] })).to.throw('AvgPool1d: stride must be an integer >= 1 or a one-element array of one, got [1,1]');
    expect(() => new AvgPool1d(2, { divisorOverride: 2 } as never)).to.throw("AvgPool1d: unknown option 'divisorOverride'");
    expect(() => new AdaptiveAvgPool1d(0)).to.throw('AdaptiveAvgPool1d: outputSize must be an integer >= 1 or a one-element array of one, got 0');
    expect(() => new MaxPool1d(3, { padding: 2 }).forward(randn([2, 8]))).to.throw('maxPool1d: pad 2 should be at most half of the kernel size 3 (input [2,8])');
  });
});
