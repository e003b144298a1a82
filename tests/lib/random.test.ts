import { expect } from 'chai';
import { Random, manualSeed, globalRng } from '../../lib/random';

describe('lib/random', () => {
  it('is xoshiro128**: the reference outputs from state [1, 2, 3, 4]', () => {
    // The known-answer vector of the reference C implementation (also rand_xoshiro's Xoshiro128StarStar test).
    const r = new Random(0);
    r.setState({ s: [1, 2, 3, 4], spare: null });
    const got = Array.from({ length: 10 }, () => r.nextUint32());
    expect(got).to.deep.equal([11520, 0, 5927040, 70819200, 2031721883, 1637235492, 1287239034, 3734860849, 3729100597, 4258142804]);
  });

  it('reproduces the same stream from the same seed', () => {
    const a = new Random(42), b = new Random(42);
    for (let i = 0; i < 100; i++) expect(a.uniform()).to.equal(b.uniform());
    const c = new Random(43);
    expect(new Random(42).uniform()).to.not.equal(c.uniform());
  });

  it('restores its state mid-stream, including a pending Box-Muller spare', () => {
    const r = new Random(7);
    r.normal(); // leaves a spare
    const st = r.getState();
    const expected = [r.normal(), r.normal(), r.uniform(), r.integer(0, 10)];
    const r2 = new Random(99);
    r2.setState(JSON.parse(JSON.stringify(st)));
    expect([r2.normal(), r2.normal(), r2.uniform(), r2.integer(0, 10)]).to.deep.equal(expected);
  });

  it('draws uniforms in [0,1) and normals with mean 0 and variance 1', () => {
    const r = new Random(3);
    let s = 0, s2 = 0, lo = 1, hi = 0;
    const n = 200000;
    for (let i = 0; i < n; i++) {
      const u = r.uniform();
      lo = Math.min(lo, u); hi = Math.max(hi, u);
      const z = r.normal();
      s += z; s2 += z * z;
    }
    expect(lo).to.be.at.least(0);
    expect(hi).to.be.below(1);
    expect(Math.abs(s / n)).to.be.below(0.01);
    expect(Math.abs(s2 / n - 1)).to.be.below(0.02);
  });

  it('uniformFloat32 is the top 24 bits of one draw over 2^24: a float32 in [0, 1)', () => {
    const a = new Random(9), b = new Random(9);
    for (let i = 0; i < 1000; i++) {
      const u = a.uniformFloat32();
      expect(u).to.equal((b.nextUint32() >>> 8) / 2 ** 24);
      expect(Math.fround(u)).to.equal(u);
      expect(u).to.be.at.least(0).and.below(1);
    }
  });

  it('draws every integer of a range about equally often', () => {
    const r = new Random(5);
    const counts = new Array(7).fill(0);
    for (let i = 0; i < 70000; i++) counts[r.integer(3, 10) - 3]++;
    for (const c of counts) expect(Math.abs(c - 10000)).to.be.below(500);
  });

  it('makes permutations of 0..n-1', () => {
    const p = Array.from(new Random(1).permutation(50));
    expect([...p].sort((a, b) => a - b)).to.deep.equal(Array.from({ length: 50 }, (_, i) => i));
    expect(p).to.not.deep.equal(Array.from({ length: 50 }, (_, i) => i));
  });

  it('manualSeed resets the global generator', () => {
    manualSeed(11);
    const a = globalRng().uniform();
    manualSeed(11);
    expect(globalRng().uniform()).to.equal(a);
  });

  it('rejects bad arguments with the op named', () => {
    expect(() => new Random(1).integer(5, 5)).to.throw('randint: need integers low < high, got low=5, high=5');
    expect(() => new Random(1).permutation(-1)).to.throw('randperm: n must be a non-negative integer, got -1');
    expect(() => manualSeed(NaN)).to.throw('manualSeed: seed must be an integer between -(2^53 - 1) and 2^53 - 1, got NaN');
    // 2^64 would wrap onto seed 0, a fraction onto its floor: both refused (torch raises for them too).
    expect(() => manualSeed(2 ** 64)).to.throw('manualSeed: seed must be an integer between -(2^53 - 1) and 2^53 - 1, got 18446744073709552000');
    expect(() => manualSeed(1.5)).to.throw('manualSeed: seed must be an integer between -(2^53 - 1) and 2^53 - 1, got 1.5');
    expect(() => new Random(1).setState({ s: [1, 2, 3] as never, spare: null })).to.throw('Random.setState');
    // The all-zero state is xoshiro's fixed point (zeros forever); a NaN spare would be drawn as is.
    expect(() => new Random(1).setState({ s: [0, 0, 0, 0], spare: null })).to.throw(
      'Random.setState: the state [0,0,0,0] is not one a generator can reach (it would return 0 forever)',
    );
    expect(() => new Random(1).setState({ s: [1, 2, 3, 4], spare: NaN })).to.throw('Random.setState: spare must be a finite number or null, got NaN');
    const r = new Random(1);
    r.setState({ s: [1, 2, 3, 4], spare: 0.5 });
    expect(r.normal()).to.equal(0.5);
  });
});
