import { expect } from 'chai';
import { align16, ewWasm, setWasmElementwise, stageIn, stageOut, wasmElementwiseEnabled } from '../../../lib/kernels/wasm_elementwise';

// The kernels themselves are held to the JS loops they replace in elementwise.test.ts and
// batchnorm.test.ts; these are the staging helpers and the switch.
describe('lib/kernels/wasm_elementwise', () => {
  it('stages short and long pieces in and out at any offset', () => {
    const w = ewWasm();
    expect(w, 'this engine runs the WebAssembly SIMD kernels').to.not.equal(null);
    w!.reserve(1 << 16);
    for (const len of [0, 1, 31, 32, 33, 1000]) {
      const src = Float32Array.from({ length: len + 7 }, (_, i) => i * 0.5 - 3);
      stageIn(w!.f32, 16, src, 7, len);
      expect(Array.from(w!.f32.subarray(16, 16 + len))).to.deep.equal(Array.from(src.subarray(7, 7 + len)));
      const dst = new Float32Array(len + 3).fill(-1);
      stageOut(w!.f32, 16, dst, 3, len);
      expect(Array.from(dst.subarray(0, 3))).to.deep.equal([-1, -1, -1]);
      expect(Array.from(dst.subarray(3))).to.deep.equal(Array.from(src.subarray(7, 7 + len)));
    }
  });

  it('keeps its views valid when the memory grows', () => {
    const w = ewWasm()!;
    w.f32[3] = 42;
    const before = w.f32.buffer.byteLength;
    w.reserve(before + (1 << 20));
    expect(w.f32.buffer.byteLength).to.be.at.least(before + (1 << 20));
    expect(w.f32[3]).to.equal(42);
    expect(w.f64.buffer).to.equal(w.f32.buffer);
  });

  it('can be switched off (kernels then run their JS loops) and back on', () => {
    expect(wasmElementwiseEnabled()).to.equal(true);
    expect(setWasmElementwise(false)).to.equal(true);
    expect(wasmElementwiseEnabled()).to.equal(false);
    expect(ewWasm()).to.equal(null);
    expect(setWasmElementwise(true)).to.equal(false);
    expect(ewWasm()).to.not.equal(null);
  });

  it('rounds byte counts up to 16', () => {
    expect([0, 1, 15, 16, 17, 33].map(align16)).to.deep.equal([0, 16, 16, 16, 32, 48]);
  });
});
