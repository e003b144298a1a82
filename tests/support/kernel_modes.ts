/**
 * Switching how the kernels run, for the kernel tests in tests/lib/kernels: WebAssembly on or off,
 * and a pool of two threads. Not a spec file: mocha only runs the *.test.ts files under tests/.
 */
import { setWasmElementwise } from '../../lib/kernels/wasm_elementwise';
import { getNumThreads, setContentionGuard, setNumThreads, waitForThreads } from '../../lib/platform/threads';

/** Runs fn with the WebAssembly kernels on or off, restoring the setting. */
export function withWasm<T>(on: boolean, fn: () => T): T {
  const prev = setWasmElementwise(on);
  try {
    return fn();
  } finally {
    setWasmElementwise(prev);
  }
}

/**
 * Call inside a describe(): its tests run with 2 threads, and the thread count seen when the
 * describe() body ran is restored after them. The contention guard may drop to one thread when
 * parts look serialised; these tests check the split results, so it is off meanwhile.
 */
export function useTwoThreads(): void {
  const saved = getNumThreads();
  before(() => {
    setNumThreads(2);
    setContentionGuard(false);
    waitForThreads();
  });
  after(() => {
    setContentionGuard(true);
    setNumThreads(saved);
  });
}
