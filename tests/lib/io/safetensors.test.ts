import { expect } from 'chai';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {
  MAX_HEADER_BYTES,
  parseSafetensors,
  readSafetensors,
  SafetensorsData,
  SafetensorsDType,
  SafetensorsFile,
  SafetensorsTensor,
  serializeSafetensors,
  toFloatArray,
  writeSafetensors,
} from '../../../lib/io/safetensors';
import { Random } from '../../../lib/random';

const SRC = 'bad.safetensors';

/** A file from a hand-written header and raw data bytes; the header is used verbatim (no padding). */
function craft(header: string | object, data: Uint8Array | number = 0, headerLenOverride?: bigint): Uint8Array {
  const json = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const body = typeof data === 'number' ? new Uint8Array(data) : data;
  const out = new Uint8Array(8 + json.length + body.length);
  new DataView(out.buffer).setBigUint64(0, headerLenOverride ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(body, 8 + json.length);
  return out;
}

function expectParseError(bytes: Uint8Array, message: string): void {
  expect(() => parseSafetensors(bytes, SRC)).to.throw(Error, `parseSafetensors: ${SRC}: ${message}`);
}

function f32(name: string, shape: number[], values: number[]): [string, SafetensorsTensor] {
  return [name, { dtype: 'F32', shape, data: new Float32Array(values) }];
}

const ARRAY_KIND: Record<SafetensorsDType, new (n: number) => SafetensorsData> = {
  F32: Float32Array,
  F64: Float64Array,
  I64: BigInt64Array,
  I32: Int32Array,
  U8: Uint8Array,
};
const ELEMENT_BYTES: Record<SafetensorsDType, number> = { F32: 4, F64: 8, I64: 8, I32: 4, U8: 1 };

function numel(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function sameElements(a: SafetensorsData, b: SafetensorsData): boolean {
  if (a.constructor !== b.constructor || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false;
  return true;
}

function headerText(bytes: Uint8Array): string {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  return new TextDecoder().decode(bytes.subarray(8, 8 + n));
}

describe('lib/io/safetensors', () => {
  describe('round trips', () => {
    const cases: [SafetensorsDType, SafetensorsData, number[]][] = [
      ['F32', new Float32Array([1.5, -0, NaN, Infinity, -Infinity, 1e-45]), [2, 3]],
      ['F64', new Float64Array([Math.PI, -0, NaN, Number.MAX_VALUE, 5e-324, -1e300]), [3, 2]],
      ['I64', new BigInt64Array([-(2n ** 63n), 2n ** 63n - 1n, 0n, -1n, 2n ** 53n + 1n, 42n]), [6]],
      ['I32', new Int32Array([-(2 ** 31), 2 ** 31 - 1, 0, -7]), [2, 1, 2]],
      ['U8', new Uint8Array([0, 255, 128, 1, 2, 3, 4, 5]), [2, 2, 2]],
    ];
    for (const [dtype, data, shape] of cases) {
      it(`keeps every bit of a ${dtype} tensor`, () => {
        const back = parseSafetensors(serializeSafetensors({ t: { dtype, shape, data } }));
        const t = back.tensors.get('t') as SafetensorsTensor;
        expect(t.dtype).to.equal(dtype);
        expect(t.shape).to.deep.equal(shape);
        expect(sameElements(t.data, data)).to.equal(true);
      });
    }

    it('writes a small file byte for byte as the format prescribes', () => {
      const bytes = serializeSafetensors(new Map([f32('w', [2], [1, -2])]));
      const json = '{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}';
      expect(json.length).to.equal(54); // so the header is padded with 2 spaces to 56
      const expected = [56, 0, 0, 0, 0, 0, 0, 0, ...Buffer.from(json + '  '), 0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0];
      expect([...bytes]).to.deep.equal(expected);
    });

    it('puts metadata in the header as a string map', () => {
      const bytes = serializeSafetensors({ w: { dtype: 'U8', shape: [], data: new Uint8Array([9]) } }, { format: 'pt' });
      expect(headerText(bytes).trimEnd()).to.equal(
        '{"__metadata__":{"format":"pt"},"w":{"dtype":"U8","shape":[],"data_offsets":[0,1]}}',
      );
    });

    it('pads every header with spaces to a multiple of 8 bytes', () => {
      for (let len = 1; len <= 16; len++) {
        const bytes = serializeSafetensors({ ['n'.repeat(len)]: { dtype: 'U8', shape: [1], data: new Uint8Array([len]) } });
        const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
        expect(n % 8).to.equal(0);
        const text = headerText(bytes);
        const json = JSON.stringify({ ['n'.repeat(len)]: { dtype: 'U8', shape: [1], data_offsets: [0, 1] } });
        expect(text).to.equal(json + ' '.repeat(n - json.length));
        expect(n - json.length).to.be.lessThan(8);
      }
    });

    it('round-trips scalars (shape []) as one element', () => {
      const back = parseSafetensors(serializeSafetensors({ loss: { dtype: 'F64', shape: [], data: new Float64Array([2.25]) } }));
      const t = back.tensors.get('loss') as SafetensorsTensor;
      expect(t.shape).to.deep.equal([]);
      expect([...t.data]).to.deep.equal([2.25]);
    });

    it('round-trips empty tensors, alone and between others', () => {
      const tensors = new Map<string, SafetensorsTensor>([
        ['a', { dtype: 'F32', shape: [0], data: new Float32Array(0) }],
        f32('b', [1], [3]),
        ['c', { dtype: 'I64', shape: [3, 0, 2], data: new BigInt64Array(0) }],
        ['d', { dtype: 'U8', shape: [2], data: new Uint8Array([7, 8]) }],
      ]);
      const back = parseSafetensors(serializeSafetensors(tensors));
      expect([...back.tensors.keys()]).to.deep.equal(['a', 'b', 'c', 'd']);
      expect(back.tensors.get('a')?.shape).to.deep.equal([0]);
      expect(back.tensors.get('a')?.data.length).to.equal(0);
      expect(back.tensors.get('c')?.shape).to.deep.equal([3, 0, 2]);
      expect(back.tensors.get('c')?.data).to.be.instanceOf(BigInt64Array);
      expect([...(back.tensors.get('d')?.data as Uint8Array)]).to.deep.equal([7, 8]);
      const onlyEmpty = parseSafetensors(serializeSafetensors({ e: { dtype: 'F64', shape: [0], data: new Float64Array(0) } }));
      expect(onlyEmpty.tensors.get('e')?.data.length).to.equal(0);
    });

    it('round-trips a file with no tensors', () => {
      const back = parseSafetensors(serializeSafetensors({}));
      expect(back.tensors.size).to.equal(0);
      expect(back.metadata).to.deep.equal({});
    });

    it('round-trips metadata, including awkward strings', () => {
      const metadata = { op: 'conv2d', params: '{"stride":[2,2]}', 'ключ "quoted"\n': 'ünïcödé ✓ \\ 𝔁', empty: '' };
      const back = parseSafetensors(serializeSafetensors(new Map([f32('x', [1], [1])]), metadata));
      expect(back.metadata).to.deep.equal(metadata);
    });

    it('lays tensors out sorted by name and gives identical bytes for any insertion order', () => {
      const mk = (order: string[]): Uint8Array =>
        serializeSafetensors(new Map(order.map((n) => f32(n, [1], [n.length]))));
      const a = mk(['b', '9', '10', 'a']);
      const b = mk(['10', 'a', '9', 'b']);
      expect([...a]).to.deep.equal([...b]);
      const header = JSON.parse(headerText(a)) as Record<string, { data_offsets: [number, number] }>;
      // String order, not numeric: "10" < "9" < "a" < "b".
      expect(header['10'].data_offsets).to.deep.equal([0, 4]);
      expect(header['9'].data_offsets).to.deep.equal([4, 8]);
      expect(header['a'].data_offsets).to.deep.equal([8, 12]);
      expect(header['b'].data_offsets).to.deep.equal([12, 16]);
      expect(headerText(a).indexOf('"10"')).to.be.lessThan(headerText(a).indexOf('"9"'));
    });

    it('serializes only the viewed part of a typed array that is a window on a larger buffer', () => {
      const big = new Float64Array([100, 1, 2, 3, 200]);
      const back = parseSafetensors(serializeSafetensors({ v: { dtype: 'F64', shape: [3], data: big.subarray(1, 4) } }));
      expect([...(back.tensors.get('v') as SafetensorsTensor).data]).to.deep.equal([1, 2, 3]);
    });
  });

  describe('parsed data', () => {
    it('is aligned and correct when a tensor starts at an odd offset', () => {
      // By-name layout puts the 3-byte "a" first, so "b" starts 3 bytes into the buffer.
      const bytes = serializeSafetensors({
        a: { dtype: 'U8', shape: [3], data: new Uint8Array([1, 2, 3]) },
        b: { dtype: 'F64', shape: [2], data: new Float64Array([0.1, -7]) },
        c: { dtype: 'I32', shape: [1], data: new Int32Array([-5]) },
      });
      expect(JSON.parse(headerText(bytes)).b.data_offsets).to.deep.equal([3, 19]);
      // And the file itself sits at an odd offset of its ArrayBuffer.
      const shifted = new Uint8Array(bytes.length + 1);
      shifted.set(bytes, 1);
      const parsed = parseSafetensors(shifted.subarray(1));
      const b = parsed.tensors.get('b') as SafetensorsTensor;
      expect(b.data).to.be.instanceOf(Float64Array);
      expect(b.data.byteOffset % 8).to.equal(0);
      expect([...b.data]).to.deep.equal([0.1, -7]);
      expect([...(parsed.tensors.get('c') as SafetensorsTensor).data]).to.deep.equal([-5]);
    });

    it('does not alias the input buffer', () => {
      const bytes = serializeSafetensors(new Map([f32('w', [2], [1, 2])]));
      const parsed = parseSafetensors(bytes);
      bytes.fill(0xff);
      expect([...(parsed.tensors.get('w') as SafetensorsTensor).data]).to.deep.equal([1, 2]);
    });

    it("is right and unaliased when the bytes come as a Node Buffer (fs.readFileSync's result), whose slice() is a view", () => {
      const bytes = serializeSafetensors({
        a: { dtype: 'U8', shape: [3], data: new Uint8Array([1, 2, 3]) },
        b: { dtype: 'F32', shape: [2], data: new Float32Array([1.5, -2]) },
        c: { dtype: 'F64', shape: [1], data: new Float64Array([0.25]) },
      });
      // A small Buffer.from copy lives in Node's shared pool; the second is a window at an odd offset.
      const backing = new Uint8Array(bytes.length + 3).fill(0xee);
      backing.set(bytes, 3);
      for (const buf of [Buffer.from(bytes), Buffer.from(backing.buffer, 3, bytes.length)]) {
        const parsed = parseSafetensors(buf, 'buf');
        const [a, b, c] = ['a', 'b', 'c'].map((k) => parsed.tensors.get(k) as SafetensorsTensor);
        expect([a.data.constructor, b.data.constructor, c.data.constructor]).to.deep.equal([Uint8Array, Float32Array, Float64Array]);
        expect([...a.data]).to.deep.equal([1, 2, 3]);
        expect([...b.data]).to.deep.equal([1.5, -2]);
        expect([...c.data]).to.deep.equal([0.25]);
        buf.fill(0xff);
        expect([...a.data, ...b.data, ...c.data]).to.deep.equal([1, 2, 3, 1.5, -2, 0.25]);
      }
    });

    it('accepts a hand-written file with tensors listed out of offset order', () => {
      const data = new Uint8Array(new Float32Array([5, 6, 7]).buffer);
      const bytes = craft('{"z":{"dtype":"F32","shape":[2],"data_offsets":[4,12]},"y":{"dtype":"F32","shape":[],"data_offsets":[0,4]}}', data);
      const parsed = parseSafetensors(bytes);
      expect([...parsed.tensors.keys()]).to.deep.equal(['z', 'y']);
      expect([...(parsed.tensors.get('z') as SafetensorsTensor).data]).to.deep.equal([6, 7]);
      expect([...(parsed.tensors.get('y') as SafetensorsTensor).data]).to.deep.equal([5]);
    });
  });

  describe('hostile or broken files', () => {
    const okEntry = '{"dtype":"F32","shape":[2],"data_offsets":[0,8]}';

    it('rejects a file shorter than 8 bytes', () => {
      expectParseError(new Uint8Array(5), 'file is 5 bytes, shorter than the 8-byte header length field');
      expectParseError(new Uint8Array(0), 'file is 0 bytes, shorter than the 8-byte header length field');
    });

    it('rejects a header length past the end of the file', () => {
      const bytes = craft(`{"w":${okEntry}}`, 8);
      const n = bytes.length - 16;
      new DataView(bytes.buffer).setBigUint64(0, BigInt(n + 9), true);
      expectParseError(bytes, `header length ${n + 9} bytes runs past the end of the file (${bytes.length} bytes, at most ${n + 8} available for the header)`);
    });

    it('rejects an absurdly large header length without allocating it', () => {
      expectParseError(craft('{}', 0, 100_000_001n), 'header length 100000001 bytes exceeds the limit of 100000000 bytes');
      expectParseError(craft('{}', 0, 2n ** 64n - 1n), 'header length 18446744073709551615 bytes exceeds the limit of 100000000 bytes');
      expect(MAX_HEADER_BYTES).to.equal(100_000_000);
    });

    it('rejects a header that is not UTF-8', () => {
      const bytes = craft('{"w":1}');
      bytes[10] = 0xff;
      expectParseError(bytes, 'header (7 bytes) is not valid UTF-8');
    });

    it('rejects a header that is not JSON', () => {
      expectParseError(craft('{"w": {"dtype": "F32",'), 'header is not valid JSON (');
      expectParseError(craft(''), 'header is not valid JSON (');
    });

    it('rejects a header that is not a JSON object', () => {
      expectParseError(craft('[1,2]'), 'header must be a JSON object, got array [1,2]');
      expectParseError(craft('null'), 'header must be a JSON object, got null');
      expectParseError(craft('"text"'), 'header must be a JSON object, got "text"');
      expectParseError(craft('42  '), 'header must be a JSON object, got number 42');
    });

    it('rejects an entry that is not an object', () => {
      expectParseError(craft('{"w":3}'), 'tensor "w": entry must be an object, got number 3');
      expectParseError(craft('{"w":[0,8]}'), 'tensor "w": entry must be an object, got array [0,8]');
      expectParseError(craft('{"w":null}'), 'tensor "w": entry must be an object, got null');
    });

    it('rejects an entry lacking dtype, shape or data_offsets', () => {
      expectParseError(craft('{"w":{"shape":[2],"data_offsets":[0,8]}}', 8), 'tensor "w": entry lacks "dtype"');
      expectParseError(craft('{"w":{"dtype":"F32","data_offsets":[0,8]}}', 8), 'tensor "w": entry lacks "shape"');
      expectParseError(craft('{"w":{"dtype":"F32","shape":[2]}}', 8), 'tensor "w": entry lacks "data_offsets"');
    });

    it('rejects unknown and unsupported dtypes', () => {
      const e = (dtype: string): Uint8Array => craft(`{"w":{"dtype":${dtype},"shape":[2],"data_offsets":[0,8]}}`, 8);
      expectParseError(e('"F99"'), 'tensor "w": unknown dtype "F99" (supported: F32, F64, I64, I32, U8)');
      expectParseError(e('"f32"'), 'tensor "w": unknown dtype "f32" (supported: F32, F64, I64, I32, U8)');
      expectParseError(e('"F16"'), 'tensor "w": unsupported dtype "F16" (supported: F32, F64, I64, I32, U8)');
      expectParseError(e('4'), 'tensor "w": unknown dtype number 4 (supported: F32, F64, I64, I32, U8)');
    });

    it('rejects a shape that is not an array of non-negative safe integers', () => {
      const e = (shape: string): Uint8Array => craft(`{"w":{"dtype":"U8","shape":${shape},"data_offsets":[0,8]}}`, 8);
      const msg = 'tensor "w": shape must be an array of non-negative safe integers, got ';
      expectParseError(e('8'), msg + 'number 8');
      expectParseError(e('[-8]'), msg + 'array [-8]');
      expectParseError(e('[2.5]'), msg + 'array [2.5]');
      expectParseError(e('["8"]'), msg + 'array ["8"]');
      expectParseError(e('[9007199254740992]'), msg + 'array [9007199254740992]');
      expectParseError(e('[1073741824,1073741824,1073741824]'), 'tensor "w": shape [1073741824,1073741824,1073741824] has more than 2^53 elements');
    });

    it('rejects data_offsets that are not two integers with begin <= end', () => {
      const e = (offs: string): Uint8Array => craft(`{"w":{"dtype":"U8","shape":[8],"data_offsets":${offs}}}`, 8);
      const msg = 'tensor "w": data_offsets must be two non-negative integers [begin, end], got ';
      expectParseError(e('"0-8"'), msg + '"0-8"');
      expectParseError(e('[0]'), msg + 'array [0]');
      expectParseError(e('[0,8,16]'), msg + 'array [0,8,16]');
      expectParseError(e('[0.5,8]'), msg + 'array [0.5,8]');
      expectParseError(e('[-1,7]'), msg + 'array [-1,7]');
      expectParseError(e('[8,0]'), 'tensor "w": data_offsets [8, 0] have begin > end');
    });

    it('rejects offsets out of range of the byte buffer', () => {
      expectParseError(
        craft('{"w":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}', 8),
        'tensor "w": data_offsets [4, 12] run past the end of the 8-byte data buffer',
      );
    });

    it('rejects overlapping tensors', () => {
      const bytes = craft(
        '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}',
        12,
      );
      expectParseError(bytes, 'tensors "a" [0, 8] and "b" [4, 12] overlap');
      const twice = craft(
        '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"U8","shape":[8],"data_offsets":[0,8]}}',
        8,
      );
      expectParseError(twice, 'tensors "a" [0, 8] and "b" [0, 8] overlap');
    });

    it('rejects holes in the byte buffer', () => {
      const gap = craft(
        '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}',
        12,
      );
      expectParseError(gap, 'bytes [4, 8) of the data buffer belong to no tensor (the buffer must be fully covered)');
      const lead = craft('{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', 8);
      expectParseError(lead, 'bytes [0, 4) of the data buffer belong to no tensor (the buffer must be fully covered)');
      const tail = craft('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', 7);
      expectParseError(tail, 'bytes [4, 7) of the data buffer belong to no tensor (the buffer must be fully covered)');
      expectParseError(craft('{}', 1), 'bytes [0, 1) of the data buffer belong to no tensor (the buffer must be fully covered)');
    });

    it('rejects a byte size that is not numel x element size', () => {
      expectParseError(
        craft('{"w":{"dtype":"F64","shape":[2,3],"data_offsets":[0,24]}}', 24),
        'tensor "w": data_offsets [0, 24] hold 24 bytes but dtype F64 and shape [2,3] need 48',
      );
      expectParseError(
        craft('{"w":{"dtype":"I32","shape":[],"data_offsets":[0,0]}}'),
        'tensor "w": data_offsets [0, 0] hold 0 bytes but dtype I32 and shape [] need 4',
      );
    });

    it('rejects duplicate tensor names, which JSON.parse would silently collapse', () => {
      const e = '{"dtype":"U8","shape":[1],"data_offsets":[0,1]}';
      expectParseError(craft(`{"a":${e},"a":${e}}`, 1), 'duplicate tensor name "a" in the header');
      // The same name spelled with an escape is still the same name.
      expectParseError(craft(`{"a":${e}, "\\u0061" :${e}}`, 1), 'duplicate tensor name "a" in the header');
      expectParseError(
        craft(`{"__metadata__":{"k":"v"},"a":${e},"__metadata__":{}}`, 1),
        'duplicate tensor name "__metadata__" in the header',
      );
    });

    it('rejects duplicate keys inside an entry or the metadata', () => {
      expectParseError(
        craft('{"a":{"dtype":"U8","shape":[1],"dtype":"F32","data_offsets":[0,1]}}', 1),
        'duplicate key "dtype" in the entry of tensor "a"',
      );
      expectParseError(
        craft('{"__metadata__":{"k":"1","k":"2"}}'),
        'duplicate key "k" in __metadata__',
      );
    });

    it('does not mistake strings that look like keys for duplicates', () => {
      const bytes = craft('{"__metadata__":{"note":"\\"a\\": {, [\\"a\\"", "a":"x"},"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}', 1);
      const parsed = parseSafetensors(bytes, SRC);
      expect(parsed.metadata).to.deep.equal({ note: '"a": {, ["a"', a: 'x' });
      expect([...parsed.tensors.keys()]).to.deep.equal(['a']);
    });

    it('rejects __metadata__ that is not a string-to-string map', () => {
      expectParseError(craft('{"__metadata__":"v"}'), '__metadata__ must be an object mapping strings to strings, got "v"');
      expectParseError(craft('{"__metadata__":["v"]}'), '__metadata__ must be an object mapping strings to strings, got array ["v"]');
      expectParseError(craft('{"__metadata__":null}'), '__metadata__ must be an object mapping strings to strings, got null');
      expectParseError(craft('{"__metadata__":{"epoch":3}}'), '__metadata__["epoch"] must be a string, got number 3');
      expectParseError(craft('{"__metadata__":{"o":{}}}'), '__metadata__["o"] must be a string, got Object');
    });

    it('rejects input that is not bytes, and a source that is not a string', () => {
      expect(() => parseSafetensors([1, 2] as unknown as Uint8Array, SRC)).to.throw(
        Error,
        `parseSafetensors: ${SRC}: expected the file's bytes as a Uint8Array, got array [1,2]`,
      );
      expect(() => parseSafetensors(new Uint8Array(8), 7 as unknown as string)).to.throw(
        Error,
        'parseSafetensors: source must be a string naming the file, got number 7',
      );
      expect(() => parseSafetensors(new Uint8Array(3))).to.throw(Error, 'parseSafetensors: <bytes>: file is 3 bytes');
    });

    it('keeps messages short when a hostile header puts a huge value in a field', () => {
      const shape = `[${new Array(5000).fill(-1).join(',')}]`;
      let message = '';
      try {
        parseSafetensors(craft(`{"w":{"dtype":"U8","shape":${shape},"data_offsets":[0,0]}}`), SRC);
      } catch (e) {
        message = (e as Error).message;
      }
      expect(message).to.match(/^parseSafetensors: bad\.safetensors: tensor "w": shape must be an array/);
      expect(message.length).to.be.lessThan(400);
    });
  });

  describe('randomized corruption', () => {
    const base = serializeSafetensors(
      {
        'layer.weight': { dtype: 'F32', shape: [3, 4], data: new Float32Array(12).map((_, i) => i - 5.5) },
        'layer.bias': { dtype: 'F64', shape: [3], data: new Float64Array([0.5, -1, 2]) },
        labels: { dtype: 'I64', shape: [5], data: new BigInt64Array([0n, 9n, 3n, 3n, 1n]) },
        counts: { dtype: 'I32', shape: [2, 2], data: new Int32Array([1, -2, 3, -4]) },
        mask: { dtype: 'U8', shape: [7], data: new Uint8Array([1, 0, 1, 1, 0, 0, 1]) },
        step: { dtype: 'I64', shape: [], data: new BigInt64Array([1000n]) },
        none: { dtype: 'F32', shape: [0], data: new Float32Array(0) },
      },
      { epoch: '3', note: 'fuzz base' },
    );
    const headerLen = Number(new DataView(base.buffer).getBigUint64(0, true));
    const dataStart = 8 + headerLen;
    const baseParsed = parseSafetensors(base);
    const STRUCTURAL = [...'{}[]",:0123456789-. e\\'].map((c) => c.charCodeAt(0));
    const FILE = 'fuzzed.safetensors';

    type Outcome = 'parsed' | 'rejected';

    /** The only two acceptable outcomes: a self-consistent file, or our Error naming the file. */
    function classify(bytes: Uint8Array): Outcome {
      let parsed: SafetensorsFile;
      try {
        parsed = parseSafetensors(bytes, FILE);
      } catch (e) {
        expect(e, `non-Error thrown: ${String(e)}`).to.be.instanceOf(Error);
        const err = e as Error;
        expect(err.constructor, `${err.constructor.name} leaked: ${err.message}`).to.equal(Error);
        expect(err.message.startsWith(`parseSafetensors: ${FILE}: `), err.message).to.equal(true);
        return 'rejected';
      }
      const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
      let covered = 0;
      for (const t of parsed.tensors.values()) {
        expect(t.data).to.be.instanceOf(ARRAY_KIND[t.dtype]);
        expect(t.data.length).to.equal(numel(t.shape));
        expect(t.data.byteOffset % ELEMENT_BYTES[t.dtype]).to.equal(0);
        covered += t.data.byteLength;
      }
      expect(covered).to.equal(bytes.length - 8 - n);
      for (const v of Object.values(parsed.metadata)) expect(v).to.be.a('string');
      return 'parsed';
    }

    it('gives a consistent parse or a file-naming Error for every mutation, never anything else', function () {
      // A hang would trip this timeout; the loop itself does a bounded amount of work.
      this.timeout(60000);
      const rng = new Random(20240607);
      const counts: Record<string, Record<Outcome, number>> = {};
      const record = (kind: string, o: Outcome): void => {
        counts[kind] ??= { parsed: 0, rejected: 0 };
        counts[kind][o]++;
      };

      for (let iter = 0; iter < 1500; iter++) {
        // Truncation at every kind of length, including inside the length field.
        record('truncate', classify(base.slice(0, rng.integer(0, base.length))));

        // Random bytes in the header.
        const h = base.slice();
        for (let k = rng.integer(1, 4); k > 0; k--) h[rng.integer(8, dataStart)] ^= rng.integer(1, 256);
        record('header-flip', classify(h));

        // JSON-significant characters in the header: these reach the deeper validation.
        const s = base.slice();
        for (let k = rng.integer(1, 3); k > 0; k--) s[rng.integer(8, dataStart)] = STRUCTURAL[rng.integer(0, STRUCTURAL.length)];
        record('header-structural', classify(s));

        // Digits only: shapes and offsets change while the JSON stays valid.
        const d = base.slice();
        const digitAt: number[] = [];
        for (let i = 8; i < dataStart; i++) if (d[i] >= 0x30 && d[i] <= 0x39) digitAt.push(i);
        d[digitAt[rng.integer(0, digitAt.length)]] = 0x30 + rng.integer(0, 10);
        record('header-digit', classify(d));

        // The length field: nearby values, arbitrary 64-bit values, and single-byte changes.
        const l = base.slice();
        const dv = new DataView(l.buffer);
        const choice = rng.integer(0, 3);
        if (choice === 0) dv.setBigUint64(0, BigInt(Math.max(0, headerLen + rng.integer(-16, 17))), true);
        else if (choice === 1) dv.setBigUint64(0, (BigInt(rng.nextUint32()) << 32n) | BigInt(rng.nextUint32()), true);
        else l[rng.integer(0, 8)] = rng.integer(0, 256);
        record('length', classify(l));

        // Data bytes carry no structure, so flipping them must never make the file unreadable.
        const x = base.slice();
        for (let k = rng.integer(1, 8); k > 0; k--) x[rng.integer(dataStart, x.length)] ^= rng.integer(1, 256);
        expect(classify(x)).to.equal('parsed');
        const px = parseSafetensors(x, FILE);
        for (const [name, t] of baseParsed.tensors) {
          expect(px.tensors.get(name)?.shape).to.deep.equal(t.shape);
          expect(px.tensors.get(name)?.dtype).to.equal(t.dtype);
        }
        record('data-flip', 'parsed');

        // Everything at once.
        const m = base.slice(0, rng.integer(1, base.length + 1));
        for (let k = rng.integer(1, 6); k > 0; k--) m[rng.integer(0, m.length)] = rng.integer(0, 256);
        record('mixed', classify(m));
      }

      // The mutations must actually reach both outcomes, or this test would be proving little.
      expect(counts['truncate'].parsed).to.equal(0); // every strict prefix is broken
      expect(counts['header-structural'].rejected).to.be.greaterThan(0);
      expect(counts['header-digit'].parsed).to.be.greaterThan(0);
      expect(counts['header-digit'].rejected).to.be.greaterThan(0);
      expect(counts['length'].rejected).to.be.greaterThan(0);
    });
  });

  describe('serializeSafetensors argument checks', () => {
    const bad = (tensors: unknown, message: string, metadata?: unknown): void => {
      expect(() =>
        serializeSafetensors(tensors as Record<string, SafetensorsTensor>, metadata as Record<string, string> | undefined),
      ).to.throw(Error, `serializeSafetensors: ${message}`);
    };

    it('checks data length against the shape', () => {
      bad({ w: { dtype: 'F32', shape: [2, 3], data: new Float32Array(5) } }, 'tensor "w": data has 5 elements but shape [2,3] needs 6');
      bad({ s: { dtype: 'F32', shape: [], data: new Float32Array(0) } }, 'tensor "s": data has 0 elements but shape [] needs 1');
    });

    it('checks the typed array kind against the dtype', () => {
      bad({ w: { dtype: 'F32', shape: [2], data: new Float64Array(2) } }, 'tensor "w": dtype F32 needs a Float32Array, got Float64Array');
      bad({ w: { dtype: 'I64', shape: [2], data: [1, 2] } }, 'tensor "w": dtype I64 needs a BigInt64Array, got array [1,2]');
      bad({ w: { dtype: 'U8', shape: [2], data: new Int8Array(2) } }, 'tensor "w": dtype U8 needs a Uint8Array, got Int8Array');
    });

    it('checks dtype and shape', () => {
      bad({ w: { dtype: 'F16', shape: [2], data: new Float32Array(2) } }, 'tensor "w": unknown dtype "F16" (supported: F32, F64, I64, I32, U8)');
      bad({ w: { dtype: 'F32', shape: [-2], data: new Float32Array(2) } }, 'tensor "w": shape must be an array of non-negative safe integers, got array [-2]');
      bad({ w: { dtype: 'F32', shape: 2, data: new Float32Array(2) } }, 'tensor "w": shape must be an array of non-negative safe integers, got number 2');
    });

    it('checks the container, the entries, names and metadata', () => {
      bad(null, 'tensors must be a Map or a plain object of name -> tensor, got null');
      bad([1], 'tensors must be a Map or a plain object of name -> tensor, got array [1]');
      bad(new Map([[3, { dtype: 'U8', shape: [0], data: new Uint8Array(0) }]]), 'tensor names must be strings, got number 3');
      bad({ w: new Float32Array(2) }, 'tensor "w": expected { dtype, shape, data }, got Float32Array');
      bad({ __metadata__: { dtype: 'U8', shape: [0], data: new Uint8Array(0) } }, 'tensor "__metadata__": the name is reserved for the metadata map');
      bad({}, 'metadata["epoch"] must be a string, got number 3', { epoch: 3 });
      bad({}, 'metadata must be a plain object mapping strings to strings, got Map', new Map());
    });
  });

  describe('toFloatArray', () => {
    it('converts every dtype to float32 and float64 as new arrays', () => {
      const cases: SafetensorsTensor[] = [
        { dtype: 'F32', shape: [3], data: new Float32Array([1.5, -2, 0.25]) },
        { dtype: 'F64', shape: [3], data: new Float64Array([1.5, -2, 0.25]) },
        { dtype: 'I64', shape: [3], data: new BigInt64Array([7n, -3n, 0n]) },
        { dtype: 'I32', shape: [3], data: new Int32Array([7, -3, 0]) },
        { dtype: 'U8', shape: [3], data: new Uint8Array([7, 255, 0]) },
      ];
      const expected = [[1.5, -2, 0.25], [1.5, -2, 0.25], [7, -3, 0], [7, -3, 0], [7, 255, 0]];
      cases.forEach((t, i) => {
        const a = toFloatArray(t, 'float32');
        const b = toFloatArray(t, 'float64');
        expect(a).to.be.instanceOf(Float32Array);
        expect(b).to.be.instanceOf(Float64Array);
        expect([...a]).to.deep.equal(expected[i]);
        expect([...b]).to.deep.equal(expected[i]);
        expect(a.buffer).to.not.equal(t.data.buffer);
        expect(b.buffer).to.not.equal(t.data.buffer);
      });
    });

    it('rounds float64 to the nearest float32', () => {
      const out = toFloatArray({ dtype: 'F64', shape: [1], data: new Float64Array([0.1]) }, 'float32');
      expect(out[0]).to.equal(Math.fround(0.1));
    });

    it('accepts I64 values up to 2^53 in magnitude and refuses larger ones', () => {
      const edge = toFloatArray({ dtype: 'I64', shape: [2], data: new BigInt64Array([2n ** 53n, -(2n ** 53n)]) }, 'float64');
      expect([...edge]).to.deep.equal([2 ** 53, -(2 ** 53)]);
      expect(() => toFloatArray({ dtype: 'I64', shape: [2], data: new BigInt64Array([0n, 2n ** 53n + 1n]) }, 'float64')).to.throw(
        Error,
        'toFloatArray: I64 value 9007199254740993 at index 1 is beyond ±2^53 and cannot be converted exactly',
      );
      expect(() => toFloatArray({ dtype: 'I64', shape: [1], data: new BigInt64Array([-(2n ** 63n)]) }, 'float32')).to.throw(
        Error,
        'toFloatArray: I64 value -9223372036854775808 at index 0 is beyond ±2^53',
      );
    });

    it('rejects a bad target dtype or an inconsistent tensor', () => {
      const t: SafetensorsTensor = { dtype: 'F32', shape: [2], data: new Float32Array(2) };
      expect(() => toFloatArray(t, 'int32' as 'float32')).to.throw(Error, `toFloatArray: dtype must be 'float32' or 'float64', got "int32"`);
      expect(() => toFloatArray({ ...t, dtype: 'F64' }, 'float32')).to.throw(Error, 'toFloatArray: tensor dtype F64 needs a Float64Array, got Float32Array');
      expect(() => toFloatArray({ ...t, shape: [3] }, 'float32')).to.throw(Error, 'toFloatArray: shape array [3] does not match the 2 elements of the data');
    });
  });

  describe('files', () => {
    let dir = '';
    beforeEach(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsgrad-st-'));
    });
    afterEach(() => {
      fs.rmSync(dir, { recursive: true, force: true });
    });

    it('writes atomically and reads back', () => {
      const file = path.join(dir, 'm.safetensors');
      fs.writeFileSync(file, 'previous contents');
      const tensors = { w: { dtype: 'F64' as const, shape: [2], data: new Float64Array([1, 2]) } };
      writeSafetensors(file, tensors, { epoch: '1' });
      expect(fs.readdirSync(dir)).to.deep.equal(['m.safetensors']);
      const back = readSafetensors(file);
      expect(back.metadata).to.deep.equal({ epoch: '1' });
      expect([...(back.tensors.get('w') as SafetensorsTensor).data]).to.deep.equal([1, 2]);
      expect([...fs.readFileSync(file)]).to.deep.equal([...serializeSafetensors(tensors, { epoch: '1' })]);
    });

    it('names the file when reading a broken or missing file', () => {
      const file = path.join(dir, 'broken.safetensors');
      fs.writeFileSync(file, Buffer.from([1, 2, 3]));
      expect(() => readSafetensors(file)).to.throw(Error, `readSafetensors: ${file}: file is 3 bytes, shorter than the 8-byte header length field`);
      const missing = path.join(dir, 'missing.safetensors');
      expect(() => readSafetensors(missing)).to.throw(Error, `readSafetensors: file not found: ${missing}`);
      expect(() => readSafetensors('')).to.throw(Error, 'readSafetensors: file must be a non-empty string, got ""');
    });

    it('names the file and leaves the old one alone when the tensors are invalid', () => {
      const file = path.join(dir, 'keep.safetensors');
      fs.writeFileSync(file, 'old');
      expect(() => writeSafetensors(file, { w: { dtype: 'F32', shape: [3], data: new Float32Array(2) } })).to.throw(
        Error,
        `writeSafetensors: ${file}: tensor "w": data has 2 elements but shape [3] needs 3`,
      );
      expect(fs.readFileSync(file, 'utf-8')).to.equal('old');
      expect(fs.readdirSync(dir)).to.deep.equal(['keep.safetensors']);
    });
  });

  describe('PyTorch fixture', () => {
    const fixtureDir = path.join(__dirname, '..', '..', '..', '..', 'shared', 'fixtures', 'torch');
    const file = path.join(fixtureDir, 'linear.safetensors');
    const manifestFile = path.join(fixtureDir, 'manifest.json');
    const present = fs.existsSync(file) && fs.existsSync(manifestFile);
    const title = 'reads linear.safetensors and matches its manifest entry and the math of linear';
    (present ? it : it.skip)(present ? title : `${title} (skipped: no fixtures at ${fixtureDir})`, () => {
      interface Case { file: string; op: string; params: object; tensors: string[]; tolerance: { float64: { atol: number; rtol: number } } }
      const manifest = JSON.parse(fs.readFileSync(manifestFile, 'utf-8')) as { cases: Case[] };
      const entry = manifest.cases.find((c) => c.file === 'linear.safetensors') as Case;
      expect(entry, 'linear.safetensors missing from manifest.json').to.not.equal(undefined);

      const st = readSafetensors(file);
      expect([...st.tensors.keys()].sort()).to.deep.equal([...entry.tensors].sort());
      expect(st.metadata.op).to.equal(entry.op);
      expect(JSON.parse(st.metadata.params)).to.deep.equal(entry.params);
      for (const [name, t] of st.tensors) expect(t.dtype, name).to.equal('F64'); // the README: references are float64

      const get = (name: string): { shape: number[]; v: Float64Array } => {
        const t = st.tensors.get(name) as SafetensorsTensor;
        return { shape: t.shape, v: t.data as Float64Array };
      };
      const x = get('in.input'), w = get('in.weight'), b = get('in.bias');
      const y = get('out.output'), gy = get('gradout.output');
      const [N, I] = x.shape;
      const O = w.shape[0];
      expect(x.shape).to.have.length(2);
      expect(w.shape).to.deep.equal([O, I]);
      expect(b.shape).to.deep.equal([O]);
      expect(y.shape).to.deep.equal([N, O]);
      expect(gy.shape).to.deep.equal([N, O]);
      for (const p of ['input', 'weight', 'bias']) expect(get(`grad.${p}`).shape, p).to.deep.equal(get(`in.${p}`).shape);

      // The decoded numbers must satisfy y = x Wᵀ + b and its gradients within the case's tolerance,
      // which they only do if every byte was read in the right order.
      const { atol, rtol } = entry.tolerance.float64;
      const close = (actual: number[], expected: Float64Array, what: string): void => {
        const scale = Math.max(...[...expected].map(Math.abs));
        const err = Math.max(...actual.map((a, i) => Math.abs(a - expected[i])));
        expect(err, what).to.be.at.most(atol + rtol * scale);
      };
      const yRef: number[] = [], gx: number[] = [], gw: number[] = [], gb: number[] = [];
      for (let n = 0; n < N; n++) for (let o = 0; o < O; o++) {
        let s = b.v[o];
        for (let i = 0; i < I; i++) s += x.v[n * I + i] * w.v[o * I + i];
        yRef.push(s);
      }
      for (let n = 0; n < N; n++) for (let i = 0; i < I; i++) {
        let s = 0;
        for (let o = 0; o < O; o++) s += gy.v[n * O + o] * w.v[o * I + i];
        gx.push(s);
      }
      for (let o = 0; o < O; o++) for (let i = 0; i < I; i++) {
        let s = 0;
        for (let n = 0; n < N; n++) s += gy.v[n * O + o] * x.v[n * I + i];
        gw.push(s);
      }
      for (let o = 0; o < O; o++) {
        let s = 0;
        for (let n = 0; n < N; n++) s += gy.v[n * O + o];
        gb.push(s);
      }
      close(yRef, y.v, 'out.output');
      close(gx, get('grad.input').v, 'grad.input');
      close(gw, get('grad.weight').v, 'grad.weight');
      close(gb, get('grad.bias').v, 'grad.bias');

      // And our writer reproduces the same tensors.
      const again = parseSafetensors(serializeSafetensors(st.tensors, st.metadata));
      for (const [name, t] of st.tensors) expect(sameElements((again.tensors.get(name) as SafetensorsTensor).data, t.data), name).to.equal(true);
    });
  });
});
