import { expect } from 'chai';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as ts from 'typescript';
import {
  loadCheckpoint, loadStateDict, saveCheckpoint, saveStateDict, tensorsWithPrefix,
} from '../../../lib/io/checkpoint';
import { readSafetensors, SafetensorsTensor, writeSafetensors } from '../../../lib/io/safetensors';
import { Random } from '../../../lib/random';
import { Tensor } from '../../../autograd/tensor';
import { resnet18 } from '../../../models/resnet';
import { BatchNorm2d } from '../../../models/nn/batchnorm';
import { manualSeed } from '../../../lib/random';
import * as consumer from '../../support/consumer_checkpoint';

const FIXTURES = path.join(__dirname, '..', '..', '..', '..', 'shared', 'fixtures', 'torch');

/** A test that needs files of ../shared/fixtures/torch: skipped, saying so, when they are absent (a user's clone). */
function itWithFixtures(title: string, files: readonly string[], fn: () => void): void {
  const missing = files.filter((f) => !fs.existsSync(path.join(FIXTURES, f)));
  if (missing.length === 0) it(title, fn);
  else it.skip(`${title} (skipped: ${missing.join(', ')} not found in ${FIXTURES})`, fn);
}

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'tsgrad-ckpt-'));
}

function randomArray<T extends Float32Array | Float64Array>(make: new (n: number) => T, n: number, rng: Random): T {
  const a = new make(n);
  for (let i = 0; i < n; i++) a[i] = rng.normal() * 10 ** rng.integer(-30, 30);
  return a;
}

function sameBits(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false;
  return true;
}

