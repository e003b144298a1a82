import { expect } from 'chai';
// The thread pool's module sets the engine flags (relaxed SIMD) before any kernel is compiled.
import '../../../lib/platform/threads';
import { engineRejected, lazyInstance, MAX_PAGES, newKernelMemory, sharedMemoryAvailable, WasmUnavailable, wasmApi } from '../../../lib/kernels/wasm_api';
import { Code, F32, ModuleBuilder } from '../../../lib/kernels/wasm_emitter';
import { ewWasm } from '../../../lib/kernels/wasm_elementwise';
import { wasmF32Backend, wasmF32MultiplyAdd, wasmF64Backend, wasmPackersOf, wasmSimdAvailable } from '../../../lib/kernels/wasm_gemm';
import { optimWasm } from '../../../lib/kernels/wasm_optim';
import { poolWasm } from '../../../lib/kernels/wasm_pool';

// A generated module that fails to build must not quietly hand its work to the JS loops: the
// kernel tests compare the WebAssembly path with those loops, and would then compare them with
// themselves. Node 20 (package.json engines) has WebAssembly SIMD, so every module must load here.
describe('lib/kernels/wasm_api', () => {
  it('every generated kernel module compiles and instantiates on this engine', () => {
    expect(wasmSimdAvailable(), 'GEMM macro-kernel').to.equal(true);
    expect(wasmPackersOf(wasmF32Backend()), 'float32 conv panel packers').to.not.equal(null);
    expect(wasmF64Backend().name).to.match(/^wasm-f64-/);
    // Node 20 has relaxed SIMD behind the flag the thread module sets (standard in later engines).
    expect(wasmF32MultiplyAdd(), 'float32 GEMM accumulates with relaxed_madd').to.equal(true);
    expect(ewWasm(), 'elementwise and batch-norm kernels').to.not.equal(null);
    expect(optimWasm(), 'optimizer kernels').to.not.equal(null);
    expect(poolWasm(), 'pooling kernels').to.not.equal(null);
  });

  it('lazyInstance builds once and caches the instance', () => {
    let emitted = 0;
    let made = 0;
    const get = lazyInstance(() => {
      emitted++;
      // The smallest valid module: magic and version only.
      return Uint8Array.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]);
    }, () => ({ id: ++made }));
    const a = get();
    expect(a).to.deep.equal({ id: 1 });
    expect(get()).to.equal(a);
    expect([emitted, made]).to.deep.equal([1, 1]);
  });

  it('lazyInstance gives null for a module the engine rejects, and throws our own errors', () => {
    const rejected = lazyInstance(() => Uint8Array.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 0xff]), () => 1);
    expect(rejected()).to.equal(null);
    expect(rejected()).to.equal(null);
    const buggyEmitter = lazyInstance((): Uint8Array => {
      throw new RangeError('Maximum call stack size exceeded');
    }, () => 1);
    expect(() => buggyEmitter()).to.throw(RangeError, /call stack/);
    const buggyMake = lazyInstance(() => Uint8Array.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]), () => {
      throw new TypeError('instance.exports.missing is not a function');
    });
    expect(() => buggyMake()).to.throw(TypeError, /missing/);
  });

  it('engineRejected tells the engine saying no from a bug', () => {
    let compileError: unknown = null;
    try {
      new (wasmApi()!.Module)(Uint8Array.from([1, 2, 3]));
    } catch (e) {
      compileError = e;
    }
    expect(engineRejected(compileError)).to.equal(true);
    expect(engineRejected(new WasmUnavailable('test'))).to.equal(true);
    expect(new WasmUnavailable('wasm gemm').message).to.equal('wasm gemm: WebAssembly is not available');
    expect(engineRejected(new RangeError('Maximum call stack size exceeded'))).to.equal(false);
    expect(engineRejected(new Error('CompileError'))).to.equal(false);
    expect(engineRejected('CompileError')).to.equal(false);
  });

  it('a shared-memory module takes only a shared memory, and an unshared one only an unshared memory', () => {
    expect(sharedMemoryAvailable(), 'Node 20 makes shared memories').to.equal(true);
    const api = wasmApi()!;
    const build = (shared: boolean): object => {
      const mb = new ModuleBuilder(1, shared);
      // put(v): stores v at byte 8 of the imported memory.
      mb.addFunction({ name: 'put', params: [F32], results: [], locals: [], code: new Code().i32Const(8).localGet(0).f32Store() });
      return new api.Module(mb.build());
    };
    for (const shared of [false, true]) {
      const memory = newKernelMemory(api, 2, shared);
      expect(memory.buffer instanceof SharedArrayBuffer, `shared ${shared}`).to.equal(shared);
      const inst = new api.Instance(build(shared), { env: { mem: memory } });
      (inst.exports.put as (v: number) => void)(1.5);
      expect(new Float32Array(memory.buffer)[2]).to.equal(1.5);
      expect(() => new api.Instance(build(!shared), { env: { mem: memory } }), `shared ${shared} memory, module for ${!shared}`)
        .to.throw(/LinkError|memory|shared/i);
    }
    expect(MAX_PAGES).to.equal(65536);
  });

  it("the optimizer's memory is shared and the other kernel memories are not", () => {
    expect(optimWasm()!.f32.buffer instanceof SharedArrayBuffer, 'optimizer').to.equal(true);
    expect(ewWasm()!.f32.buffer instanceof SharedArrayBuffer, 'elementwise').to.equal(false);
    expect(poolWasm()!.f32.buffer instanceof SharedArrayBuffer, 'pooling').to.equal(false);
    // Growing a shared memory hands out a longer buffer; the views follow it.
    const w = optimWasm()!;
    const before = w.f32.length;
    w.reserve(4 * before + 65536);
    expect(w.f32.length).to.be.greaterThan(before);
    expect(w.f32.buffer instanceof SharedArrayBuffer).to.equal(true);
  });
});