describe('lib/io/checkpoint', () => {
  let dir: string;
  beforeEach(() => {
    dir = tmpDir();
  });
  afterEach(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  describe('saveCheckpoint / loadCheckpoint', () => {
    it('round-trips tensors and a nested state with typed arrays, bit for bit', () => {
      const rng = new Random(7);
      const w32 = randomArray(Float32Array, 24, rng);
      const w64 = randomArray(Float64Array, 6, rng);
      const mom = randomArray(Float32Array, 24, rng);
      const avg = randomArray(Float64Array, 5, rng);
      const numbers = [0.1 + 0.2, 1e-300, -5, 2 ** 53 - 1, 123456.789e-7, rng.uniform()];
      const state = {
        epoch: 3,
        name: 'run "x"\n',
        flags: [true, false, null],
        numbers,
        optimizer: { state: { 0: { step: 4, momentumBuffer: mom }, 2: { expAvg: avg } }, paramGroups: [{ lr: 0.05, params: [0, 1, 2] }] },
        skipped: undefined,
      };
      const file = path.join(dir, 'c.safetensors');
      saveCheckpoint(file, {
        tensors: {
          'model.w': { shape: [2, 3, 4], data: w32 },
          'model.v': { shape: [6], data: w64 },
          'model.count': { shape: [], data: new Float32Array([17]), integer: true },
        },
        state,
      });
      const ck = loadCheckpoint(file);
      expect([...ck.tensors.keys()].sort()).to.deep.equal(['model.count', 'model.v', 'model.w']);
      const w = ck.tensors.get('model.w')!;
      expect(w.shape).to.deep.equal([2, 3, 4]);
      expect(w.data).to.be.instanceOf(Float32Array);
      expect(sameBits(w.data, w32)).to.equal(true);
      const v = ck.tensors.get('model.v')!;
      expect(v.data).to.be.instanceOf(Float64Array);
      expect(sameBits(v.data, w64)).to.equal(true);
      const count = ck.tensors.get('model.count')!;
      expect(count).to.deep.include({ shape: [], integer: true });
      expect(Array.from(count.data)).to.deep.equal([17]);

      const s = ck.state as Record<string, unknown>;
      expect(s.epoch).to.equal(3);
      expect(s.name).to.equal('run "x"\n');
      expect(s.flags).to.deep.equal([true, false, null]);
      expect(sameBits(s.numbers as number[], numbers)).to.equal(true);
      expect('skipped' in s).to.equal(false);
      const opt = s.optimizer as { state: Record<string, Record<string, unknown>>; paramGroups: unknown };
      expect(opt.state['0'].step).to.equal(4);
      expect(opt.state['0'].momentumBuffer).to.be.instanceOf(Float32Array);
      expect(sameBits(opt.state['0'].momentumBuffer as Float32Array, mom)).to.equal(true);
      expect(opt.state['2'].expAvg).to.be.instanceOf(Float64Array);
      expect(sameBits(opt.state['2'].expAvg as Float64Array, avg)).to.equal(true);
      expect(opt.paramGroups).to.deep.equal([{ lr: 0.05, params: [0, 1, 2] }]);
    });

    it('keeps the state inside the one safetensors file, readable by any safetensors reader', () => {
      const file = path.join(dir, 'c.safetensors');
      saveCheckpoint(file, { tensors: { a: { shape: [1], data: new Float32Array([1]) } }, state: { epoch: 2, buf: new Float64Array([1, 2]) } });
      const raw = readSafetensors(file);
      expect(raw.metadata.format).to.equal('tsgrad-checkpoint');
      expect(JSON.parse(raw.metadata['tsgrad.state'])).to.deep.equal({ epoch: 2, buf: { $array: 'state.buf' } });
      expect(raw.tensors.get('state.buf')!.dtype).to.equal('F64');
      expect(fs.readdirSync(dir)).to.deep.equal(['c.safetensors']);
    });

    it('writes a readable JSON mirror of the state when asked', () => {
      const file = path.join(dir, 'c.safetensors');
      const json = path.join(dir, 'c.json');
      saveCheckpoint(file, { tensors: {}, state: { epoch: 2, opt: { m: new Float32Array(5) } } }, { jsonFile: json });
      expect(JSON.parse(fs.readFileSync(json, 'utf-8'))).to.deep.equal({ epoch: 2, opt: { m: { $array: 'state.opt.m', dtype: 'float32', length: 5 } } });
    });

    it('refuses values JSON cannot hold exactly, naming their path, and leaves the previous checkpoint intact', () => {
      const file = path.join(dir, 'c.safetensors');
      saveCheckpoint(file, { tensors: { a: { shape: [2], data: new Float32Array([1, 2]) } }, state: { epoch: 1 } });
      const before = fs.readFileSync(file);
      const bad: [Record<string, unknown>, string][] = [
        [{ loop: { loss: NaN } }, 'state value at loop.loss is NaN'],
        [{ xs: [1, Infinity] }, 'state value at xs.1 is Infinity'],
        [{ m: new Map() }, 'state value at m is Map'],
        [{ xs: [undefined] }, 'state value at xs.0 is undefined'],
        [{ i: new Int32Array(2) }, 'state value at i is Int32Array'],
        [{ o: { $array: 'x' } }, 'state key o.$array is reserved'],
      ];
      for (const [state, msg] of bad) {
        expect(() => saveCheckpoint(file, { tensors: {}, state }), msg).to.throw(Error, `saveCheckpoint: ${file}: ${msg}`);
      }
      expect(() => saveCheckpoint(file, { tensors: { c: { shape: [], data: new Float32Array([0.5]), integer: true } }, state: {} }))
        .to.throw(Error, 'integer tensor "c" holds 0.5 at index 0');
      expect(fs.readFileSync(file).equals(before)).to.equal(true);
      expect(fs.readdirSync(dir)).to.deep.equal(['c.safetensors']);
    });

    it('refuses a cyclic state with the path of the cycle instead of overflowing the stack, leaving the previous checkpoint intact', () => {
      const file = path.join(dir, 'c.safetensors');
      saveCheckpoint(file, { tensors: { a: { shape: [2], data: new Float32Array([1, 2]) } }, state: { epoch: 1 } });
      const before = fs.readFileSync(file);
      const root: Record<string, unknown> = { epoch: 2 };
      root.self = root;
      const inner: { y: unknown[] } = { y: [1] };
      inner.y.push({ back: inner });
      const list: unknown[] = [1];
      list.push([list]);
      const bad: [Record<string, unknown>, string][] = [
        [root, 'state value at self refers back to the object at <root>, which contains it (a cycle)'],
        [{ x: inner }, 'state value at x.y.1.back refers back to the object at x, which contains it (a cycle)'],
        [{ list }, 'state value at list.1.0 refers back to the object at list, which contains it (a cycle)'],
      ];
      for (const [state, msg] of bad) {
        expect(() => saveCheckpoint(file, { tensors: {}, state }, { jsonFile: path.join(dir, 'c.json') }), msg)
          .to.throw(Error, `saveCheckpoint: ${file}: ${msg}`);
      }
      expect(fs.readFileSync(file).equals(before)).to.equal(true);
      expect(fs.readdirSync(dir)).to.deep.equal(['c.safetensors']);

      // The same object in two branches is not a cycle: it is stored twice.
      const shared = { k: 1, m: new Float32Array([3]) };
      saveCheckpoint(file, { tensors: {}, state: { a: shared, b: [shared] } });
      const s = loadCheckpoint(file).state as { a: { k: number; m: Float32Array }; b: { k: number; m: Float32Array }[] };
      expect([s.a.k, s.b[0].k, s.a.m[0], s.b[0].m[0]]).to.deep.equal([1, 1, 3, 3]);
    });

    it('refuses a state nested deeper than 256 levels with a named Error instead of a stack overflow, on save and on load', () => {
      const file = path.join(dir, 'd.safetensors');
      // Levels counted as containers from the root state object (level 1) down.
      const nest = (levels: number): unknown => {
        let v: unknown = [7];
        for (let i = 1; i < levels; i++) v = [v];
        return v;
      };
      saveCheckpoint(file, { tensors: {}, state: { a: nest(255) } });
      let v = loadCheckpoint(file).state.a as unknown;
      let levels = 1;
      while (Array.isArray(v) && Array.isArray(v[0])) { v = v[0]; levels++; }
      expect([levels + 1, (v as number[])[0]]).to.deep.equal([256, 7]);

      const before = fs.readFileSync(file);
      for (const deep of [257, 5000]) {
        expect(() => saveCheckpoint(file, { tensors: {}, state: { a: nest(deep) } }))
          .to.throw(Error, new RegExp(`^saveCheckpoint: ${file}: state at a(\\.0){255}.* nests deeper than 256 levels`));
      }
      expect(fs.readFileSync(file).equals(before)).to.equal(true);
      expect(fs.readdirSync(dir)).to.deep.equal(['d.safetensors']);

      // A hand-made file whose state JSON nests 100000 deep: JSON.parse copes, the walk must not overflow.
      const hostile = path.join(dir, 'hostile.safetensors');
      const deepJson = `{"a":${'['.repeat(100000)}${']'.repeat(100000)}}`;
      writeSafetensors(hostile, {}, { format: 'tsgrad-checkpoint', 'tsgrad.version': '1', 'tsgrad.state': deepJson });
      expect(() => loadCheckpoint(hostile))
        .to.throw(Error, new RegExp(`^loadCheckpoint: ${hostile}: state at a(\\.0){255}.* nests deeper than 256 levels`));
    });

    it('loads back a typed array inside the deepest level a save accepts (its array reference is a leaf, not a level)', () => {
      const file = path.join(dir, 'leaf.safetensors');
      // The root object is level 1 and the arrays levels 2 to 256: the deepest a save accepts.
      let v: unknown = [new Float32Array([1.5, -2])];
      for (let i = 1; i < 255; i++) v = [v];
      saveCheckpoint(file, { tensors: {}, state: { a: v } });
      let back = loadCheckpoint(file).state.a as unknown;
      let levels = 2;
      while (Array.isArray(back)) { back = back[0]; levels++; }
      expect(back).to.be.instanceOf(Float32Array);
      expect([levels - 1, ...Array.from(back as Float32Array)]).to.deep.equal([256, 1.5, -2]);
    });

    it('checks its options before writing anything', () => {
      const file = path.join(dir, 'c.safetensors');
      saveCheckpoint(file, { tensors: {}, state: { epoch: 1 } });
      const before = fs.readFileSync(file);
      const contents = { tensors: {}, state: { epoch: 2 } };
      expect(() => saveCheckpoint(file, contents, { json_file: 'x.json' } as unknown as { jsonFile: string }))
        .to.throw(Error, `saveCheckpoint: ${file}: unknown option 'json_file'`);
      expect(() => saveCheckpoint(file, contents, { jsonFile: 7 as unknown as string }))
        .to.throw(Error, `saveCheckpoint: ${file}: jsonFile must be a non-empty string, got number 7`);
      expect(() => saveCheckpoint(file, contents, null as unknown as { jsonFile: string }))
        .to.throw(Error, `saveCheckpoint: ${file}: options must be an object, got null`);
      expect(fs.readFileSync(file).equals(before)).to.equal(true);
      expect(fs.readdirSync(dir)).to.deep.equal(['c.safetensors']);
    });

    it('refuses a jsonFile that is the checkpoint file itself, which the mirror would overwrite', () => {
      const file = path.join(dir, 'c.safetensors');
      const m = new Float32Array([1, 2, 3]);
      saveCheckpoint(file, { tensors: {}, state: { epoch: 1, m } });
      const before = fs.readFileSync(file);
      fs.mkdirSync(path.join(dir, 'sub'));
      fs.symlinkSync(dir, path.join(dir, 'link'));
      // The same entry spelt three ways: as given, through '..', through a symlinked directory.
      for (const jsonFile of [file, path.join(dir, 'sub', '..', 'c.safetensors'), path.join(dir, 'link', 'c.safetensors')]) {
        expect(() => saveCheckpoint(file, { tensors: {}, state: { epoch: 2, m } }, { jsonFile }), jsonFile)
          .to.throw(Error, `saveCheckpoint: ${file}: jsonFile ${jsonFile} is the checkpoint file itself`);
        expect(fs.readFileSync(file).equals(before), jsonFile).to.equal(true);
      }
      const loaded = loadCheckpoint(file).state as { epoch: number; m: Float32Array };
      expect([loaded.epoch, ...Array.from(loaded.m)]).to.deep.equal([1, 1, 2, 3]);
    });

    it('type-checks in a consumer project with strict: false (the package main is TypeScript)', function () {
      this.timeout(60000);
      const root = path.join(__dirname, '..', '..', '..');
      const program = ts.createProgram([path.join(root, 'lib', 'io', 'checkpoint.ts')], {
        strict: false, noEmit: true, target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.CommonJS,
        moduleResolution: ts.ModuleResolutionKind.Node10, lib: ['lib.es2022.d.ts'], types: ['node'], skipLibCheck: true,
        esModuleInterop: true, typeRoots: [path.join(root, 'node_modules', '@types')],
      });
      const errors = ts.getPreEmitDiagnostics(program).map((d) => {
        const where = d.file && d.start !== undefined ? `${path.relative(root, d.file.fileName)}(${d.file.getLineAndCharacterOfPosition(d.start).line + 1}) ` : '';
        return `${where}${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
      });
      expect(errors).to.deep.equal([]);
    });

    it('resumes a model, optimizer and scheduler from what loadCheckpoint returns, with no casts', () => {
      const file = path.join(dir, 'train.safetensors');
      const a = consumer.makeTraining();
      const seq = (n: number): Float32Array => Float32Array.from({ length: n }, (_, i) => Math.sin(i + 1));
      const [x, y] = [new Tensor(seq(15), [5, 3]), new Tensor(seq(10), [5, 2])];
      consumer.trainStep(a, x, y);
      consumer.save(file, a, 1);
      const b = consumer.makeTraining();
      expect(consumer.resume(file, b)).to.equal(1);
      expect(b.optimizer.stateDict()).to.deep.equal(a.optimizer.stateDict());
      expect(b.scheduler.stateDict()).to.deep.equal(a.scheduler.stateDict());
      expect(b.optimizer.paramGroups[0].lr).to.equal(0.05);
      const wa = a.model.stateDict();
      for (const [name, t] of Object.entries(b.model.stateDict())) expect(sameBits(t.data, wa[name].data), name).to.equal(true);
      expect(consumer.trainStep(b, x, y)).to.equal(consumer.trainStep(a, x, y));
      // What the file holds is checked, not trusted: a missing entry is an error naming the field.
      saveCheckpoint(file, { tensors: {}, state: { epoch: 1 } });
      const empty = loadCheckpoint(file).state;
      expect(() => b.optimizer.loadStateDict(empty.optimizer)).to.throw('SGD: loadStateDict: expected { state, paramGroups }, got undefined');
      expect(() => b.scheduler.loadStateDict(empty.scheduler)).to.throw('StepLR: loadStateDict: expected a scheduler state dict, got undefined');
    });

    it('type-checks that resume under a strict consumer\'s flags (exactOptionalPropertyTypes, noUncheckedIndexedAccess)', function () {
      this.timeout(60000);
      const root = path.join(__dirname, '..', '..', '..');
      const consumerFile = path.join(root, 'tests', 'support', 'consumer_checkpoint.ts');
      const program = ts.createProgram([consumerFile], {
        strict: true, exactOptionalPropertyTypes: true, noUncheckedIndexedAccess: true, noEmit: true,
        target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.CommonJS, moduleResolution: ts.ModuleResolutionKind.Node10,
        lib: ['lib.es2022.d.ts'], types: ['node'], typeRoots: [path.join(root, 'node_modules', '@types')],
      });
      // Only the consumer's own file: the library's sources do not compile under these two flags
      // (the project's tsconfig does not enable them), which a consumer's build reports as well.
      const errors = ts.getPreEmitDiagnostics(program, program.getSourceFile(consumerFile)).map((d) => {
        const where = d.file && d.start !== undefined ? `${path.relative(root, d.file.fileName)}(${d.file.getLineAndCharacterOfPosition(d.start).line + 1}) ` : '';
        return `${where}${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
      });
      expect(errors).to.deep.equal([]);
    });

    it('replaces the previous checkpoint only as a whole', () => {
      const file = path.join(dir, 'c.safetensors');
      saveCheckpoint(file, { tensors: { a: { shape: [1], data: new Float32Array([1]) } }, state: { epoch: 1 } });
      saveCheckpoint(file, { tensors: { a: { shape: [1], data: new Float32Array([2]) } }, state: { epoch: 2 } });
      const ck = loadCheckpoint(file);
      expect(ck.state.epoch).to.equal(2);
      expect(Array.from(ck.tensors.get('a')!.data)).to.deep.equal([2]);
      expect(fs.readdirSync(dir)).to.deep.equal(['c.safetensors']);
    });

    it('saves the tensors of a loaded checkpoint (a Map) again, and refuses tensors given as anything but an object or a Map', () => {
      const file = path.join(dir, 'c.safetensors');
      const counter = new Float64Array([5]);
      saveCheckpoint(file, { tensors: { w: { shape: [2, 2], data: new Float32Array([1, -2, 3.5, 4]) }, n: { shape: [], data: counter, integer: true } }, state: { epoch: 1 } });
      const ck = loadCheckpoint(file);
      const again = path.join(dir, 'again.safetensors');
      saveCheckpoint(again, { tensors: ck.tensors, state: ck.state });
      const back = loadCheckpoint(again);
      expect([...back.tensors.keys()].sort()).to.deep.equal(['n', 'w']);
      expect(back.tensors.get('w')!.shape).to.deep.equal([2, 2]);
      expect(Array.from(back.tensors.get('w')!.data)).to.deep.equal([1, -2, 3.5, 4]);
      expect(back.tensors.get('n')!.integer).to.equal(true);
      expect(Array.from(back.tensors.get('n')!.data)).to.deep.equal([5]);
      expect(back.state.epoch).to.equal(1);
      const before = fs.readFileSync(again);
      const bad = [[{ shape: [1], data: new Float32Array([1]) }], new Set([1]), 7];
      for (const tensors of bad) {
        expect(() => saveCheckpoint(again, { tensors: tensors as never, state: {} }), String(tensors))
          .to.throw(`saveCheckpoint: ${again}: tensors must be an object or a Map of name to { shape, data }`);
      }
      expect(fs.readFileSync(again).equals(before)).to.equal(true);
      // A misspelt key (plain JavaScript) would save no weights: refused, naming it.
      expect(() => saveCheckpoint(again, { tensor: { w: { shape: [1], data: new Float32Array(1) } }, state: {} } as never))
        .to.throw(`saveCheckpoint: ${again}: unknown contents key 'tensor' (expected { tensors, state })`);
      expect(fs.readFileSync(again).equals(before)).to.equal(true);
    });

    it('rejects files that are not tsgrad checkpoints, naming the file and the problem', () => {
      const plain = path.join(dir, 'plain.safetensors');
      writeSafetensors(plain, { a: { dtype: 'F32', shape: [1], data: new Float32Array([1]) } });
      expect(() => loadCheckpoint(plain)).to.throw(Error, `loadCheckpoint: ${plain} is a safetensors file but not a tsgrad checkpoint`);
      const v2 = path.join(dir, 'v2.safetensors');
      writeSafetensors(v2, {}, { format: 'tsgrad-checkpoint', 'tsgrad.version': '2', 'tsgrad.state': '{}' });
      expect(() => loadCheckpoint(v2)).to.throw(Error, `loadCheckpoint: ${v2} has checkpoint version "2"`);
      const broken = path.join(dir, 'broken.safetensors');
      writeSafetensors(broken, {}, { format: 'tsgrad-checkpoint', 'tsgrad.version': '1', 'tsgrad.state': '{"epoch":' });
      expect(() => loadCheckpoint(broken)).to.throw(Error, `loadCheckpoint: ${broken}: the "tsgrad.state" metadata is not valid JSON`);
      const dangling = path.join(dir, 'dangling.safetensors');
      writeSafetensors(dangling, {}, { format: 'tsgrad-checkpoint', 'tsgrad.version': '1', 'tsgrad.state': '{"m":{"$array":"state.m"}}' });
      expect(() => loadCheckpoint(dangling)).to.throw(Error, `loadCheckpoint: ${dangling}: state at m refers to array "state.m", which the file does not contain`);
      const missing = path.join(dir, 'nope.safetensors');
      expect(() => loadCheckpoint(missing)).to.throw(Error, `file not found: ${missing}`);
      const truncated = path.join(dir, 'cut.safetensors');
      saveCheckpoint(truncated, { tensors: { a: { shape: [64], data: new Float32Array(64) } }, state: {} });
      const bytes = fs.readFileSync(truncated);
      fs.writeFileSync(truncated, bytes.subarray(0, bytes.length - 10));
      expect(() => loadCheckpoint(truncated)).to.throw(Error, truncated);
    });

    it('tensorsWithPrefix selects and renames one group of tensors', () => {
      const file = path.join(dir, 'c.safetensors');
      saveCheckpoint(file, {
        tensors: { 'model.a': { shape: [1], data: new Float32Array([1]) }, 'other.b': { shape: [1], data: new Float32Array([2]) } },
        state: {},
      });
      expect(Object.keys(tensorsWithPrefix(loadCheckpoint(file).tensors, 'model.'))).to.deep.equal(['a']);
    });

    it("keeps a state key named '__proto__' as a key, on save and on load, instead of dropping it", () => {
      // JSON.parse makes '__proto__' an own key (a vocabulary from a tokenizer file can have one);
      // assigning out['__proto__'] = value would set the prototype instead, and lose the entry.
      const file = path.join(dir, 'p.safetensors');
      const vocab = JSON.parse('{"a": 1, "__proto__": 2, "nested": {"__proto__": {"x": 3}}}') as Record<string, unknown>;
      saveCheckpoint(file, { tensors: {}, state: { vocab } });
      const stored = JSON.parse(readSafetensors(file).metadata['tsgrad.state']) as { vocab: Record<string, unknown> };
      expect(Object.keys(stored.vocab)).to.deep.equal(['a', '__proto__', 'nested']);
      const back = loadCheckpoint(file).state.vocab as Record<string, unknown>;
      expect(Object.keys(back)).to.deep.equal(['a', '__proto__', 'nested']);
      expect(Object.getOwnPropertyDescriptor(back, '__proto__')?.value).to.equal(2);
      const nested = back.nested as Record<string, unknown>;
      expect(Object.getOwnPropertyDescriptor(nested, '__proto__')?.value).to.deep.equal({ x: 3 });
      expect(Object.getPrototypeOf(nested)).to.equal(Object.prototype);
      expect((nested as { x?: unknown }).x).to.equal(undefined);
    });

    it("tensorsWithPrefix keeps a tensor named '<prefix>__proto__' as an entry, so loading reports it as unexpected", () => {
      const file = path.join(dir, 'q.safetensors');
      saveCheckpoint(file, {
        tensors: { 'model.__proto__': { shape: [1], data: new Float32Array([1]) }, 'model.w': { shape: [1], data: new Float32Array([2]) } },
        state: {},
      });
      const sd = tensorsWithPrefix(loadCheckpoint(file).tensors, 'model.');
      expect(Object.keys(sd).sort()).to.deep.equal(['__proto__', 'w']);
      expect(Object.getOwnPropertyDescriptor(sd, '__proto__')?.value.data[0]).to.equal(1);
      const bn = new BatchNorm2d(1);
      expect(bn.loadStateDict(sd, { strict: false }).unexpectedKeys).to.deep.equal(['__proto__', 'w']);
    });
  });

  describe('saveStateDict / loadStateDict', () => {
    itWithFixtures("writes torchvision's key names and dtypes: F32 weights and I64 num_batches_tracked", ['resnet18_state_dict_keys.json'], () => {
      manualSeed(1);
      const model = resnet18({ numClasses: 10, width: 2 });
      const file = path.join(dir, 'm.safetensors');
      saveStateDict(model, file);
      const st = readSafetensors(file);
      const reference = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'resnet18_state_dict_keys.json'), 'utf-8')) as { keys: [string, number[], string][] };
      const want = new Map(reference.keys.map(([k, , dt]) => [k, dt === 'int64' ? 'I64' : 'F32']));
      expect([...st.tensors.keys()].sort()).to.deep.equal([...want.keys()].sort());
      for (const [k, t] of st.tensors) expect(t.dtype, k).to.equal(want.get(k));
      expect(st.metadata.format).to.equal('pt');
    });

    itWithFixtures('loads a state dict PyTorch wrote (float64 weights, int64 counters) and writes it back identically', ['resnet18_w8_imagenet_sgd.safetensors'], () => {
      const fixture = readSafetensors(path.join(FIXTURES, 'resnet18_w8_imagenet_sgd.safetensors'));
      const torchSd = new Map<string, SafetensorsTensor>();
      for (const [k, t] of fixture.tensors) if (k.startsWith('model.')) torchSd.set(k.slice('model.'.length), t);
      const torchFile = path.join(dir, 'torch.safetensors');
      writeSafetensors(torchFile, torchSd);

      manualSeed(2);
      const model = resnet18({ numClasses: 10, width: 8, variant: 'imagenet', dtype: 'float64' });
      const result = loadStateDict(model, torchFile);
      expect(result).to.deep.equal({ missingKeys: [], unexpectedKeys: [] });
      const sd = model.stateDict();
      for (const [k, t] of torchSd) {
        const expected = t.dtype === 'I64' ? Array.from(t.data as BigInt64Array, Number) : Array.from(t.data as Float64Array);
        expect(sameBits(sd[k].data, expected), k).to.equal(true);
      }

      const back = path.join(dir, 'back.safetensors');
      saveStateDict(model, back);
      const written = readSafetensors(back).tensors;
      expect([...written.keys()].sort()).to.deep.equal([...torchSd.keys()].sort());
      for (const [k, t] of torchSd) {
        const w = written.get(k)!;
        expect(w.dtype, k).to.equal(t.dtype);
        expect(w.shape, k).to.deep.equal(t.shape);
        expect(Buffer.from(w.data.buffer, w.data.byteOffset, w.data.byteLength).equals(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength)), k).to.equal(true);
      }
    });

    it('round-trips trained batch-norm statistics and counters into a float32 model', () => {
      manualSeed(3);
      const bn = new BatchNorm2d(3);
      const x = new Tensor(randomArray(Float32Array, 2 * 3 * 4 * 4, new Random(4)).map((v) => Math.tanh(v)), [2, 3, 4, 4]);
      bn.forward(x);
      bn.forward(x);
      const file = path.join(dir, 'bn.safetensors');
      saveStateDict(bn, file);
      expect(readSafetensors(file).tensors.get('num_batches_tracked')).to.deep.include({ dtype: 'I64', shape: [] });
      const fresh = new BatchNorm2d(3);
      loadStateDict(fresh, file);
      const a = bn.stateDict();
      const b = fresh.stateDict();
      expect(Array.from(b.num_batches_tracked.data)).to.deep.equal([2]);
      for (const k of Object.keys(a)) expect(sameBits(a[k].data, b[k].data), k).to.equal(true);
    });

    it('reports missing and unexpected keys with the file name, or lists them when not strict', () => {
      manualSeed(5);
      const bn = new BatchNorm2d(3);
      const file = path.join(dir, 'partial.safetensors');
      writeSafetensors(file, {
        weight: { dtype: 'F32', shape: [3], data: new Float32Array([1, 2, 3]) },
        extra: { dtype: 'F32', shape: [1], data: new Float32Array([0]) },
      });
      expect(() => loadStateDict(bn, file)).to.throw(Error, `loadStateDict: ${file}: error(s) loading state dict into BatchNorm2d:`)
        .and.to.match(/missing keys: bias, running_mean, running_var\n/);
      const r = loadStateDict(bn, file, { strict: false });
      expect(r.unexpectedKeys).to.deep.equal(['extra']);
      // num_batches_tracked is set to 0, not missing, as PyTorch does for a state dict without it.
      expect(r.missingKeys).to.deep.equal(['bias', 'running_mean', 'running_var']);
      expect(Array.from(bn.stateDict().weight.data)).to.deep.equal([1, 2, 3]);
    });

    it("reports a tensor named '__proto__' as unexpected instead of dropping it", () => {
      const bn = new BatchNorm2d(2);
      const file = path.join(dir, 'proto.safetensors');
      const tensors = new Map<string, SafetensorsTensor>();
      for (const [k, t] of Object.entries(bn.stateDict())) {
        tensors.set(k, k === 'num_batches_tracked'
          ? { dtype: 'I64', shape: [], data: new BigInt64Array(1) }
          : { dtype: 'F32', shape: t.shape.slice(), data: Float32Array.from(t.data) });
      }
      tensors.set('__proto__', { dtype: 'F32', shape: [2], data: new Float32Array([5, 6]) });
      writeSafetensors(file, tensors);
      expect(() => loadStateDict(bn, file)).to.throw(Error, 'unexpected keys: __proto__');
      expect(loadStateDict(bn, file, { strict: false })).to.deep.equal({ missingKeys: [], unexpectedKeys: ['__proto__'] });
    });

    it('rejects a wrong shape, naming the key and both shapes', () => {
      const bn = new BatchNorm2d(3);
      const file = path.join(dir, 'wrong.safetensors');
      const sd: Record<string, SafetensorsTensor> = {};
      for (const [k, t] of Object.entries(bn.stateDict())) sd[k] = { dtype: 'F32', shape: k === 'bias' ? [4] : t.shape.slice(), data: new Float32Array(k === 'bias' ? 4 : t.numel()) };
      writeSafetensors(file, sd);
      expect(() => loadStateDict(bn, file)).to.throw(Error, 'bias: checkpoint has shape [4], model has [3]');
    });
  });
});
